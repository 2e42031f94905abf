"""Value classes: validation at the boundary, secrets hidden, defaults merged."""

from __future__ import annotations

import pytest
from claudette import (
    BackendSettings,
    ClaudetteRequest,
    ClaudetteResponse,
    Message,
    RequestValidationError,
)

KEY = "sk-test-RECOGNISABLE-0123456789"


def test_prompt_becomes_the_last_user_message():
    r = ClaudetteRequest(prompt="hi", messages=[{"role": "system", "content": "be brief"}])
    assert r.all_messages == (Message("system", "be brief"), Message("user", "hi"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "non-empty prompt or messages"),
        ({"prompt": "   "}, "non-empty prompt or messages"),
        ({"prompt": 42}, "prompt must be a string"),
        ({"messages": [{"role": "user", "content": ""}]}, "every message"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "role must be one of"),
        ({"messages": [{"role": "user"}]}, "lacks 'content'"),
        ({"messages": [{"role": "user", "content": b"x"}]}, "must be a string"),
        ({"prompt": "x", "options": {"max_tokens": 0}}, "between 1 and"),
        ({"prompt": "x", "options": {"max_tokens": 10**9}}, "between 1 and"),
        ({"prompt": "x", "options": {"temperature": 3}}, "between 0 and 2"),
        ({"prompt": "x", "options": {"temperature": float("nan")}}, "between 0 and 2"),
        ({"prompt": "x", "options": {"tokens": 5}}, "unknown request options"),
    ],
)
def test_bad_requests_are_refused_before_sending(kwargs, match):
    with pytest.raises(RequestValidationError, match=match):
        ClaudetteRequest(**kwargs)


def test_request_validation_error_is_a_value_error():
    with pytest.raises(ValueError):
        ClaudetteRequest()


def test_every_unicode_plane_and_large_prompts_are_accepted():
    text = "".join(chr(c) for c in (0x41, 0xE9, 0x4E2D, 0x1F600, 0x10FFFD))
    assert ClaudetteRequest(prompt=text * 10).text_length == 50
    assert ClaudetteRequest(prompt="x" * 10_000_000).text_length == 10_000_000


def test_api_key_never_appears_in_repr():
    s = BackendSettings(api_key=KEY, model="m")
    assert KEY not in repr(s)
    assert "'***'" in repr(s)


def test_base_url_must_be_http_or_https():
    with pytest.raises(ValueError, match="http"):
        BackendSettings(base_url="file:///etc/passwd")
    assert BackendSettings(base_url="https://api.example.com/v1").base_url


def test_negative_prices_are_rejected():
    with pytest.raises(ValueError, match="cost_per_token"):
        BackendSettings(cost_per_token=-1)


def test_with_defaults_fills_only_unset_fields():
    mine = BackendSettings(model="mine", headers={"x-a": "1"})
    merged = mine.with_defaults(
        BackendSettings(model="theirs", base_url="http://h", cost_per_token=1e-6, headers={"x-b": "2"})
    )
    assert merged.model == "mine"
    assert merged.base_url == "http://h"
    assert merged.cost_per_token == 1e-6
    assert dict(merged.headers) == {"x-a": "1", "x-b": "2"}


def test_separate_prices_override_the_common_one():
    from claudette.pricing import resolve_prices

    prices = resolve_prices(BackendSettings(cost_per_token=1e-6, output_cost_per_token=3e-6))
    assert (prices.input, prices.output, prices.source) == (1e-6, 3e-6, "config")


def test_response_to_dict_is_json_ready():
    import json

    r = ClaudetteResponse("hi", "a", metadata={"request_id": "r1"})
    assert json.loads(json.dumps(r.to_dict()))["metadata"] == {"request_id": "r1"}
