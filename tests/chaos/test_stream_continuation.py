"""Mid-stream continuation, on every ordered pair of providers.

With ``RouterOptions(stream_continuation=True)``, a stream cut after text reached the
caller goes on on another backend, which is sent the conversation plus that text as an
assistant prefix. The emulators here continue a prefix as a model does: each knows the
whole answer to a prompt (the same on every provider) and, given a prefix of it, sends
the rest. So the caller must receive exactly the whole answer, once, with the final
response saying which backend wrote from which character.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import pytest
from _providers import CUT_AFTER, NAMES, Provider
from claudette import ClaudetteRequest
from claudette.errors import StreamInterruptedError
from claudette.testing import faults
from claudette.testing.pytest_plugin import build_router
from claudette.types import RouterOptions
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault
from claudette_backend_ollama.testing import OllamaEmulator
from claudette_backend_openai.testing import OpenAIEmulator

PROMPT = "req-7 tell me how a router keeps a stream going when its provider fails half way"
OPTIONS = RouterOptions(health_checks=False, stream_continuation=True)


def whole_answer(messages: Sequence[Mapping[str, Any]]) -> str:
    """The answer every emulator gives: the same on every provider, for one prompt."""
    user = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
    return "Answer: " + " ".join(str(user).split())


def continued(messages: Sequence[Mapping[str, Any]]) -> str:
    """The whole answer, or what follows an assistant prefix of it (a model continuing)."""
    answer = whole_answer(messages)
    last = messages[-1]
    if last.get("role") == "assistant":
        prefix = str(last.get("content"))
        assert answer.startswith(prefix), f"{prefix!r} is not a prefix of the answer"
        return answer[len(prefix) :]
    return answer


def _continuing(body: Mapping[str, Any]) -> str:
    return continued(body["messages"])


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """The four providers, each continuing an assistant prefix of the one answer."""
    emulators = {
        "openai": OpenAIEmulator(flavour="openai", api_key="sk-cont-openai", responder=continued),
        "claude": AnthropicEmulator(api_key="sk-ant-cont", reply=_continuing),
        "qwen": OpenAIEmulator(
            flavour="vllm", api_key="sk-cont-qwen", models=("Qwen/Qwen2.5-7B-Instruct",), responder=continued
        ),
        "ollama": OllamaEmulator(models=["qwen2.5:7b"], reply=_continuing),
    }
    with ExitStack() as stack:
        started = {}
        for name in NAMES:
            stack.enter_context(emulators[name])
            started[name] = Provider(name, emulators[name], timeout=5.0, hang=5.5, retry_after=0.2)
        yield started


def _keys(provider: Provider) -> dict[str, Any]:
    return {
        "openai": {"api_key": "sk-cont-openai"},
        "claude": {"api_key": "sk-ant-cont"},
        "qwen": {"api_key": "sk-cont-qwen"},
        "ollama": {},
    }[provider.name]


async def _stream(router: Any, texts: list[str]) -> Any:
    async for chunk in router.stream(ClaudetteRequest(prompt=PROMPT)):
        texts.append(chunk.text)
        if chunk.response is not None:
            return chunk.response
    return None


def _last_messages(provider: Provider) -> list[Mapping[str, Any]]:
    chats = provider.chat_requests()
    assert chats, f"{provider.name} received no chat request"
    messages: list[Mapping[str, Any]] = chats[-1].json()["messages"]
    return messages


@pytest.mark.parametrize(("first", "then"), list(itertools.permutations(NAMES, 2)))
async def test_a_cut_stream_continues_on_the_other_backend(
    providers: dict[str, Provider], first: str, then: str
) -> None:
    a, b = providers[first], providers[then]
    a.emulator.script(faults.cut_after(CUT_AFTER[first] + 2))
    router = build_router(
        a.backend(priority=1, **_keys(a)), b.backend(priority=2, **_keys(b)), options=OPTIONS
    )
    texts: list[str] = []
    async with router:
        response = await _stream(router, texts)
    expected = whole_answer([{"role": "user", "content": PROMPT}])
    assert response is not None
    assert "".join(texts) == response.content == expected
    segments = response.metadata["continuation"]
    assert [s["backend"] for s in segments] == [first, then]
    cut_at = segments[1]["start"]
    assert segments[0]["start"] == 0 and 0 < cut_at < len(expected)
    assert "error" in segments[0] and "error" not in segments[1]
    assert response.backend_used == then
    assert response.metadata["failed_backends"] == [first]
    # The second backend was asked to continue the text the caller already had.
    sent = _last_messages(b)
    assert sent[-1] == {"role": "assistant", "content": expected[:cut_at].rstrip()}
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user", "assistant"]
    stats = router.stats()["backends"]
    assert (stats[first]["failures"], stats[then]["failures"]) == (1, 0)


async def test_without_the_option_a_cut_stream_is_interrupted(providers: dict[str, Provider]) -> None:
    a, b = providers["openai"], providers["claude"]
    a.emulator.script(faults.cut_after(CUT_AFTER["openai"] + 2))
    router = build_router(a.backend(priority=1, **_keys(a)), b.backend(priority=2, **_keys(b)))
    texts: list[str] = []
    async with router:
        with pytest.raises(StreamInterruptedError) as caught:
            await _stream(router, texts)
    assert caught.value.partial_text == "".join(texts) != ""
    assert b.chat_requests() == []


async def test_a_continuation_cut_again_goes_on_to_a_third_backend(
    providers: dict[str, Provider],
) -> None:
    a, b, c = providers["ollama"], providers["openai"], providers["claude"]
    a.emulator.script(faults.cut_after(CUT_AFTER["ollama"] + 2))
    b.emulator.script(faults.cut_after(CUT_AFTER["openai"] + 2))
    router = build_router(
        a.backend(priority=1), b.backend(priority=2, **_keys(b)), c.backend(priority=3, **_keys(c)),
        options=OPTIONS,
    )
    texts: list[str] = []
    async with router:
        response = await _stream(router, texts)
    assert "".join(texts) == response.content == whole_answer([{"role": "user", "content": PROMPT}])
    starts = [(s["backend"], s["start"]) for s in response.metadata["continuation"]]
    assert [name for name, _ in starts] == ["ollama", "openai", "claude"]
    assert starts[0][1] < starts[1][1] < starts[2][1]
    assert sorted(response.metadata["failed_backends"]) == ["ollama", "openai"]


async def test_when_no_backend_can_continue_the_whole_text_is_in_the_error(
    providers: dict[str, Provider],
) -> None:
    """The second backend refuses (a non-retryable 400): the stream ends, interrupted."""
    a, b = providers["openai"], providers["claude"]
    a.emulator.script(faults.cut_after(CUT_AFTER["openai"] + 2))
    b.emulator.script(AnthropicFault.invalid_request("prompt is too long"))
    router = build_router(a.backend(priority=1, **_keys(a)), b.backend(priority=2, **_keys(b)), options=OPTIONS)
    texts: list[str] = []
    async with router:
        with pytest.raises(StreamInterruptedError) as caught:
            await _stream(router, texts)
    assert caught.value.partial_text == "".join(texts) != ""
    assert "no backend continued it" in caught.value.message
    assert router.stats()["router"]["failures"] == 1


async def test_continuation_when_nothing_fails_changes_nothing(providers: dict[str, Provider]) -> None:
    a = providers["qwen"]
    router = build_router(a.backend(**_keys(a)), options=OPTIONS)
    texts: list[str] = []
    async with router:
        response = await _stream(router, texts)
    assert "continuation" not in response.metadata
    assert "".join(texts) == response.content == whole_answer([{"role": "user", "content": PROMPT}])
