"""Whose problem a client error is: the backend's configuration, or the request itself.

A provider answers 4xx both when the request is wrong (a bad schema, a prompt too long
for any model) and when the backend is set up wrong (its key, its model, a parameter its
model does not take). The router must tell the two apart: the first fails on every
backend, so the request ends at once with the first backend's error; the second is that
backend's alone, so the router skips it, keeps it out for :data:`MISCONFIGURED_HOLD`
seconds and answers from another.

:func:`is_misconfiguration` decides from the error's class, status, and the provider's
error type, code and message:

- the backend's: 401/403 (its key or its permissions), an exhausted quota (its account),
  404 (its model or its URL), and a 400/422 whose words say "model not found" or "not
  supported by this model";
- the request's: any message about the context length, a prompt too long, or a schema,
  whatever its status; every other 400/413/422.

:attr:`claudette.errors.BackendError.misconfigured` asks it for every error, so every
provider plugin's errors are classified the same way without the plugin doing anything.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claudette.errors import BackendError
    from claudette.types import ClaudetteRequest

__all__ = ["MISCONFIGURED_HOLD", "backend_at_fault", "is_misconfiguration"]

#: Seconds a misconfigured backend is kept out before the router tries it again: long
#: enough that a wrong key or a missing model costs one request a minute, not every
#: request; short enough that a fixed key or a pulled model is used again within a
#: minute without a restart (a config reload builds a new router and forgets it at once).
MISCONFIGURED_HOLD = 60.0

#: Words that make an error the request's own, whichever backend it went to.
_REQUEST_WORDS = re.compile(
    r"context[ _]length|context[ _]window|maximum context|too long|too many tokens"
    r"|prompt is too long|schema|json_schema|invalid_json",
    re.IGNORECASE,
)
#: Words that make a client error the backend's: its model is missing or does not take
#: something the request uses.
_BACKEND_WORDS = re.compile(
    r"model[ _]not[ _]found|model_not_available|no such model|unknown model"
    r"|model\b.{0,80}\b(not found|does not exist|not available|not supported|is not served)"
    r"|(not supported|unsupported)\b.{0,40}\b(by|with|for) (this|the) model"
    r"|model\b.{0,40}\bdoes not support|unsupported[ _]parameter|unsupported[ _]value",
    re.IGNORECASE,
)


#: Words of an error about the model itself (missing, unknown).
_MODEL_MISSING = re.compile(
    r"model[ _]not[ _]found|no such model|unknown model|model\b.{0,80}\b(not found|does not exist|is not served)",
    re.IGNORECASE,
)


def is_misconfiguration(error: BackendError) -> bool:
    """True when ``error`` is a problem of its backend's configuration, not of the request.

    Retryable errors (outages, rate limits) are never misconfigurations.
    """
    from claudette.errors import AuthenticationError, QuotaExceededError

    if error.retryable:
        return False
    if isinstance(error, (AuthenticationError, QuotaExceededError)):
        return True
    status = error.status_code
    if status in (401, 403):
        return True
    words = " ".join(w for w in (error.error_type, error.message) if w)
    if _REQUEST_WORDS.search(words):
        return False
    if status == 404:
        return True
    return bool(_BACKEND_WORDS.search(words))


def backend_at_fault(error: BackendError, request: ClaudetteRequest) -> bool:
    """True when ``error`` is its backend's misconfiguration for this ``request``.

    A request that names its own model (``options.model``) owns a "model not found": it
    would fail on every backend, so it is the request's problem there.
    """
    if not error.misconfigured:
        return False
    if request.options.model is None:
        return True
    from claudette.errors import AuthenticationError, QuotaExceededError

    if isinstance(error, (AuthenticationError, QuotaExceededError)) or error.status_code in (401, 403):
        return True
    words = " ".join(w for w in (error.error_type, error.message) if w)
    return error.status_code != 404 and not _MODEL_MISSING.search(words)
