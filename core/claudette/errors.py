"""The claudette exception tree.

Every error claudette raises on purpose is a :class:`ClaudetteError`::

    ClaudetteError
    ├── BackendError(message, backend, retryable, status_code, retry_after)
    │   ├── RateLimitError            429; retryable elsewhere, keeps the backend out for retry_after
    │   ├── BackendTimeoutError       connect / read / total timeout; retryable
    │   ├── BackendUnavailableError   connection refused or reset, 5xx, 503/529 overload; retryable
    │   ├── ResponseFormatError       malformed or truncated body, stream without terminator; retryable
    │   ├── StreamInterruptedError    a stream failed after text reached the caller; carries partial_text
    │   ├── AuthenticationError       401/403; not retryable, the backend is misconfigured
    │   ├── InvalidRequestError       400/404/413/422; not retryable, fails on every backend
    │   └── QuotaExceededError        the account is out of credit (insufficient_quota); not retryable
    ├── NoBackendAvailableError       no usable backend is left; ``reasons`` says why for each
    │   └── BudgetExceededError       the spending cap of the period is reached
    ├── RequestValidationError        a request was refused before anything was sent (also ValueError)
    ├── ConfigError                   a config file or value is wrong; ``problems`` lists every one
    └── PluginError                   a plugin failed to import, register or validate

A non-retryable error is either the request's own (it fails on every backend) or its
backend's configuration (``misconfigured``: a wrong key, a missing model; the router
falls back and keeps that backend out a while); see :mod:`claudette.misconfig`.

Provider errors are translated into this tree in exactly one place per backend
(see :mod:`claudette.http`); the messages never contain an API key. What a provider
wrote (message, error type, request id) is kept only up to a bound, with a note of the
cut (:func:`claudette._textcap.cap_text`), so a reply of megabytes stays a short error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from claudette._redact import redact
from claudette._textcap import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, cap_text

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "ClaudetteError",
    "ConfigError",
    "ConfigProblem",
    "InvalidRequestError",
    "NoBackendAvailableError",
    "PluginError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestValidationError",
    "ResponseFormatError",
    "StreamInterruptedError",
]


class ClaudetteError(Exception):
    """Base class of every error claudette raises on purpose."""


class BackendError(ClaudetteError):
    """A backend failed to answer a request.

    :param message: what went wrong, in the provider's words where it gave any.
    :param backend: the name of the backend that failed.
    :param retryable: whether another backend (or a later attempt) may succeed.
    :param status_code: the HTTP status, when there was a response.
    :param retry_after: seconds the provider asked us to wait before calling it again.
    :param error_type: the provider's own error type or code (``rate_limit_error``, ...).
    :param request_id: the provider's request id, for support tickets.
    :param misconfigured: whether the error is its backend's configuration (its key, its
        model) rather than the request's; None: decided by
        :func:`claudette.misconfig.is_misconfiguration`.
    """

    #: Whether errors of this class are retryable when the raiser does not say.
    default_retryable: bool = True

    def __init__(
        self,
        message: str,
        backend: str,
        retryable: bool | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        *,
        error_type: str | None = None,
        request_id: str | None = None,
        misconfigured: bool | None = None,
    ) -> None:
        self.message = cap_text(redact(message))
        self.backend = backend
        self.retryable = self.default_retryable if retryable is None else retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.error_type = _field(error_type)
        self.request_id = _field(request_id)
        self._misconfigured = misconfigured
        super().__init__(self.message)

    @property
    def misconfigured(self) -> bool:
        """Whether the backend's configuration is at fault (its key, its model), so that
        another backend may answer the same request."""
        if self._misconfigured is None:
            from claudette.misconfig import is_misconfiguration

            self._misconfigured = is_misconfiguration(self)
        return self._misconfigured

    @property
    def counts_as_failure(self) -> bool:
        """Whether the provider is at fault (a breaker failure), not the caller."""
        return self.retryable

    def __str__(self) -> str:
        parts = [f"backend {self.backend!r}"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        # Set again after construction by some plugins: bounded and masked here too.
        error_type, request_id = _field(self.error_type), _field(self.request_id)
        if error_type:
            parts.append(error_type)
        parts.append("retryable" if self.retryable else "not retryable")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        if request_id:
            parts.append(f"request id {request_id}")
        return f"{self.message} ({', '.join(parts)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, backend={self.backend!r}, "
            f"retryable={self.retryable!r}, status_code={self.status_code!r}, "
            f"retry_after={self.retry_after!r})"
        )

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _rebuild_backend_error,
            (
                type(self),
                self.message,
                self.backend,
                self.retryable,
                self.status_code,
                self.retry_after,
                self.error_type,
                self.request_id,
                self._misconfigured,
            ),
        )


def _field(value: str | None) -> str | None:
    """A provider-supplied short field (error type, request id): masked and bounded."""
    if value is None:
        return None
    return cap_text(redact(str(value)), MAX_FIELD_CHARS)


def _rebuild_backend_error(cls, message, backend, retryable, status, retry_after, etype, rid, misconf=None):  # type: ignore[no-untyped-def]
    error = cls(
        message, backend, retryable, status, retry_after, error_type=etype, request_id=rid
    )
    error._misconfigured = misconf
    return error


class RateLimitError(BackendError):
    """The provider refused the call for rate (HTTP 429); try another backend meanwhile."""


class BackendTimeoutError(BackendError):
    """The backend did not answer within its connect, read or total timeout."""


class BackendUnavailableError(BackendError):
    """The backend could not be reached or is overloaded (refused, reset, 5xx, 503, 529)."""


class ResponseFormatError(BackendError):
    """The backend answered with a body that does not follow its protocol."""


class StreamInterruptedError(BackendError):
    """A stream failed after some text had already reached the caller.

    No fallback is possible then; :attr:`partial_text` holds what was received.
    """

    def __init__(
        self,
        message: str,
        backend: str,
        retryable: bool | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        *,
        partial_text: str = "",
        error_type: str | None = None,
        request_id: str | None = None,
        misconfigured: bool | None = None,
    ) -> None:
        super().__init__(
            message,
            backend,
            retryable,
            status_code,
            retry_after,
            error_type=error_type,
            request_id=request_id,
            misconfigured=misconfigured,
        )
        self.partial_text = partial_text


class AuthenticationError(BackendError):
    """The provider rejected the credentials (401) or the permission (403)."""

    default_retryable = False


class InvalidRequestError(BackendError):
    """The provider rejected the request itself (400, 404 unknown model, 413, 422)."""

    default_retryable = False


class QuotaExceededError(BackendError):
    """The account has no credit left; retrying the same backend will not help."""

    default_retryable = False


#: The most characters one backend's reason keeps: a whole capped provider message with
#: the error's facts after it.
_MAX_REASON_CHARS = 2 * MAX_MESSAGE_CHARS


class NoBackendAvailableError(ClaudetteError):
    """No backend could take the request.

    :param reasons: for every backend considered, why it was skipped or how it failed.
    """

    def __init__(self, message: str, reasons: Mapping[str, str] | None = None) -> None:
        self.reasons: dict[str, str] = {
            k: cap_text(redact(v), _MAX_REASON_CHARS) for k, v in (reasons or {}).items()
        }
        detail = "; ".join(f"{name}: {why}" for name, why in sorted(self.reasons.items()))
        self.message = redact(message)
        super().__init__(f"{self.message} ({detail})" if detail else self.message)


class BudgetExceededError(NoBackendAvailableError):
    """The spending cap of the current period (``[router.budget]``) is reached.

    Raised when the budget leaves no backend the request may use: with
    ``on_exhausted = "error"`` as soon as the cap is reached or no paid backend fits what
    is left (free backends notwithstanding), with ``"free_only"`` when no free backend
    (cost 0) is usable either. ``reasons`` holds every backend's reason.

    :param spent_eur: what the period has spent (and reserved for calls under way).
    :param limit_eur: the cap.
    """

    def __init__(
        self,
        message: str,
        reasons: Mapping[str, str] | None = None,
        *,
        spent_eur: float = 0.0,
        limit_eur: float = 0.0,
    ) -> None:
        super().__init__(message, reasons)
        self.spent_eur = spent_eur
        self.limit_eur = limit_eur


class RequestValidationError(ClaudetteError, ValueError):
    """A request was refused before anything was sent (empty prompt, bad option ...)."""


class ConfigProblem:
    """One problem in a configuration: where it is and what was expected.

    :param path: the dotted key path, e.g. ``backends.local.timeout``.
    :param message: what is wrong and what was expected.
    """

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConfigProblem)
            and (self.path, self.message) == (other.path, other.message)
        )

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class ConfigError(ClaudetteError):
    """A configuration is invalid.

    :param problems: every problem found, each with its key path.
    :param source: the file the configuration came from, if any.
    """

    def __init__(self, problems: Sequence[ConfigProblem | str], source: str | None = None) -> None:
        self.problems: list[ConfigProblem] = [
            p if isinstance(p, ConfigProblem) else ConfigProblem("", str(p)) for p in problems
        ]
        self.source = source
        where = f"{source}: " if source else ""
        lines = "\n".join(f"  - {cap_text(redact(str(p)))}" for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{where}{count} configuration {noun}:\n{lines}")


class PluginError(ClaudetteError):
    """A plugin could not be loaded, registered or validated.

    :param plugin: the entry-point or plugin name.
    :param distribution: the installed distribution that provides it, when known.
    """

    def __init__(self, message: str, plugin: str, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        origin = f" (from distribution {distribution!r})" if distribution else ""
        super().__init__(f"plugin {plugin!r}{origin}: {cap_text(redact(message))}")
