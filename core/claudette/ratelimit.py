"""Per-backend rate limits: requests and tokens per minute, and what the provider reports.

A backend with ``rpm`` or ``tpm`` in its settings gets a :class:`RateLimiter` from the
state store. Selection skips a backend whose limiter has nothing left for the request
(with a skip reason) instead of calling it and collecting a 429.

Backends report the provider's own view through
``self.stats.update_rate_limits(remaining_requests, remaining_tokens, reset_s)``;
:func:`rate_limits_from_headers` reads the usual headers::

    response = await self.client.post(...)
    self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["WINDOW_SECONDS", "RateLimiter", "parse_duration", "rate_limits_from_headers"]

#: The sliding window of ``rpm`` and ``tpm``.
WINDOW_SECONDS = 60.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


class RateLimiter:
    """Requests and tokens spent in the last minute, against ``rpm`` and ``tpm``.

    Each call is recorded when it starts, with its estimated tokens; :meth:`settle`
    replaces the estimate with the provider's usage when the call ends. The provider's
    reported remaining counts (until its reset time) cap what is left.

    :param rpm: requests per minute, None for no limit.
    :param tpm: tokens per minute, None for no limit.
    """

    __slots__ = (
        "_events",
        "_provider_at_requests",
        "_provider_requests",
        "_provider_tokens",
        "_provider_until",
        "_started",
        "_tokens",
        "rpm",
        "tpm",
    )

    def __init__(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        # [start time, tokens] per call in the window, oldest first.
        self._events: deque[list[float]] = deque()
        self._tokens = 0.0
        self._started = 0
        self._provider_requests: int | None = None
        self._provider_tokens: int | None = None
        self._provider_until = 0.0
        self._provider_at_requests = 0

    def _prune(self, now: float) -> None:
        events = self._events
        horizon = now - WINDOW_SECONDS
        while events and events[0][0] <= horizon:
            self._tokens -= events.popleft()[1]

    def remaining(self, now: float | None = None) -> tuple[int | None, int | None]:
        """Requests and tokens left now (None where there is no limit)."""
        now = time.monotonic() if now is None else now
        self._prune(now)
        requests = None if self.rpm is None else self.rpm - len(self._events)
        tokens = None if self.tpm is None else int(self.tpm - self._tokens)
        if now < self._provider_until:
            if self._provider_requests is not None:
                reported = self._provider_requests - (self._started - self._provider_at_requests)
                requests = reported if requests is None else min(requests, reported)
            if self._provider_tokens is not None:
                tokens = self._provider_tokens if tokens is None else min(tokens, self._provider_tokens)
        return requests, tokens

    def blocked(self, tokens: int, now: float) -> str | None:
        """Why a call of ``tokens`` estimated tokens may not start now, or None."""
        requests_left, tokens_left = self.remaining(now)
        if requests_left is not None and requests_left <= 0:
            return f"rate limit: no requests left this minute ({self._wait(now):.1f}s to wait)"
        if tokens_left is not None:
            # A request larger than the whole budget may still go when the window is empty.
            needed = tokens if self.tpm is None else min(tokens, self.tpm)
            if tokens_left < needed:
                return (
                    f"rate limit: {max(tokens_left, 0)} tokens left this minute, "
                    f"~{tokens} needed ({self._wait(now):.1f}s to wait)"
                )
        return None

    def _wait(self, now: float) -> float:
        waits = []
        if self._events:
            waits.append(self._events[0][0] + WINDOW_SECONDS - now)
        if now < self._provider_until:
            waits.append(self._provider_until - now)
        return max(0.0, min(waits)) if waits else 0.0

    def acquire(self, tokens: int, now: float | None = None) -> list[float]:
        """Record the start of a call with its estimated tokens; returns its record."""
        now = time.monotonic() if now is None else now
        self._prune(now)
        event = [now, float(tokens)]
        self._events.append(event)
        self._tokens += tokens
        self._started += 1
        return event

    def settle(self, event: list[float], tokens: int) -> None:
        """Replace a call's estimated tokens with what it really used."""
        if self._events and event[0] >= self._events[0][0]:
            self._tokens += tokens - event[1]
        event[1] = float(tokens)

    def update_from_provider(
        self,
        remaining_requests: int | None,
        remaining_tokens: int | None,
        reset_s: float | None,
        now: float | None = None,
    ) -> None:
        """Take the provider's remaining counts, valid for ``reset_s`` seconds (default 60)."""
        now = time.monotonic() if now is None else now
        self._provider_requests = remaining_requests
        self._provider_tokens = remaining_tokens
        self._provider_at_requests = self._started
        self._provider_until = now + (reset_s if reset_s is not None and reset_s > 0 else WINDOW_SECONDS)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view for ``router.stats()``."""
        requests, tokens = self.remaining()
        return {"rpm": self.rpm, "tpm": self.tpm, "requests_left": requests, "tokens_left": tokens}


def parse_duration(value: str) -> float | None:
    """Seconds in an OpenAI-style reset duration (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``)."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def _reset_seconds(value: str, now: float) -> float | None:
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:  # Anthropic: an RFC 3339 timestamp
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def _int(value: str | None) -> int | None:
    """A remaining count; None when absent, not a number, or negative ("unknown")."""
    if value is None:
        return None
    try:
        count = int(float(value))
    except ValueError:
        return None
    return count if count >= 0 else None


_NOTHING: dict[str, Any] = {"remaining_requests": None, "remaining_tokens": None, "reset_s": None}


def rate_limits_from_headers(
    headers: Mapping[str, str], now: float | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``BackendStats.update_rate_limits`` from response headers.

    Reads OpenAI-style ``x-ratelimit-remaining-requests`` / ``-tokens`` and
    ``x-ratelimit-reset-requests`` / ``-tokens`` (durations such as ``"6m0s"``), and
    Anthropic-style ``anthropic-ratelimit-requests-remaining`` / ``-reset`` and
    ``anthropic-ratelimit-tokens-remaining`` / ``-reset`` (RFC 3339 times); without the
    latter, the smaller of Anthropic's ``input-tokens`` and ``output-tokens`` counts.
    Missing values (and negative ones, which some gateways send for "unknown") are None;
    the reset is the later of the requests and tokens resets, or the exhausted one's.

    :param headers: the response headers (any case-insensitive mapping, e.g. httpx's).
    :param now: the wall-clock time for absolute reset times (``time.time()`` by default).
    """
    lower = {k.lower(): v for k, v in headers.items() if "ratelimit" in k.lower()}
    if not lower:
        return dict(_NOTHING)
    wall = time.time() if now is None else now
    requests = _int(lower.get("x-ratelimit-remaining-requests"))
    tokens = _int(lower.get("x-ratelimit-remaining-tokens"))
    reset_requests = lower.get("x-ratelimit-reset-requests")
    reset_tokens = lower.get("x-ratelimit-reset-tokens")
    if requests is None:
        requests = _int(lower.get("anthropic-ratelimit-requests-remaining"))
        reset_requests = lower.get("anthropic-ratelimit-requests-reset")
    if tokens is None:
        tokens = _int(lower.get("anthropic-ratelimit-tokens-remaining"))
        reset_tokens = lower.get("anthropic-ratelimit-tokens-reset")
    if tokens is None:  # only the separate input and output token limits: the tighter one
        for kind in ("input", "output"):
            left = _int(lower.get(f"anthropic-ratelimit-{kind}-tokens-remaining"))
            if left is not None and (tokens is None or left < tokens):
                tokens = left
                reset_tokens = lower.get(f"anthropic-ratelimit-{kind}-tokens-reset")
    r_req = _reset_seconds(reset_requests, wall) if reset_requests else None
    r_tok = _reset_seconds(reset_tokens, wall) if reset_tokens else None
    reset: float | None
    if requests == 0 and r_req is not None:
        reset = r_req  # the exhausted window decides when calls may resume
    elif tokens == 0 and r_tok is not None:
        reset = r_tok
    else:
        known = [s for s in (r_req, r_tok) if s is not None]
        reset = max(known) if known else None
    return {"remaining_requests": requests, "remaining_tokens": tokens, "reset_s": reset}
