"""claudette.http: status and transport errors → the error tree; SSE and NDJSON parsing."""

from __future__ import annotations

import httpx
import pytest
from claudette import (
    AuthenticationError,
    BackendTimeoutError,
    BackendUnavailableError,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
)
from claudette.http import (
    MAX_EVENT_CHARS,
    NDJSONDecoder,
    SSEDecoder,
    SSEEvent,
    error_from_exception,
    error_from_status,
    iter_ndjson,
    iter_sse,
    parse_json,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, InvalidRequestError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (404, InvalidRequestError, False),
        (408, BackendTimeoutError, True),
        (409, BackendUnavailableError, True),
        (413, InvalidRequestError, False),
        (422, InvalidRequestError, False),
        (429, RateLimitError, True),
        (500, BackendUnavailableError, True),
        (503, BackendUnavailableError, True),
        (529, BackendUnavailableError, True),
    ],
)
def test_status_maps_to_error_class(status, cls, retryable):
    e = error_from_status("b", status, "msg")
    assert type(e) is cls and e.retryable is retryable and e.status_code == status


def test_insufficient_quota_is_not_retryable_even_on_429():
    e = error_from_status("b", 429, "quota", error_code="insufficient_quota")
    assert isinstance(e, QuotaExceededError) and not e.retryable


def test_x_should_retry_overrides_the_status():
    assert error_from_status("b", 500, "m", headers={"x-should-retry": "false"}).retryable is False
    assert error_from_status("b", 400, "m", headers={"x-should-retry": "true"}).retryable is True


def test_retry_after_ms_wins_over_retry_after():
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_seconds_and_http_date():
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("refused"), BackendUnavailableError),
        (httpx.ConnectTimeout("slow"), BackendTimeoutError),
        (httpx.ReadTimeout("slow"), BackendTimeoutError),
        (httpx.RemoteProtocolError("reset"), BackendUnavailableError),
        (KeyError("choices"), ResponseFormatError),
    ],
)
def test_transport_errors_map_to_retryable_errors(exc, cls):
    e = error_from_exception("b", exc)
    assert type(e) is cls and e.retryable and e.backend == "b"


def test_malformed_json_names_the_backend():
    with pytest.raises(ResponseFormatError, match="malformed JSON") as info:
        parse_json("ollama", b'{"trunc')
    assert info.value.backend == "ollama"


async def _lines(*lines: str):
    for line in lines:
        yield line


async def test_sse_parser_handles_names_comments_and_multiline_data():
    events = [e async for e in iter_sse(_lines(": ping", "event: a", "data: 1", "data: 2", "", "data: x", ""))]
    assert [(e.event, e.data) for e in events] == [("a", "1\n2"), ("message", "x")]


async def test_ndjson_parser_skips_blank_lines_and_rejects_garbage():
    assert [o async for o in iter_ndjson("b", _lines('{"a":1}', "", '{"b":2}'))] == [{"a": 1}, {"b": 2}]
    with pytest.raises(ResponseFormatError):
        [o async for o in iter_ndjson("b", _lines('{"a":'))]


def test_sse_decoder_returns_an_event_at_each_blank_line():
    decode = SSEDecoder().decode
    fed = [decode(line) for line in (": ping", "event: a", "data: 1", "data:2", "", "", "data: x", "")]
    assert fed == [None, None, None, None, SSEEvent("a", "1\n2"), None, None, SSEEvent("message", "x")]


def test_sse_decoder_keeps_colons_in_data_and_flushes_a_trailing_event():
    decoder = SSEDecoder()
    assert decoder.decode('data: {"a": "b:c"}') is None
    assert decoder.decode("id: 7") is None  # other fields are ignored
    assert decoder.flush() == [SSEEvent("message", '{"a": "b:c"}')]
    assert decoder.flush() == []


async def test_iter_sse_yields_an_event_the_body_ends_without_a_blank_line():
    events = [e async for e in iter_sse(_lines("data: 1", "", "event: end", "data: 2"))]
    assert events == [SSEEvent("message", "1"), SSEEvent("end", "2")]


def _fed(decoder: SSEDecoder, *pieces: str) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events + decoder.flush()


@pytest.mark.parametrize("cut", range(1, 60))
def test_sse_feed_gives_the_same_events_wherever_the_body_is_cut(cut):
    body = ': ping\r\nevent: a\r\ndata: 1\r\ndata:2\r\n\r\ndata: {"x": "y:z"}\n\n\ndata: last\rdata: more\r\r'
    expected = [SSEEvent("a", "1\n2"), SSEEvent("message", '{"x": "y:z"}'), SSEEvent("message", "last\nmore")]
    assert _fed(SSEDecoder(), body) == expected
    assert _fed(SSEDecoder(), body[:cut], body[cut:]) == expected
    assert _fed(SSEDecoder(), *body) == expected  # one character at a time


def test_sse_feed_matches_the_line_decoder_and_flushes_an_unterminated_event():
    body = "data: a\n\nevent: e\ndata: b\n\ndata: c"
    lines = SSEDecoder()
    by_line = [e for e in map(lines.decode, body.split("\n")) if e is not None] + lines.flush()
    assert _fed(SSEDecoder(), body) == by_line == [
        SSEEvent("message", "a"),
        SSEEvent("e", "b"),
        SSEEvent("message", "c"),
    ]


@pytest.mark.parametrize("cut", range(1, 30))
def test_ndjson_feed_gives_the_same_objects_wherever_the_body_is_cut(cut):
    body = '{"a": 1}\r\n\n  \n{"b": [2, 3]}\n{"c": "x"}'
    expected = [{"a": 1}, {"b": [2, 3]}, {"c": "x"}]
    for pieces in ([body], [body[:cut], body[cut:]], list(body)):
        decoder = NDJSONDecoder("ollama")
        got = [obj for piece in pieces for obj in decoder.feed(piece)]
        assert got + decoder.flush() == expected


def test_ndjson_feed_names_the_backend_on_a_bad_line():
    decoder = NDJSONDecoder("ollama")
    with pytest.raises(ResponseFormatError, match="malformed JSON") as info:
        decoder.feed('{"a": 1}\n{"trunc\n')
    assert info.value.backend == "ollama"


async def test_read_steps_through_a_body_then_says_it_has_ended():
    async def pieces():
        for piece in ('{"a": 1}\n{"b"', ': 2}\n', '{"c": 3}'):
            yield piece

    decoder, texts, batches = NDJSONDecoder("ollama"), pieces(), []
    while (batch := await decoder.read(texts)) is not None:
        batches.append(batch)
    assert batches == [[{"a": 1}], [{"b": 2}], [], [{"c": 3}]]  # the last one: the body's end
    assert await decoder.read(texts) is None

    sse = SSEDecoder()
    body = _lines("data: 1\n\ndata: ", "2")
    assert await sse.read(body) == [SSEEvent("message", "1")]
    assert await sse.read(body) == []
    assert await sse.read(body) == [SSEEvent("message", "2")]
    assert await sse.read(body) is None


# -- hostile bodies: bounds, UTF-8, nesting ---------------------------------------------------


async def _bytes(*pieces: bytes):
    for piece in pieces:
        yield piece


@pytest.mark.parametrize("decoder", [SSEDecoder("sse"), NDJSONDecoder("nd")], ids=["sse", "ndjson"])
def test_an_event_longer_than_the_bound_is_a_format_error_naming_the_backend(decoder):
    piece = "x" * (64 * 1024)
    with pytest.raises(ResponseFormatError, match="longer than 8,388,608 characters") as info:
        for _ in range(MAX_EVENT_CHARS // len(piece) + 2):
            decoder.feed(piece)
    assert info.value.backend in ("sse", "nd") and info.value.retryable


@pytest.mark.parametrize(
    ("make", "body"),
    [(lambda: SSEDecoder("b"), "data: " + "y" * (MAX_EVENT_CHARS + 1) + "\n\n"),
     (lambda: NDJSONDecoder("b"), '"' + "y" * (MAX_EVENT_CHARS + 1) + '"\n')],
    ids=["sse", "ndjson"],
)
def test_an_event_longer_than_the_bound_in_one_piece_is_refused_too(make, body):
    with pytest.raises(ResponseFormatError, match="longer than"):
        make().feed(body)


def test_an_event_just_within_the_bound_is_decoded_from_many_pieces():
    decoder, data = SSEDecoder("b"), "z" * (MAX_EVENT_CHARS - 100)
    body = f"data: {data}\n\n"
    events = [e for i in range(0, len(body), 4096) for e in decoder.feed(body[i : i + 4096])]
    assert events == [SSEEvent("message", data)]


def test_a_multi_line_event_is_bounded_when_read_line_by_line():
    decoder = SSEDecoder("b")
    line = "data: " + "q" * (1024 * 1024)
    with pytest.raises(ResponseFormatError, match="longer than"):
        for _ in range(10):
            decoder.decode(line)


async def test_bytes_are_decoded_as_utf8_even_when_a_character_is_split_between_pieces():
    body = 'data: {"t": "h\u00e9llo \u2603"}\n\n'.encode()
    at = body.index("\u2603".encode()) + 1  # inside the snowman
    decoder, pieces = SSEDecoder("b"), _bytes(body[:at], body[at:])
    events = []
    while (batch := await decoder.read(pieces)) is not None:
        events += batch
    assert events == [SSEEvent("message", '{"t": "h\u00e9llo \u2603"}')]


@pytest.mark.parametrize(
    "pieces",
    [(b'data: "\xff"\n\n',), (b'data: "\xed\xa0\x80"\n\n',), (b'data: "ok"\n\n', b"data: \xe2\x98")],
    ids=["bad-byte", "surrogate", "ends-inside-a-character"],
)
async def test_invalid_utf8_in_a_stream_is_a_format_error(pieces):
    decoder, body = SSEDecoder("b"), _bytes(*pieces)
    with pytest.raises(ResponseFormatError, match="UTF-8") as info:
        while await decoder.read(body) is not None:
            pass
    assert info.value.backend == "b"


@pytest.mark.parametrize("body", [b'{"t": "\xff"}', b'{"t": "\xed\xa0\x80"}'], ids=["bad-byte", "surrogate"])
def test_invalid_utf8_in_a_whole_body_is_a_format_error_as_in_a_stream(body):
    with pytest.raises(ResponseFormatError, match="UnicodeDecodeError"):
        parse_json("b", body)


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_json_nested_too_deeply_is_a_format_error_not_a_recursion_error(depth):
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        parse_json("b", b"[" * depth + b"]" * depth)
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        NDJSONDecoder("b").feed("{\"a\": " * depth + "\n")


def test_mask_url_hides_the_user_name_and_password():
    from claudette.http import mask_url

    assert mask_url("http://user:s3cret-pw@host:8080/v1") == "http://***@host:8080/v1"
    assert mask_url("https://host/v1?x=a@b") == "https://host/v1?x=a@b"
