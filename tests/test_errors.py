"""The error tree: what each error says, and that secrets never show."""

from __future__ import annotations

import logging
import pickle

import pytest
from claudette import (
    AuthenticationError,
    BackendError,
    BackendSettings,
    ClaudetteError,
    ConfigError,
    NoBackendAvailableError,
    PluginError,
    RateLimitError,
)

KEY = "sk-live-SECRET-abcdef123456"


def test_backend_error_names_backend_status_and_retryability():
    e = RateLimitError("slow down", "openai", status_code=429, retry_after=2.5, request_id="req_1")
    text = str(e)
    assert "openai" in text and "HTTP 429" in text and "retryable" in text
    assert "retry after 2.5s" in text and "req_1" in text
    assert e.retryable is True


def test_auth_errors_are_not_retryable_by_default():
    assert AuthenticationError("bad key", "x", status_code=401).retryable is False


def test_hierarchy_roots():
    assert issubclass(RateLimitError, BackendError)
    for cls in (BackendError, NoBackendAvailableError, ConfigError, PluginError):
        assert issubclass(cls, ClaudetteError)


def test_registered_secret_is_redacted_from_error_messages():
    BackendSettings(api_key=KEY)
    e = BackendError(f"provider echoed {KEY}", "openai", True)
    assert KEY not in str(e) and KEY not in repr(e)
    n = NoBackendAvailableError("none", {"openai": f"failed with {KEY}"})
    assert KEY not in str(n)


def test_registered_secret_is_redacted_from_claudette_logs(caplog):
    BackendSettings(api_key=KEY)
    with caplog.at_level(logging.INFO, logger="claudette"):
        logging.getLogger("claudette").warning("key is %s", KEY)
    assert KEY not in caplog.text
    assert "***" in caplog.text


def test_backend_errors_pickle_with_their_fields():
    e = RateLimitError("slow", "a", status_code=429, retry_after=1.0, error_type="rate_limit_error")
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), back.backend, back.retry_after, back.error_type) == (RateLimitError, "a", 1.0, "rate_limit_error")


def test_config_error_lists_every_problem_with_its_source():
    e = ConfigError(["a: bad", "b: worse"], "/etc/claudette.toml")
    assert str(e).startswith("/etc/claudette.toml: 2 configuration problems")
    assert len(e.problems) == 2


@pytest.mark.parametrize("dist", [None, "claudette-backend-x"])
def test_plugin_error_names_plugin_and_distribution(dist):
    e = PluginError("boom", "x", dist)
    assert "'x'" in str(e)
    assert (dist in str(e)) if dist else "distribution" not in str(e)


def test_a_huge_provider_message_is_cut_and_says_how_much_was_cut():
    message = "boom " * 4_000_000  # 20 MB
    e = BackendError(message, "openai", True, 500)
    assert len(str(e)) < 3000
    assert str(e).startswith("boom boom")
    assert f"[cut: {len(message) - 2000:,} more characters]" in e.message
    n = NoBackendAvailableError("no backend answered", {"openai": str(e), "claude": "x" * 10**6})
    assert len(str(n)) < 10_000 and "more characters]" in n.reasons["claude"]


def test_the_provider_error_type_and_request_id_are_masked_and_bounded():
    BackendSettings(api_key=KEY)
    e = BackendError("denied", "openai", False, 401, error_type=f"bad_key_{KEY}", request_id=KEY)
    assert KEY not in str(e) and KEY not in repr(e)
    e.request_id = f"req-{KEY}"  # plugins may set it after construction
    assert KEY not in str(e)
    long = BackendError("x", "openai", True, error_type="t" * 10_000, request_id="r" * 10_000)
    assert len(str(long)) < 600


def test_a_config_problem_is_bounded():
    e = ConfigError(["x" * 100_000])
    assert len(str(e)) < 3000
