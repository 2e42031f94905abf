"""Bad requests are refused before anything is sent; odd but valid ones arrive byte-exact."""

from __future__ import annotations

import pytest
from _providers import NAMES
from claudette import ClaudetteRequest
from claudette.errors import RequestValidationError
from claudette.testing.pytest_plugin import build_router
from hypothesis import given, settings
from hypothesis import strategies as st

#: One character from every Unicode plane (0-16), assigned ones where the plane has any,
#: plus NUL, a combining mark, a right-to-left mark and a byte-order mark.
EVERY_PLANE = "".join(chr(plane * 0x10000 + offset) for plane, offset in [
    (0, 0xE9), (1, 0xF600), (2, 0x0000), (3, 0x0000), (4, 0x0041), (5, 0x0041), (6, 0x0041),
    (7, 0x0041), (8, 0x0041), (9, 0x0041), (10, 0x0041), (11, 0x0041), (12, 0x0041),
    (13, 0x0041), (14, 0x0041), (15, 0x0000), (16, 0xFFFD),
]) + "\x00 e\u0301 \u200f \ufeff 中文 𝄞"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prompt": ""},
        {"prompt": "   \n\t"},
        {},
        {"messages": []},
        {"messages": [{"role": "user", "content": ""}]},
        {"prompt": "hi", "options": {"max_tokens": 0}},
        {"prompt": "hi", "options": {"max_tokens": 10**12}},
        {"prompt": "hi", "options": {"max_tokens": -5}},
        {"prompt": "hi", "options": {"max_tokens": 2.5}},
        {"prompt": "hi", "options": {"max_tokens": True}},
        {"prompt": "hi", "options": {"temperature": float("nan")}},
        {"prompt": "hi", "options": {"colour": "red"}},
        {"prompt": 42},
        {"prompt": b"bytes"},
        {"messages": [{"role": "user", "content": 42}]},
        {"messages": [{"role": "user", "content": None}]},
        {"messages": [{"role": "user", "content": ["a", "list"]}]},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user"}]},
        {"messages": "not a list"},
    ],
)
def test_a_bad_request_is_refused_with_a_validation_error(kwargs):
    with pytest.raises(RequestValidationError):
        ClaudetteRequest(**kwargs)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.integers(), st.floats(), st.none(), st.binary(), st.lists(st.text(max_size=3), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)))
def test_non_string_content_is_always_a_validation_error(content):
    with pytest.raises(RequestValidationError):
        ClaudetteRequest(messages=[{"role": "user", "content": content}])


def test_a_lone_surrogate_is_refused_before_anything_is_sent():
    """A lone surrogate cannot be sent as UTF-8: refuse it up front, not as a backend failure."""
    with pytest.raises(RequestValidationError):
        ClaudetteRequest(prompt="broken \ud800 text")


def _sent_text(provider) -> str:
    body = provider.chat_requests()[-1].json()
    return body["messages"][-1]["content"]


@pytest.mark.parametrize("name", NAMES)
async def test_every_unicode_plane_arrives_exactly(providers, name):
    provider = providers[name]
    router = build_router(provider.backend())
    try:
        response = await router.route_request(ClaudetteRequest(prompt=EVERY_PLANE))
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt=EVERY_PLANE))]
    finally:
        await router.aclose()
    assert response.backend_used == name and chunks[-1].response is not None
    sent = [r.json()["messages"][-1]["content"] for r in provider.chat_requests()]
    assert sent == [EVERY_PLANE, EVERY_PLANE]


@pytest.mark.parametrize("name", NAMES)
async def test_a_ten_megabyte_prompt_arrives_exactly(providers, name):
    provider = providers[name]
    prompt = ("req-7 " + "x" * 1000 + " ") * 10_000  # 10 MB
    assert len(prompt) > 10_000_000
    router = build_router(provider.backend())
    try:
        response = await router.route_request(ClaudetteRequest(prompt=prompt))
    finally:
        await router.aclose()
    assert response.backend_used == name
    assert _sent_text(provider) == prompt
