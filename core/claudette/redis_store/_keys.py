"""Where each piece of shared state lives in Redis (one deployment = one namespace)."""

from __future__ import annotations

import attrs

__all__ = ["KeyLayout"]


def _check_namespace(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(f"a namespace must be non-empty and without spaces, got {value!r}")


@attrs.frozen
class KeyLayout:
    """The key names of one deployment.

    Every key starts with ``<namespace>:``. A backend's keys share the hash tag
    ``{<backend>}`` so that a script touching several of them stays on one cluster slot.

    :param namespace: the per-deployment prefix (``[state] namespace``).
    """

    namespace: str = attrs.field(default="claudette", validator=_check_namespace)

    def _backend(self, backend: str, what: str) -> str:
        return f"{self.namespace}:backend:{{{backend}}}:{what}"

    def breaker(self, backend: str) -> str:
        """Hash ``state``, ``failures``, ``opened_at`` (epoch ms), ``transitions``."""
        return self._backend(backend, "breaker")

    def probe(self, backend: str) -> str:
        """Counter of half-open probes in flight; its TTL is the probe lease."""
        return self._backend(backend, "probe")

    def stats(self, backend: str) -> str:
        """Hash ``calls``, ``successes``, ``failures``, ``last_failure_at``, ``cooldown_until``."""
        return self._backend(backend, "stats")

    def latencies(self, backend: str) -> str:
        """List of the most recent latencies in ms, newest first, trimmed to the window."""
        return self._backend(backend, "latency")

    def rate(self, backend: str, window_start: int) -> str:
        """Hash ``requests``, ``tokens``: the backend's rpm/tpm usage in one minute window."""
        return self._backend(backend, f"rate:{window_start}")

    def counter(self, name: str, window_start: int) -> str:
        """A fixed-window usage counter (rpm/tpm budgets) for the window starting then."""
        return f"{self.namespace}:counter:{name}:{window_start}"

    def cache(self, key: str) -> str:
        """One response-cache entry (a hash: ``response`` JSON, ``ttl``, ``stored_at``, ...)."""
        return f"{self.namespace}:cache:{key}"

    @property
    def pattern(self) -> str:
        """A ``SCAN MATCH`` pattern covering every key of the namespace."""
        return f"{self.namespace}:*"
