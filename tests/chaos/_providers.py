"""The four provider emulators of the chaos suite, their backends and their faults.

Each :class:`Provider` wraps one loopback emulator (a real socket in its own thread) and
the backend that talks to it, and knows how to script the suite's fault kinds
(:data:`FAULT_KINDS`: the shared transport faults of :mod:`claudette.testing.faults`, and
errors in that provider's own wire format), and how to read back what the emulator
received and reported (for reconciliation with the router's accounting).

- ``openai``: :class:`OpenAIEmulator` (flavour ``openai``) and :class:`OpenAIBackend`;
- ``claude``: :class:`AnthropicEmulator` and :class:`ClaudeBackend`;
- ``qwen``: :class:`OpenAIEmulator` in vLLM flavour and :class:`QwenBackend`;
- ``ollama``: :class:`OllamaEmulator` and :class:`OllamaBackend`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import attrs
from claudette.backend import BaseBackend
from claudette.testing import RecordedRequest, faults
from claudette.types import BackendSettings
from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator
from claudette_backend_qwen import QwenBackend

__all__ = [
    "FAULT_KINDS",
    "NAMES",
    "OPENAI_KEY",
    "PRICES",
    "ChatLog",
    "Provider",
    "Usage",
    "four_providers",
    "request_tag",
    "tag_of_text",
]

#: The backends, in a fixed order.
NAMES = ("openai", "claude", "qwen", "ollama")
#: A recognisable OpenAI key (the emulator checks it; the secrets tests search for it).
OPENAI_KEY = "sk-chaos-openai-5f1c2e9a7b"
CLAUDE_KEY = "sk-ant-chaos-claude-8d3b6a41"
QWEN_KEY = "sk-chaos-qwen-vllm-0c7e52d9"
#: Stream events each provider sends whole before a ``stream_cut`` strikes (Claude's first
#: three events carry no text).
CUT_AFTER = {"openai": 2, "claude": 3, "qwen": 2, "ollama": 2}
#: (input, output) EUR per token of each backend: equal, so no backend wins on cost alone.
PRICES: dict[str, tuple[float, float]] = {name: (1e-7, 3e-7) for name in NAMES}

#: The fault kinds of the suite, each scripted on every provider.
FAULT_KINDS = (
    "http_500",
    "rate_limit",
    "overloaded",
    "reset",
    "hang",
    "truncated_json",
    "stream_cut",
    "error_after_200",
)


@attrs.frozen
class Usage:
    """What one emulator logged: chat requests, completed answers and reported usage."""

    requests: int
    completed: int
    tokens_input: int
    tokens_output: int
    faults: dict[str, int]


class Provider:
    """One emulator plus the backend configured against it."""

    def __init__(self, name: str, emulator: Any, *, timeout: float, hang: float, retry_after: float) -> None:
        self.name = name
        self.emulator = emulator
        self.timeout = timeout
        self.hang_seconds = hang
        self.retry_after = retry_after

    # -- backends ----------------------------------------------------------------------

    def settings(self, **overrides: Any) -> BackendSettings:
        """Settings pointing at the emulator, with the suite's prices and timeout."""
        price_in, price_out = PRICES[self.name]
        values: dict[str, Any] = {
            "timeout": self.timeout,
            "connect_timeout": self.timeout,
            "input_cost_per_token": price_in,
            "output_cost_per_token": price_out,
        }
        emu = self.emulator
        if self.name == "openai":
            values.update(base_url=emu.base_url, api_key=OPENAI_KEY, model="gpt-4o-mini")
        elif self.name == "claude":
            values.update(base_url=emu.url, api_key=CLAUDE_KEY, model="claude-sonnet-4-5")
        elif self.name == "qwen":
            values.update(base_url=emu.base_url, api_key=QWEN_KEY, model="Qwen/Qwen2.5-7B-Instruct")
        else:
            values.update(base_url=emu.url, model="qwen2.5:7b")
        values.update(overrides)
        return BackendSettings(**values)

    def backend(self, name: str | None = None, **overrides: Any) -> BaseBackend:
        """A fresh backend (its own connection pool) talking to the emulator."""
        cls = {"openai": OpenAIBackend, "claude": ClaudeBackend, "qwen": QwenBackend, "ollama": OllamaBackend}[self.name]
        return cls(name or self.name, self.settings(**overrides))

    # -- faults --------------------------------------------------------------------------

    def fault(self, kind: str) -> Any:
        """The fault object for one of :data:`FAULT_KINDS`: a shared transport fault, or
        an error in the provider's own format."""
        ra = self.retry_after
        if kind == "reset":
            return faults.reset()
        if kind == "hang":
            return faults.hang(self.hang_seconds)
        if kind == "truncated_json":
            return faults.truncated_json()
        if kind == "stream_cut":
            return faults.cut_after(CUT_AFTER[self.name])
        if self.name in ("openai", "qwen"):
            return {
                "http_500": ChatFault.server_error,
                "rate_limit": lambda: ChatFault.rate_limit(retry_after=ra),
                "overloaded": ChatFault.overloaded,
                "error_after_200": lambda: ChatFault.error_event(after_chunks=2),
            }[kind]()
        if self.name == "claude":
            return {
                "http_500": AnthropicFault.api_error,
                "rate_limit": lambda: AnthropicFault.rate_limit(retry_after=ra),
                "overloaded": AnthropicFault.overloaded,
                "error_after_200": lambda: AnthropicFault.stream_error(after_events=3),
            }[kind]()
        return {
            "http_500": lambda: OllamaFault.status_error(500),
            "rate_limit": lambda: OllamaFault.rate_limited(ra),
            "overloaded": lambda: OllamaFault.status_error(503),
            "error_after_200": lambda: OllamaFault.error_line(after_lines=2),
        }[kind]()

    def script(self, kinds: Sequence[str | None]) -> None:
        """Queue outcomes for the next chat requests (None: a normal answer)."""
        self.emulator.script(*(None if k is None else self.fault(k) for k in kinds))

    def plan(self, decide: Callable[[int | None], str | None]) -> None:
        """Decide each chat request's fate from the request itself: ``decide(tag)``.

        ``tag`` is the number ``N`` of the ``req-N`` word in the last user message (None
        when there is none); ``decide`` returns a fault kind or None. The fault is queued
        just before the emulator takes it (one server thread, no await in between), so
        the outcome does not depend on the order in which concurrent requests arrive.
        """
        server = self.emulator.server
        original = self.emulator._handle
        chat_path = self.chat_path

        def handler(request: RecordedRequest) -> Any:
            if request.path == chat_path and request.method == "POST":
                kind = decide(request_tag(request.body))
                if kind is not None:
                    self.script([kind])
            return original(request)

        server.handler = handler

    def unplan(self) -> None:
        """Forget the plan: the emulator answers by its own script again."""
        self.emulator.server.handler = self.emulator._handle

    def fail_always(self, kind: str | None) -> None:
        """Apply one fault kind to every chat request (None: answer normally again)."""
        self.emulator.fail_always(None if kind is None else self.fault(kind))

    def clear(self) -> None:
        """Forget queued faults and the logs."""
        emu = self.emulator
        if self.name == "ollama":
            emu.clear()
        else:
            emu.reset()
        emu.server.clear()

    # -- the log ---------------------------------------------------------------------------

    @property
    def chat_path(self) -> str:
        """The path of the provider's chat endpoint."""
        return {"claude": "/v1/messages", "ollama": "/api/chat"}.get(self.name, "/v1/chat/completions")

    def chat_requests(self) -> list[Any]:
        """Every chat request the socket received (RecordedRequest, with arrival time)."""
        return [r for r in self.emulator.server.requests if r.path == self.chat_path]

    def records(self) -> list[ChatLog]:
        """Every chat request the emulator logged, in a provider-neutral form."""
        emu = self.emulator
        out: list[ChatLog] = []
        if self.name in ("openai", "qwen"):
            for r in list(emu._records):
                ok = r.succeeded
                assert not ok or r.usage_reported, "every complete answer reports its usage"
                out.append(ChatLog(_body_tag(r.body), ok, r.outcome, r.prompt_tokens if ok else 0, r.completion_tokens if ok else 0))
        elif self.name == "claude":
            for c in emu.calls:
                if c.path == "/v1/messages" and c.method == "POST":
                    kind = "ok" if c.completed else (c.fault or f"status_{c.status}")
                    out.append(ChatLog(_body_tag(c.body), c.completed, kind, c.input_tokens, c.output_tokens))
        else:
            for c in list(emu.chats):
                out.append(ChatLog(_body_tag(c.body), c.completed, "ok" if c.completed else c.outcome, c.prompt_eval_count, c.eval_count))
        return out

    def usage(self) -> Usage:
        """Reconciliation totals from the emulator's own log."""
        records = self.records()
        faults: dict[str, int] = {}
        for r in records:
            if not r.completed:
                faults[r.outcome] = faults.get(r.outcome, 0) + 1
        done = [r for r in records if r.completed]
        return Usage(
            len(records), len(done), sum(r.tokens_input for r in done), sum(r.tokens_output for r in done), faults
        )


@attrs.frozen
class ChatLog:
    """One chat request as an emulator logged it.

    :param tag: the request's ``req-N`` number (None when absent).
    :param completed: True when a whole answer, with its usage, was sent.
    :param outcome: ``ok`` or the emulator's name for what went wrong.
    :param tokens_input: prompt tokens reported (0 unless completed).
    :param tokens_output: output tokens reported (0 unless completed).
    """

    tag: int | None
    completed: bool
    outcome: str
    tokens_input: int
    tokens_output: int


def _body_tag(body: Any) -> int | None:
    if isinstance(body, dict):
        return tag_of_text(_last_user_text(body))
    return None


_TAG = re.compile(rb"req-(\d+)")


def request_tag(body: bytes) -> int | None:
    """The ``N`` of the last ``req-N`` word in a request body (None when absent)."""
    found = _TAG.findall(body[-4096:])
    return int(found[-1]) if found else None


def tag_of_text(text: str) -> int | None:
    """The ``N`` of the last ``req-N`` word in a text."""
    found = _TAG.findall(text.encode())
    return int(found[-1]) if found else None


def _emulator(name: str) -> Any:
    if name == "openai":
        return OpenAIEmulator(flavour="openai", api_key=OPENAI_KEY)
    if name == "claude":
        return AnthropicEmulator(api_key=CLAUDE_KEY, reply=_claude_reply)
    if name == "qwen":
        return OpenAIEmulator(flavour="vllm", api_key=QWEN_KEY, models=("Qwen/Qwen2.5-7B-Instruct",))
    return OllamaEmulator(models=["qwen2.5:7b"], reply=_ollama_reply)


def _last_user_text(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def _claude_reply(body: Any) -> str:
    return "Claude says: " + " ".join(_last_user_text(body).split()[:16])


def _ollama_reply(body: Any) -> str:
    return "Ollama says: " + " ".join(_last_user_text(body).split()[:16])


@contextmanager
def four_providers(*, timeout: float = 1.0, hang: float = 1.5, retry_after: float = 0.2) -> Iterator[dict[str, Provider]]:
    """Start the four emulators; yields ``{name: Provider}`` and stops them after."""
    with ExitStack() as stack:
        providers = {}
        for name in NAMES:
            emu = _emulator(name)
            stack.enter_context(emu)
            providers[name] = Provider(name, emu, timeout=timeout, hang=hang, retry_after=retry_after)
        yield providers
