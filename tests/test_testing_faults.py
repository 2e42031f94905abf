"""claudette.testing.faults: the transport faults every provider emulator shares."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from claudette.testing import Fault, LoopbackServer, Reply, faults

BODY = json.dumps({"answer": "a reply long enough to be cut in half"}).encode()
PLAIN = Reply(200, {"content-type": "application/json"}, BODY)
CHUNKS = [b"one\n", b"two\n", b"three\n", b"four\n"]
STREAM = Reply.stream(CHUNKS, "application/x-ndjson")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as loopback:
        yield loopback


@pytest.fixture
def http(server: LoopbackServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=2.0, trust_env=False) as client:
        yield client


def _received(http: httpx.Client) -> tuple[list[bytes], BaseException | None]:
    """The body pieces a streamed GET received, and the error that ended it (if any)."""
    pieces: list[bytes] = []
    try:
        with http.stream("GET", "/") as response:
            for piece in response.iter_raw():
                pieces.append(piece)
    except httpx.HTTPError as error:
        return pieces, error
    return pieces, None


def test_reset_and_hang_are_the_servers_own_faults() -> None:
    assert faults.reset().apply(PLAIN) == Fault.reset()
    assert faults.hang(2.5).apply(STREAM) == Fault.hang(2.5)


def test_reset_closes_the_connection_without_an_answer(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.reset().apply(PLAIN))

    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/")


def test_hang_answers_nothing(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.hang(5.0).apply(PLAIN))

    with pytest.raises(httpx.ReadTimeout):
        http.get("/", timeout=0.3)


def test_truncated_json_is_a_complete_reply_with_half_the_json(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.truncated_json().apply(PLAIN))

    response = http.get("/")

    assert response.status_code == 200
    assert response.content == BODY[: len(BODY) // 2]
    assert response.headers["content-length"] == str(len(BODY) // 2)
    with pytest.raises(ValueError):
        response.json()


def test_truncated_json_in_a_stream_ends_it_half_way_through_a_chunk(
    server: LoopbackServer, http: httpx.Client
) -> None:
    server.script(faults.truncated_json(chunks=1).apply(STREAM))

    pieces, error = _received(http)

    assert error is None
    assert b"".join(pieces) == b"one\ntw"


def test_end_after_leaves_out_at_least_the_last_chunk(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.end_after(len(CHUNKS)).apply(STREAM))

    pieces, error = _received(http)

    assert error is None
    assert b"".join(pieces) == b"one\ntwo\nthree\n"


def test_cut_after_resets_the_connection_half_way_through_a_body(
    server: LoopbackServer, http: httpx.Client
) -> None:
    server.script(faults.cut_after().apply(PLAIN))

    pieces, error = _received(http)

    assert isinstance(error, httpx.RemoteProtocolError)
    assert b"".join(pieces) == BODY[: len(BODY) // 2]


def test_cut_after_sends_whole_chunks_then_half_of_the_next(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.cut_after(2).apply(STREAM))

    pieces, error = _received(http)

    assert isinstance(error, httpx.RemoteProtocolError)
    assert b"".join(pieces) == b"one\ntwo\nthr"


def test_cut_after_every_chunk_still_leaves_the_body_unfinished(
    server: LoopbackServer, http: httpx.Client
) -> None:
    server.script(faults.cut_after(len(CHUNKS)).apply(STREAM))

    pieces, error = _received(http)

    assert isinstance(error, httpx.RemoteProtocolError)
    assert b"".join(pieces) == b"".join(CHUNKS)


def test_end_after_ends_a_stream_cleanly_and_early(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.end_after(2).apply(STREAM))

    pieces, error = _received(http)

    assert error is None
    assert b"".join(pieces) == b"one\ntwo\n"


def test_stall_after_sends_some_chunks_then_nothing(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.stall_after(1).apply(STREAM))
    pieces: list[bytes] = []

    with pytest.raises(httpx.ReadTimeout), http.stream("GET", "/", timeout=0.3) as response:
        for piece in response.iter_raw():
            pieces.append(piece)

    assert b"".join(pieces) == b"one\n"


def test_stall_after_a_plain_reply_sends_half_the_body(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.stall_after().apply(PLAIN))
    pieces: list[bytes] = []

    with pytest.raises(httpx.ReadTimeout), http.stream("GET", "/", timeout=0.3) as response:
        for piece in response.iter_raw():
            pieces.append(piece)

    assert b"".join(pieces) == BODY[: len(BODY) // 2]


def test_slow_delivers_the_whole_answer_late(server: LoopbackServer, http: httpx.Client) -> None:
    server.script(faults.slow(0.2, chunk_delay=0.05).apply(STREAM))

    started = time.monotonic()
    pieces, error = _received(http)

    assert error is None
    assert b"".join(pieces) == b"".join(CHUNKS)
    assert time.monotonic() - started >= 0.2 + 4 * 0.05


def test_slow_adds_to_the_delays_the_reply_already_has() -> None:
    late = Reply.stream(CHUNKS, delay=0.5, chunk_delay=0.1)

    sent = faults.slow(1.0, chunk_delay=0.2).apply(late)

    assert isinstance(sent, Reply)
    assert (sent.delay, sent.chunk_delay) == (1.5, pytest.approx(0.3))


def test_only_a_slow_answer_is_delivered_whole() -> None:
    delivered = {
        fault.kind: fault.delivers
        for fault in (
            faults.reset(),
            faults.hang(),
            faults.truncated_json(),
            faults.cut_after(),
            faults.end_after(),
            faults.stall_after(),
            faults.slow(),
        )
    }

    assert delivered == {
        "reset": False,
        "hang": False,
        "truncated_json": False,
        "cut_after": False,
        "end_after": False,
        "stall_after": False,
        "slow": True,
    }


@pytest.mark.parametrize(
    "module, name",
    [
        ("claudette_backend_openai.testing", "ChatFault"),
        ("claudette_backend_claude.testing", "AnthropicFault"),
        ("claudette_backend_ollama.testing", "OllamaFault"),
    ],
)
def test_each_provider_fault_class_builds_the_shared_transport_faults(module: str, name: str) -> None:
    cls = getattr(pytest.importorskip(module), name)
    assert issubclass(cls, faults.SharedTransportFaults)
    assert cls.reset() == faults.reset()
    assert cls.hang(2.0) == faults.hang(2.0)
    assert cls.truncated_json() == faults.truncated_json()
    assert cls.slow(0.5) == faults.slow(0.5)
