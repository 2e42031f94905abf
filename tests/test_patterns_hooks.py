"""Pre- and post-processing hooks, their order, and the built-in prompt-compression plugin."""

from __future__ import annotations

import inspect

import attrs
import pytest
from claudette import (
    BackendUnavailableError,
    ClaudetteRequest,
    ClaudetteResponse,
    PluginError,
    hookimpl,
    hookspecs,
)
from claudette.compress import PromptCompressor, compress_text
from claudette.types import CacheOptions
from test_patterns_support import FakeBackend, gather, make_router, req


class Tag:
    """Appends its tag to the prompt and to the answer; records what it saw."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def claudette_preprocess_request(self, request: ClaudetteRequest, backend: object) -> ClaudetteRequest:
        self.seen.append((backend.name, request.prompt or ""))  # type: ignore[attr-defined]
        return attrs.evolve(request, prompt=f"{request.prompt}+{self.tag}")

    @hookimpl
    def claudette_postprocess_response(
        self, request: ClaudetteRequest, response: ClaudetteResponse
    ) -> ClaudetteResponse:
        return attrs.evolve(response, content=f"{response.content}|{self.tag}")


class First(Tag):
    @hookimpl(tryfirst=True)
    def claudette_preprocess_request(self, request: ClaudetteRequest, backend: object) -> ClaudetteRequest:
        return super().claudette_preprocess_request(request, backend)

    @hookimpl(tryfirst=True)
    def claudette_postprocess_response(
        self, request: ClaudetteRequest, response: ClaudetteResponse
    ) -> ClaudetteResponse:
        return super().claudette_postprocess_response(request, response)


class Noop:
    """Returns None from both hooks: nothing changes."""

    @hookimpl
    def claudette_preprocess_request(self, request: ClaudetteRequest) -> None:
        return None

    @hookimpl
    def claudette_postprocess_response(self, response: ClaudetteResponse) -> None:
        return None


async def test_preprocess_rewrites_what_the_backend_receives() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[Tag("x")])
    await router.route_request(req("hi"))
    assert a.requests[0].prompt == "hi+x"


async def test_hooks_chain_in_documented_order() -> None:
    # tryfirst first, then the most recently registered, and each sees the previous output
    a = FakeBackend("a")
    early, late, first = Tag("early"), Tag("late"), First("first")
    router = make_router(a, plugins=[early, late, first])
    response = await router.route_request(req("hi"))
    assert a.requests[0].prompt == "hi+first+late+early"
    assert response.content == "a: hi+first+late+early|first|late|early"
    assert late.seen == [("a", "hi+first")]


async def test_hooks_returning_none_change_nothing() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[Noop()])
    response = await router.route_request(req("hi"))
    assert a.requests[0].prompt == "hi"
    assert response.content == "a: hi"


async def test_preprocess_runs_again_for_the_fallback_backend_from_the_original() -> None:
    a = FakeBackend("a", failures=[BackendUnavailableError("down", "a")])
    b = FakeBackend("b")
    tag = Tag("x")
    router = make_router(a, b, plugins=[tag])
    await router.route_request(req("hi"))
    assert tag.seen == [("a", "hi"), ("b", "hi")]
    assert b.requests[0].prompt == "hi+x"


async def test_cache_keys_on_the_original_and_stores_the_postprocessed_answer() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[Tag("x")], cache=CacheOptions())
    first = await router.route_request(req("hi"))
    second = await router.route_request(req("hi"))
    assert second.cache_hit
    assert second.content == first.content == "a: hi+x|x"
    assert a.calls == 1


async def test_preprocess_applies_to_streams() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[Tag("x")])
    chunks = [c async for c in router.stream(req("hi"))]
    assert a.requests[0].prompt == "hi+x"
    assert chunks[-1].response is not None


async def test_hooks_under_concurrency_keep_requests_apart() -> None:
    a = FakeBackend("a", delay=0.005)
    router = make_router(a, plugins=[Tag("x")])
    results = await gather(lambda i: router.route_request(req(f"q{i}")), 30)
    assert sorted(r.content for r in results) == sorted(f"a: q{i}+x|x" for i in range(30))


async def test_a_failing_preprocess_hook_fails_the_request() -> None:
    class Broken:
        @hookimpl
        def claudette_preprocess_request(self, request: ClaudetteRequest) -> None:
            raise RuntimeError("bug in plugin")

    router = make_router(FakeBackend("a"), plugins=[Broken()])
    with pytest.raises(RuntimeError, match="bug in plugin"):
        await router.route_request(req("hi"))
    assert router.counters.failures == 1


def test_a_wrapper_of_the_chain_never_reaches_a_router() -> None:
    # As a wrapper it would return a generator where the chain expects a request.
    class Wrapping:
        @hookimpl(wrapper=True)
        def claudette_preprocess_request(self, request: ClaudetteRequest):  # type: ignore[no-untyped-def]
            return (yield)

    with pytest.raises(PluginError, match="claudette_preprocess_request is called one plugin at a time"):
        make_router(FakeBackend("a"), plugins=[Wrapping()])


@pytest.mark.parametrize("name", ["claudette_preprocess_request", "claudette_postprocess_response"])
def test_new_hooks_are_documented_like_the_others(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Called " in doc
    assert ":return:" in doc
    for param in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f":param {param}:" in doc


# -- the example plugin --------------------------------------------------------------------------

LONG = "Please   review\t\tthis:   \n\n\n\n<!-- internal note -->\n" + "word " * 500


def test_compress_text_drops_comments_and_extra_whitespace() -> None:
    assert compress_text("a   b\t\tc  \n\n\n\nd <!-- x -->") == "a b c\n\nd"


def test_compress_text_keeps_indentation() -> None:
    code = "def f():\n    return 1"
    assert compress_text(code) == code


def test_compress_text_strips_code_comments_only_when_asked() -> None:
    text = "```py\n# a comment\nx = 1\n```\n# Heading"
    assert compress_text(text) == text
    assert compress_text(text, strip_code_comments=True) == "```py\nx = 1\n```\n# Heading"


async def test_compressor_squeezes_long_prompts() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[PromptCompressor(min_chars=1000)])
    await router.route_request(req(LONG))
    sent = a.requests[0].prompt or ""
    assert sent.startswith("Please review this:\n\nword word")
    assert "internal note" not in sent
    assert len(sent) < len(LONG)


async def test_compressor_leaves_short_prompts_alone() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[PromptCompressor(min_chars=1000)])
    await router.route_request(req("short   prompt"))
    assert a.requests[0].prompt == "short   prompt"


async def test_compressor_handles_messages() -> None:
    a = FakeBackend("a")
    router = make_router(a, plugins=[PromptCompressor(min_chars=100)])
    request = ClaudetteRequest(messages=[{"role": "system", "content": "be   brief"}, {"role": "user", "content": LONG}])
    await router.route_request(request)
    sent = a.requests[0].messages
    assert sent[0].content == "be   brief"  # short: unchanged
    assert sent[1].content.startswith("Please review this:")
