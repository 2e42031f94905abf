"""HTTP helpers shared by provider backends: one place that turns HTTP into claudette errors.

- :func:`error_from_status` maps a status code and the provider's error facts to the right
  :class:`~claudette.errors.BackendError` subclass, honouring ``x-should-retry``.
- :func:`error_from_exception` maps httpx transport errors (refused, reset, timeouts).
- :func:`retry_after_seconds` reads ``retry-after-ms`` then ``retry-after`` (seconds or date).
- :class:`SSEDecoder` and :class:`NDJSONDecoder` parse streamed bodies from their bytes
  (or text) as they arrive, in the caller's own loop, in time linear in the body's length
  (the fast path the providers use; read the body to its end, or :func:`drain` it, so
  that the connection is pooled).
- :func:`iter_sse` and :func:`iter_ndjson` do the same as async generators over
  ``response.aiter_lines()``. Use them inside ``contextlib.aclosing(...)`` so that
  leaving the loop early (``break``, an error) closes them and the line iterator at once.
- :func:`parse_json` decodes a whole body.
- :func:`mask_url` hides a URL's user name and password, for naming a server in a message.
- All fail with :class:`~claudette.errors.ResponseFormatError` on malformed data: bytes
  that are not UTF-8 (streamed or not: one behaviour), JSON that is not JSON or is nested
  deeper than the interpreter's recursion limit, an event longer than
  :data:`MAX_EVENT_CHARS`.

Provider plugins use these so that every backend classifies failures the same way.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

import httpx

from claudette._compat import timeout as _time_limit
from claudette._redact import mask_url
from claudette.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
)

__all__ = [
    "DRAIN_TIMEOUT",
    "MAX_EVENT_CHARS",
    "NDJSONDecoder",
    "SSEDecoder",
    "SSEEvent",
    "drain",
    "error_from_exception",
    "error_from_status",
    "iter_ndjson",
    "iter_sse",
    "mask_url",
    "parse_json",
    "retry_after_seconds",
]

#: Statuses the official provider SDKs retry; everything else below 500 is the caller's fault.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: Provider error codes that mean "out of credit": retrying does not help.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
#: The longest server-requested delay we honour as a cool-down (longer ones are capped).
MAX_RETRY_AFTER = 3600.0
#: The longest stream event (an SSE event, an NDJSON line) claudette accepts from a
#: provider, in characters: far above any real event, and a bound on what one event may
#: cost in memory and time.
MAX_EVENT_CHARS = 8 * 1024 * 1024


def retry_after_seconds(headers: Mapping[str, str] | httpx.Headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after``.

    ``retry-after`` may be a number of seconds (float allowed) or an HTTP date.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0:
                return min(value, MAX_RETRY_AFTER)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        value = when.timestamp() - time.time()
    return min(max(value, 0.0), MAX_RETRY_AFTER)


def _should_retry_override(headers: Mapping[str, str] | httpx.Headers) -> bool | None:
    raw = headers.get("x-should-retry")
    if raw == "true":
        return True
    if raw == "false":
        return False
    return None


def error_from_status(
    backend: str,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | httpx.Headers | None = None,
    error_type: str | None = None,
    error_code: str | None = None,
    request_id: str | None = None,
) -> BackendError:
    """The claudette error for an HTTP error status.

    :param backend: the backend's name.
    :param status: the HTTP status code.
    :param message: the provider's error message (or a description of the body).
    :param headers: the response headers (retry-after, x-should-retry).
    :param error_type: the provider's error type (``rate_limit_error`` ...).
    :param error_code: the provider's error code (``insufficient_quota`` ...).
    :param request_id: the provider's request id.
    """
    headers = headers if headers is not None else {}
    retry_after = retry_after_seconds(headers)
    override = _should_retry_override(headers)
    kind = error_type or error_code
    kwargs: dict[str, Any] = {"error_type": kind, "request_id": request_id}
    cls: type[BackendError]
    if error_code in QUOTA_CODES or error_type in QUOTA_CODES:
        cls, retryable = QuotaExceededError, False
    elif status == 429:
        cls, retryable = RateLimitError, True
    elif status in (401, 403):
        cls, retryable = AuthenticationError, False
    elif status == 408:
        cls, retryable = BackendTimeoutError, True
    elif status >= 500 or status in RETRYABLE_STATUSES:
        cls, retryable = BackendUnavailableError, True
    elif 400 <= status < 500:
        cls, retryable = InvalidRequestError, False
    else:
        cls, retryable = ResponseFormatError, True
    if override is not None and cls is not QuotaExceededError:
        retryable = override
    return cls(message, backend, retryable, status, retry_after, **kwargs)


def error_from_exception(backend: str, exc: BaseException) -> BackendError:
    """The claudette error for an httpx transport failure (or a decoding failure)."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, httpx.ConnectTimeout):
        return BackendTimeoutError(f"connect timeout: {str(exc) or 'no connection'}", backend, True)
    if isinstance(exc, httpx.TimeoutException):
        what = {
            httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout",
            httpx.PoolTimeout: "connection pool timeout",
        }.get(type(exc), "timeout")
        return BackendTimeoutError(f"{what}: {str(exc) or 'no answer in time'}", backend, True)
    if isinstance(exc, httpx.ConnectError):
        return BackendUnavailableError(f"cannot connect: {exc}", backend, True)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return BackendUnavailableError(f"connection broken: {str(exc) or type(exc).__name__}", backend, True)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return InvalidRequestError(f"unsupported URL: {exc}", backend, False)
    if isinstance(exc, httpx.HTTPError):
        return BackendUnavailableError(f"{type(exc).__name__}: {exc}", backend, True)
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError)):
        return ResponseFormatError(
            f"unexpected response shape: {type(exc).__name__}: {exc}", backend, True
        )
    return BackendError(f"unexpected failure: {type(exc).__name__}: {exc}", backend, True)


def parse_json(backend: str, body: bytes | str, *, status: int | None = None) -> Any:
    """Decode a JSON body, or raise :class:`ResponseFormatError` naming the backend.

    Bytes must be UTF-8 (a body that is not is malformed, as in a stream); JSON nested
    deeper than the interpreter's recursion limit is malformed too.
    """
    try:
        return json.loads(body.decode("utf-8") if body.__class__ is bytes else body)
    except RecursionError:
        raise ResponseFormatError(
            "malformed JSON from provider: nested too deeply", backend, True, status
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = body[:120] if isinstance(body, str) else body[:120].decode("utf-8", "replace")
        raise ResponseFormatError(
            f"malformed JSON from provider ({exc.__class__.__name__}: {exc}); body starts {snippet!r}",
            backend,
            True,
            status,
        ) from None


#: Seconds :func:`drain` waits for the rest of a body after a stream's terminator. A
#: conforming server ends the body at once; the wait only runs out on one that holds it
#: open. Kept well above scheduling delays: cutting an httpx read short is a cancellation
#: inside httpcore, and under CPU load a 50 ms window did that often enough to leak
#: connections (the chaos suite's load run saw unclosed transports).
DRAIN_TIMEOUT = 1.0


async def drain(rest: AsyncIterator[Any], timeout: float = DRAIN_TIMEOUT) -> bool:
    """Read what is left of a stream after its terminator (``[DONE]``, ``message_stop``).

    Normally only the end of the HTTP body follows; reading it lets httpx put the
    connection back in its pool, where leaving the body unread closes the connection
    (and the next request pays a new connect). Whatever follows is ignored; a server that
    keeps sending or holds the body open is given up on after ``timeout`` seconds (the
    connection is then closed, as before). Returns True when the body was read to its end.
    """
    try:
        async with _time_limit(timeout):
            async for _ in rest:
                pass
    except Exception:  # TimeoutError, a broken tail: the answer is already complete
        return False
    return True


class SSEEvent(NamedTuple):
    """One server-sent event: its ``event`` name (``message`` when unnamed) and ``data``."""

    event: str
    data: str


_Item = TypeVar("_Item")


class _TextDecoder(Generic[_Item]):
    """What both stream decoders share: :meth:`feed_bytes`, :meth:`read` (the loop step
    over the body) and the bound on one event."""

    __slots__ = ("_backend", "_ended", "_pending", "_pending_size", "_tail")

    def __init__(self, backend: str = "") -> None:
        self._backend = backend
        self._ended = False
        #: The first bytes of a character the last piece ended inside.
        self._tail = b""
        #: The pieces of an event (or line) not completed yet, joined once it completes.
        self._pending: list[str] = []
        self._pending_size = 0

    def feed(self, text: str) -> list[_Item]:  # pragma: no cover - abstract
        """Feed the next piece of the body; the items it completes."""
        raise NotImplementedError

    def flush(self) -> list[_Item]:  # pragma: no cover - abstract
        """The items the body ended in without closing."""
        raise NotImplementedError

    def feed_bytes(self, data: bytes) -> list[_Item]:
        """Feed the next piece of the body as it came off the wire (strict UTF-8, a
        character split between two pieces included).

        :raises ResponseFormatError: on bytes that are not UTF-8.
        """
        if self._tail:
            data, self._tail = self._tail + data, b""
        try:
            text = data.decode("utf-8")  # the whole piece at once: C speed
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data" or exc.end != len(data):
                raise self.format_error(f"the stream is not valid UTF-8 ({exc.reason})") from None
            # The piece ends inside a character: keep its first bytes for the next piece.
            text, self._tail = data[: exc.start].decode("utf-8"), data[exc.start :]
        return self.feed(text)

    async def read(self, pieces: AsyncIterator[bytes] | AsyncIterator[str]) -> list[_Item] | None:
        """The items completed by the next piece of the body (``response.aiter_bytes()``,
        or text from ``response.aiter_text()``); at the body's end the ones it left
        unclosed, then None.

        ``while (items := await decoder.read(pieces)) is not None: ...`` is the whole loop,
        with no generator layer between the body and the caller.

        :raises ResponseFormatError: on bytes that are not UTF-8 (a body that ends inside
            a character included) and on an event longer than :data:`MAX_EVENT_CHARS`.
        """
        if self._ended:
            return None
        try:
            piece = await pieces.__anext__()
        except StopAsyncIteration:
            self._ended = True
            if self._tail:
                raise self.format_error("the stream ended inside a UTF-8 character") from None
            return self.flush()
        if isinstance(piece, bytes):
            return self.feed_bytes(piece)
        return self.feed(piece)

    def format_error(self, message: str) -> ResponseFormatError:
        """A :class:`ResponseFormatError` naming the decoder's backend (retryable)."""
        return ResponseFormatError(message, self._backend, True)

    def _hold(self, text: str) -> None:
        """Keep ``text``, the start of an event not completed yet, within the bound."""
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size > MAX_EVENT_CHARS:
            raise self._too_long()

    def _take_pending(self, text: str) -> str:
        """The held pieces and ``text`` joined (each character is joined once)."""
        pending = self._pending
        buffer = "".join(pending) + text if pending else text
        pending.clear()
        self._pending_size = 0
        return buffer

    def _too_long(self) -> ResponseFormatError:
        self._pending.clear()
        self._pending_size = 0
        return self.format_error(
            f"a stream event is longer than {MAX_EVENT_CHARS:,} characters, "
            "the most claudette accepts from a provider"
        )


def _event(name: str, data: str) -> SSEEvent:
    return tuple.__new__(SSEEvent, (name, data))  # SSEEvent(...) without its Python __new__


class SSEDecoder(_TextDecoder[SSEEvent]):
    """Server-sent events from a streamed body, decoded in the caller's own loop.

    Two ways to feed it: :meth:`feed` takes text as it arrives and :meth:`feed_bytes`
    the body's bytes (:meth:`read` takes the next piece of ``response.aiter_bytes()``);
    both return the events they complete, splitting in C and handling the usual one-line
    ``data:`` event without a per-line step (the way provider SDKs read SSE), and hold
    an unfinished event as a list of pieces joined once, so decoding is linear in the
    body's length. :meth:`decode` takes one line at a time (``response.aiter_lines()``).
    Either way :meth:`flush` returns an event the body ended without closing. Follows
    the SSE framing: ``event:`` and ``data:`` fields, several data lines joined by
    ``\\n``, comment lines (``:``) ignored, ``\\r\\n``, ``\\r`` and ``\\n`` line ends (a
    ``\\r\\n`` split between two reads included). An event longer than
    :data:`MAX_EVENT_CHARS` raises :class:`~claudette.errors.ResponseFormatError` naming
    ``backend``. Use one decoder per body, with one of the two ways.
    """

    __slots__ = ("_cr", "_data", "_data_size", "_event")

    def __init__(self, backend: str = "") -> None:
        super().__init__(backend)
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._cr = False

    def feed(self, text: str) -> list[SSEEvent]:
        """Feed the next piece of the body; the events it completes, in order."""
        if self._cr:  # the "\r" held back from the last piece
            text = "\r" + text
            self._cr = False
        if "\r" in text:
            if text[-1] == "\r":  # maybe the first half of a "\r\n": wait for the next piece
                text, self._cr = text[:-1], True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            return []
        pending = self._pending
        if "\n\n" not in text and not (
            pending and text[0] == "\n" and pending[-1][-1] == "\n"
        ):
            self._hold(text)
            return []
        buffer = self._take_pending(text)
        blocks = buffer.split("\n\n")
        rest = blocks.pop()
        if rest:
            self._hold(rest)
        if len(buffer) > MAX_EVENT_CHARS and any(len(b) > MAX_EVENT_CHARS for b in blocks):
            raise self._too_long()
        events: list[SSEEvent] = []
        for block in blocks:
            if block[:6] == "data: " and "\n" not in block:  # the usual event: one data line
                events.append(_event("message", block[6:]))
                continue
            decode = self.decode
            for line in block.split("\n"):
                event = decode(line)
                if event is not None:
                    events.append(event)
            event = decode("")
            if event is not None:
                events.append(event)
        return events

    def decode(self, line: str) -> SSEEvent | None:
        """Feed one line (without its line break); the event it completes, if any."""
        if not line:
            data = self._data
            if not data:
                self._event = ""
                return None
            event = _event(self._event or "message", data[0] if len(data) == 1 else "\n".join(data))
            self._event, self._data, self._data_size = "", [], 0
            return event
        if line[0] == ":":
            return None
        field, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > MAX_EVENT_CHARS:
                self._data, self._data_size = [], 0
                raise self._too_long()
        elif field == "event":
            self._event = value
        return None

    def flush(self) -> list[SSEEvent]:
        """The event the body ended in without its blank line, if any (as a list)."""
        rest = self._take_pending("\r" if self._cr else "")
        self._cr = False
        events: list[SSEEvent] = []
        for line in rest.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            event = self.decode(line)
            if event is not None:
                events.append(event)
        event = self.decode("")
        if event is not None:
            events.append(event)
        return events


class NDJSONDecoder(_TextDecoder[Any]):
    """Newline-delimited JSON from a streamed body, decoded in the caller's own loop.

    :meth:`feed` takes text as it arrives, :meth:`feed_bytes` the body's bytes
    (:meth:`read` takes the next piece of ``response.aiter_bytes()``); both return the
    objects on the lines they complete (blank lines skipped, ``\\r\\n`` accepted), holding
    an unfinished line as pieces joined once. :meth:`flush` returns the object on a last
    line the body ended without a line break. A line that is not JSON, or is longer than
    :data:`MAX_EVENT_CHARS`, raises :class:`~claudette.errors.ResponseFormatError` naming
    ``backend``.
    """

    __slots__ = ()

    def feed(self, text: str) -> list[Any]:
        """Feed the next piece of the body; the objects of the lines it completes."""
        if "\n" not in text:
            if text:
                self._hold(text)
            return []
        buffer = self._take_pending(text)
        lines = buffer.split("\n")
        rest = lines.pop()
        if rest:
            self._hold(rest)
        if len(buffer) > MAX_EVENT_CHARS and any(len(line) > MAX_EVENT_CHARS for line in lines):
            raise self._too_long()
        backend = self._backend
        return [_json_line(backend, line) for line in lines if line and not line.isspace()]

    def flush(self) -> list[Any]:
        """The object on a last line without its line break, if any (as a list)."""
        rest = self._take_pending("")
        return [_json_line(self._backend, rest)] if rest and not rest.isspace() else []


def _json_line(backend: str, line: str) -> Any:
    """One NDJSON line decoded; a malformed one raises :class:`ResponseFormatError`."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return parse_json(backend, line)  # raises, naming the backend


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Parse server-sent events from a stream of lines (``response.aiter_lines()``).

    The generator form of :class:`SSEDecoder`: closes ``lines`` when it ends or is closed.
    """
    decoder = SSEDecoder()
    decode = decoder.decode
    try:
        async for line in lines:
            event = decode(line)
            if event is not None:
                yield event
        for event in decoder.flush():
            yield event
    finally:
        await _close(lines)


async def iter_ndjson(backend: str, lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """Parse newline-delimited JSON objects from a stream of lines, skipping blank ones."""
    try:
        async for line in lines:
            if len(line) > MAX_EVENT_CHARS:
                raise ResponseFormatError(
                    f"a stream line is longer than {MAX_EVENT_CHARS:,} characters, "
                    "the most claudette accepts from a provider",
                    backend,
                    True,
                )
            if line and not line.isspace():
                yield _json_line(backend, line)
    finally:
        await _close(lines)


async def _close(lines: AsyncIterator[str]) -> None:
    """Close the line source now rather than when the garbage collector finds it.

    An async generator left to the collector is closed by a task the event loop schedules
    later, which outlives the request (and shows as a pending task at shutdown).
    """
    close = getattr(lines, "aclose", None)
    if close is not None:
        await close()
