"""The value classes that flow through claudette: requests, responses, settings and options.

All are attrs classes. Requests, responses and settings are frozen and validated at
construction, so a bad value fails where it is written, not deep inside a backend.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

import attrs

from claudette._redact import (
    describe,
    mask,
    mask_url,
    masked_mapping,
    register_secret,
    register_secret_values,
    url_has_userinfo,
)
from claudette._validators import non_negative as _non_negative
from claudette._validators import one_of as _one_of
from claudette._validators import positive as _positive
from claudette.errors import RequestValidationError
from claudette.messages import (
    CAPABILITIES,
    IMAGE_TOKEN_ESTIMATE,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    check_text,
    to_message,
    to_tool,
    to_tool_call,
)
from claudette.options import (
    WEIGHT_PRESETS,
    AdaptiveOptions,
    BatchOptions,
    BreakerPolicy,
    BudgetOptions,
    CacheOptions,
    LedgerOptions,
    RouterOptions,
    Strategy,
    preset_weights,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "HTTP_CLIENTS",
    "WEIGHT_PRESETS",
    "AdaptiveOptions",
    "BackendInfo",
    "BackendSettings",
    "BackendType",
    "BatchOptions",
    "BreakerPolicy",
    "BudgetOptions",
    "CacheOptions",
    "ClaudetteRequest",
    "ClaudetteResponse",
    "GenerationOptions",
    "HttpClient",
    "ImagePart",
    "LedgerOptions",
    "Message",
    "RouterOptions",
    "Strategy",
    "StreamChunk",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "preset_weights",
]

#: Where a backend runs: a paid cloud API or a server of your own.
BackendType = Literal["cloud", "self_hosted"]
#: What carries a backend's HTTP (:attr:`BackendSettings.http_client`).
HttpClient = Literal["httpx", "aiohttp"]
#: The values of :data:`HttpClient`, for validators and messages.
HTTP_CLIENTS: tuple[str, ...] = get_args(HttpClient)

#: Characters per token in estimates (a common rule of thumb).
CHARS_PER_TOKEN = 4
#: The largest ``max_tokens`` a request may ask for; larger values are surely mistakes.
MAX_TOKENS_LIMIT = 1_000_000
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _plain(value: Any) -> Any:
    """``value`` with its read-only mappings turned into dicts, ready for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not value:
        return _EMPTY
    if value.__class__ is not dict and not isinstance(value, Mapping):  # dict: no ABC check
        raise RequestValidationError(f"expected a mapping, got {type(value).__name__}")
    return MappingProxyType(dict(value))


_check_text = check_text


def _to_messages(value: Sequence[Message | Mapping[str, Any]] | None) -> tuple[Message, ...]:
    if value is None or (value.__class__ is tuple and not value):  # no messages (a prompt alone): the common case
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise RequestValidationError("messages must be a sequence of Message or dicts")
    return tuple(
        item if item.__class__ is Message else to_message(item, f"messages[{i}]")
        for i, item in enumerate(value)
    )


@attrs.frozen(slots=True)
class GenerationOptions:
    """How to generate: the options a request may set for whichever backend answers.

    ``None`` means "the backend's own setting".

    :param max_tokens: the most tokens to generate (1 to 1,000,000).
    :param temperature: sampling temperature, 0 to 2 (backends clamp to their own range).
    :param model: a model name that overrides the backend's configured model.
    :param stop: sequences that end generation.
    :param top_p: nucleus sampling, 0 to 1.
    :param seed: a seed for reproducible sampling, where the provider has one (Anthropic
        has none: the Claude backend leaves it out).
    """

    max_tokens: int | None = None
    temperature: float | None = None
    model: str | None = None
    stop: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    top_p: float | None = None
    seed: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.max_tokens is not None:
            if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
                raise RequestValidationError("max_tokens must be an integer")
            if not 1 <= self.max_tokens <= MAX_TOKENS_LIMIT:
                raise RequestValidationError(
                    f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT:,}, got {self.max_tokens}"
                )
        if self.temperature is not None:
            if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)):
                raise RequestValidationError("temperature must be a number")
            if not (0.0 <= self.temperature <= 2.0) or math.isnan(self.temperature):
                raise RequestValidationError(
                    f"temperature must be between 0 and 2, got {self.temperature}"
                )
        if self.model is not None:
            _check_text("model", self.model)
        for s in self.stop:
            _check_text("stop sequence", s)
        if self.top_p is not None:
            if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)):
                raise RequestValidationError("top_p must be a number")
            if not 0.0 <= self.top_p <= 1.0:
                raise RequestValidationError(f"top_p must be between 0 and 1, got {self.top_p}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise RequestValidationError(f"seed must be an integer, got {self.seed!r}")


_DEFAULT_OPTIONS = GenerationOptions()
#: The names of the generation options (``ClaudetteRequest(options={...})``).
OPTION_NAMES = frozenset(f.name for f in attrs.fields(GenerationOptions))
_OPTION_NAMES = OPTION_NAMES
_TOOL_CHOICES = ("auto", "none", "required")
_NO_NEEDS: frozenset[str] = frozenset()


def _to_tools(value: Sequence[Tool | Mapping[str, Any]] | None) -> tuple[Tool, ...]:
    if value is None or (value.__class__ is tuple and not value):
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise RequestValidationError("tools must be a sequence of Tool or dicts")
    tools = tuple(to_tool(t, f"tools[{i}]") for i, t in enumerate(value))
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise RequestValidationError(f"tool names must be unique, got {names}")
    return tools


def _to_tool_choice(value: str | Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
    if value is None or (value.__class__ is str and value in _TOOL_CHOICES):
        return value
    if isinstance(value, Mapping):
        name: Any = value.get("name")
        if name is None and isinstance(value.get("function"), Mapping):
            name = value["function"].get("name")  # OpenAI's {"type": "function", "function": {...}}
        if isinstance(name, str) and name:
            return MappingProxyType({"name": name})
    raise RequestValidationError(
        f"tool_choice must be 'auto', 'none', 'required' or {{'name': <tool>}}, got {value!r}"
    )


def _to_response_format(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequestValidationError(
            f"response_format must be a dict such as {{'type': 'json_object'}}, got {value!r}"
        )
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return MappingProxyType({"type": "json_object"})
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            raise RequestValidationError(
                "response_format of type 'json_schema' needs json_schema.schema (a JSON schema)"
            )
        name = spec.get("name") or "response"
        _check_text("json_schema.name", name)
        strict = spec.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise RequestValidationError("json_schema.strict must be true or false")
        schema = Tool(name, "", spec["schema"]).parameters  # validated and copied as JSON
        out: dict[str, Any] = {"name": name, "schema": schema}
        if strict is not None:
            out["strict"] = strict
        return MappingProxyType({"type": "json_schema", "json_schema": MappingProxyType(out)})
    raise RequestValidationError(
        f"response_format type must be 'json_object' or 'json_schema', got {kind!r}"
    )


def _to_options(value: GenerationOptions | Mapping[str, Any] | None) -> GenerationOptions:
    if value is None:
        return _DEFAULT_OPTIONS
    if isinstance(value, GenerationOptions):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - _OPTION_NAMES
        if unknown:
            raise RequestValidationError(f"unknown request options: {sorted(unknown)}")
        return GenerationOptions(**value)
    raise RequestValidationError(f"options must be a mapping, got {type(value).__name__}")


@attrs.frozen(slots=True)
class ClaudetteRequest:
    """One request for a completion, before any backend is chosen.

    Give ``prompt`` (a user message), ``messages`` (a conversation), or both (the prompt is
    then appended as the last user message).

    :param prompt: the user's text.
    :param messages: earlier messages; dicts ``{"role", "content"}`` are accepted.
    :param options: :class:`GenerationOptions` or a dict of them.
    :param backend: force this backend by name (no scoring; fallback still applies unless
        the router is told otherwise).
    :param stream: a hint for callers that route the same request to ``stream()``.
    :param metadata: free-form data carried along for hooks and observers.
    :param region: a preferred region; backends there are considered first.
    :param use_cache: set False to bypass the response cache for this request.
    :param tools: functions the model may call (:class:`Tool` or OpenAI-format dicts).
    :param tool_choice: ``"auto"``, ``"none"``, ``"required"`` or ``{"name": <tool>}``
        (OpenAI's ``{"type": "function", "function": {"name": ...}}`` is accepted too).
    :param response_format: OpenAI's shape: ``{"type": "json_object"}`` or
        ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}``.
    """

    prompt: str | None = None
    messages: tuple[Message, ...] = attrs.field(default=(), converter=_to_messages)
    options: GenerationOptions = attrs.field(default=None, converter=_to_options)
    backend: str | None = None
    stream: bool = False
    metadata: Mapping[str, Any] = attrs.field(default=None, converter=_frozen_mapping)
    region: str | None = None
    use_cache: bool = True
    tools: tuple[Tool, ...] = attrs.field(default=(), converter=_to_tools)
    tool_choice: str | Mapping[str, Any] | None = attrs.field(
        default=None, converter=_to_tool_choice
    )
    response_format: Mapping[str, Any] | None = attrs.field(
        default=None, converter=_to_response_format
    )
    #: What a backend must be able to do to take this request (see ``BaseBackend.capabilities``).
    required_capabilities: frozenset[str] = attrs.field(init=False, default=_NO_NEEDS)

    def __attrs_post_init__(self) -> None:
        if self.prompt is not None:
            _check_text("prompt", self.prompt)
        if not self.messages and not (self.prompt and self.prompt.strip()):
            raise RequestValidationError("a request needs a non-empty prompt or messages")
        if self.messages and all(m.is_empty for m in self.messages) and not (
            self.prompt and self.prompt.strip()
        ):
            raise RequestValidationError("every message of the request is empty")
        if self.backend is not None:
            _check_text("backend", self.backend)
        if self.messages or self.tools or self.tool_choice or self.response_format:
            self._check_features()

    def _check_features(self) -> None:
        """Check tools, tool results and the response format; note what they need."""
        needs: set[str] = set()
        choice = self.tool_choice
        if self.tools:
            needs.add("tools")
            if isinstance(choice, Mapping) and choice["name"] not in {t.name for t in self.tools}:
                raise RequestValidationError(
                    f"tool_choice names {choice['name']!r}, which is not among the tools "
                    f"{[t.name for t in self.tools]}"
                )
        elif choice is not None and choice != "none" and choice != "auto":
            raise RequestValidationError(f"tool_choice {choice!r} needs tools")
        calls: set[str] = set()
        for i, message in enumerate(self.messages):
            if message.tool_calls:
                needs.add("tools")
                calls.update(c.id for c in message.tool_calls)
            elif message.tool_call_id is not None:
                needs.add("tools")
                if message.tool_call_id not in calls:
                    raise RequestValidationError(
                        f"messages[{i}] answers tool call {message.tool_call_id!r}, "
                        "which no earlier assistant message made"
                    )
            if message.content.__class__ is not str and message.has_images:
                needs.add("images")
        fmt = self.response_format
        if fmt is not None and fmt["type"] == "json_schema":
            needs.add("json_schema")
        if needs:
            object.__setattr__(self, "required_capabilities", frozenset(needs))

    # Plain properties, not ``cached_property``: on a slotted attrs class a cached property
    # adds a ``__getattr__``, and that slows every attribute read of every request.

    @property
    def all_messages(self) -> tuple[Message, ...]:
        """The conversation to send: ``messages`` then ``prompt`` as a user message."""
        if self.prompt is None:
            return self.messages
        return (*self.messages, Message("user", self.prompt))

    @property
    def text_length(self) -> int:
        """Characters the whole request sends, for token estimates: the conversation's text,
        tool calls and results, tool schemas and the response schema; an image counts as
        :data:`~claudette.messages.IMAGE_TOKEN_ESTIMATE` tokens' worth."""
        length = len(self.prompt) if self.prompt is not None else 0
        for message in self.messages:
            content = message.content
            if content.__class__ is str:
                length += len(content)
            else:
                for part in content:
                    length += (
                        len(part.text)
                        if isinstance(part, TextPart)
                        else IMAGE_TOKEN_ESTIMATE * CHARS_PER_TOKEN
                    )
            for call in message.tool_calls:
                length += len(call.name) + len(call.arguments_json)
        if self.tools:
            for tool in self.tools:
                length += len(tool.name) + len(tool.description)
                length += len(json.dumps(tool.parameters, separators=(",", ":")))
        if self.response_format is not None:
            length += len(json.dumps(_plain(self.response_format), separators=(",", ":")))
        return length

    @property
    def max_tokens(self) -> int | None:
        """Shortcut for ``options.max_tokens``."""
        return self.options.max_tokens


def _to_tool_calls(value: Sequence[ToolCall | Mapping[str, Any]] | None) -> tuple[ToolCall, ...]:
    if not value:
        return ()
    return tuple(to_tool_call(c, f"tool_calls[{i}]") for i, c in enumerate(value))


@attrs.frozen(slots=True)
class ClaudetteResponse:
    """A completed answer, with what it cost and who gave it.

    :param content: the generated text.
    :param backend_used: the name of the backend that answered.
    :param model: the model that answered, as the provider reported it.
    :param tokens_input: prompt tokens (reported by the provider, else estimated), the
        cached and cache-write ones included.
    :param tokens_output: generated tokens (reported by the provider, else estimated),
        the reasoning ones included.
    :param cost_eur: what the call cost, in EUR, each token class at its own rate (0 for a
        cache hit, and 0 with ``price_source = "unknown"`` when the price is unknown).
    :param latency_ms: wall time of the call that produced it, in milliseconds.
    :param cache_hit: True when it came from the response cache.
    :param finish_reason: why generation stopped, normalised to ``stop``, ``length``,
        ``content_filter``, ``tool_calls`` or the provider's own word.
    :param metadata: extra facts: ``request_id``, ``usage_estimated``, ``attempts`` ...
    :param tool_calls: the calls the model asked for (empty when none); ``finish_reason``
        is ``tool_calls`` when it stopped to make them.
    :param tokens_cached_input: of ``tokens_input``, those read from the provider's prompt
        cache (OpenAI's ``cached_tokens``, Anthropic's ``cache_read_input_tokens``).
    :param tokens_cache_write: of ``tokens_input``, those written to the provider's prompt
        cache (Anthropic's ``cache_creation_input_tokens``).
    :param tokens_reasoning: of ``tokens_output``, those spent on hidden reasoning
        (OpenAI's ``reasoning_tokens``).
    :param price_source: where the prices behind ``cost_eur`` come from: ``config``,
        ``price table``, ``plugin default`` or ``unknown`` (see :mod:`claudette.pricing`);
        None when the response was not priced by a backend.
    """

    content: str
    backend_used: str
    model: str | None = None
    tokens_input: int = 0
    tokens_output: int = 0
    cost_eur: float = 0.0
    latency_ms: float = 0.0
    cache_hit: bool = False
    finish_reason: str | None = None
    metadata: Mapping[str, Any] = attrs.field(default=None, converter=_frozen_mapping)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_to_tool_calls)
    tokens_cached_input: int = 0
    tokens_cache_write: int = 0
    tokens_reasoning: int = 0
    price_source: str | None = None

    @property
    def message(self) -> Message:
        """The answer as the assistant :class:`Message` to append for the next turn."""
        return Message("assistant", self.content, tool_calls=self.tool_calls)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tool calls as ``{"id", "name", "arguments"}``,
        ``cost_eur`` rounded, without float noise)."""
        from claudette.money import round_eur

        d = attrs.asdict(self, recurse=False)
        d["metadata"] = dict(self.metadata)
        d["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in self.tool_calls
        ]
        d["cost_eur"] = round_eur(self.cost_eur)
        return d


@attrs.frozen(slots=True)
class StreamChunk:
    """A piece of a streamed answer.

    :param text: the new text in this chunk (may be empty on the last chunk).
    :param backend: the backend that produces the stream.
    :param response: set on the last chunk only: the whole answer with its usage and cost.
    :param tool_call_deltas: pieces of tool calls this chunk adds (see
        :class:`~claudette.ToolCallDelta`); the final ``response`` has the calls whole.
    """

    text: str
    backend: str
    response: ClaudetteResponse | None = None
    tool_call_deltas: tuple[ToolCallDelta, ...] = ()

    @property
    def is_final(self) -> bool:
        """True for the last chunk, which carries the :class:`ClaudetteResponse`."""
        return self.response is not None


def _http_url(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    """An http(s) URL without a user name or password; the error describes, never shows it."""
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"{attr.name} must be an http:// or https:// URL, got {describe(value)}")
    if url_has_userinfo(value):
        # Never sent as basic auth (the plugins authenticate with headers), so refused;
        # its password is registered so that no message can show it either.
        register_secret(value.partition("://")[2].rpartition("@")[0].partition(":")[2])
        raise ValueError(
            f"{attr.name} must not carry a user name or password ({mask_url(value)}): "
            "set api_key, or an Authorization header in headers"
        )


def _keep_secret(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{attr.name} must be a string, got {describe(value)}")
    register_secret(value)


def _keep_secret_values(_inst: object, _attr: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    register_secret_values(value)


def _to_capabilities(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _known_capabilities(
    _inst: object, _attr: attrs.Attribute[Any], value: tuple[str, ...] | None
) -> None:
    if value is None:
        return
    unknown = sorted(set(value) - CAPABILITIES)
    if unknown or not all(isinstance(v, str) for v in value):
        raise ValueError(
            f"capabilities must be among {sorted(CAPABILITIES)}, got unknown {unknown or value}"
        )


@attrs.frozen(slots=True)
class BackendSettings:
    """How one backend is configured. ``None`` means "the plugin's default".

    :param enabled: a disabled backend is never selected.
    :param priority: breaks ties between equal scores; lower goes first.
    :param cost_per_token: EUR per token, for input and output alike; it outranks the
        price table and the plugin's default (see :mod:`claudette.pricing`).
    :param input_cost_per_token: EUR per prompt token (overrides ``cost_per_token``).
    :param output_cost_per_token: EUR per generated token (overrides ``cost_per_token``).
    :param cached_input_cost_per_token: EUR per prompt token read from the provider's
        prompt cache (default: the price source's cache-read rate, else the input price).
    :param cache_write_cost_per_token: EUR per prompt token written to the provider's
        prompt cache (default: the price source's cache-write rate, else the input price).
    :param model: the model to ask for.
    :param base_url: the API's base URL (http or https only, without a user name or
        password: those would show wherever the URL is named).
    :param api_key: the secret key; never shown in reprs, logs or errors.
    :param api_key_env: environment variable to read the key from when ``api_key`` is unset.
    :param max_tokens: default most tokens to generate.
    :param temperature: default sampling temperature.
    :param timeout: seconds one attempt may take in all (connect, send, read); for a
        stream, the seconds until its first meaningful event.
    :param stream_timeout: seconds a stream attempt may spend waiting on the provider in
        all (default 600, the official OpenAI and Anthropic clients' own total timeout).
    :param stream_idle_timeout: seconds a stream may go without a meaningful event once one
        arrived; keep-alives (SSE comments, Anthropic's ``ping``) do not count as one.
    :param connect_timeout: seconds to establish a connection.
    :param backend_type: ``cloud`` or ``self_hosted``.
    :param region: where the backend runs, for region-aware routing.
    :param verify_tls: verify the server's certificate; turn off only for your own servers.
    :param http_client: what carries the backend's HTTP: ``httpx`` (the default, httpx's
        own connection pool) or ``aiohttp`` (httpx's API over aiohttp's pool, which spends
        less CPU per request when a process sends many at once; needs the ``aiohttp``
        extra; see :mod:`claudette.aiohttp_transport`).
    :param headers: extra HTTP headers sent with every call; the value of a header whose
        name says it carries a secret (``Authorization``, ``api-key``, ``x-api-key``,
        anything naming a key, token or secret) is masked like ``api_key``.
    :param health_check_ttl: seconds a health check result is trusted.
    :param extra: provider-specific options (see each plugin's README); secret-named
        entries are masked like ``headers``.
    :param weight: share of traffic under the ``weighted_random`` strategy (default 1).
    :param rpm: requests per minute this backend may receive (None: no limit).
    :param tpm: tokens per minute this backend may receive (None: no limit).
    :param max_retries: retries of a retryable failure on this backend, with exponential
        backoff, before the router falls back (default 0: fall back at once).
    :param capabilities: what this backend can do among ``tools``, ``images`` and
        ``json_schema`` (None: the plugin's default); set it when a self-hosted model lacks
        what its protocol could carry.
    """

    enabled: bool = True
    priority: int = 100
    cost_per_token: float | None = attrs.field(default=None, validator=_non_negative)
    input_cost_per_token: float | None = attrs.field(default=None, validator=_non_negative)
    output_cost_per_token: float | None = attrs.field(default=None, validator=_non_negative)
    cached_input_cost_per_token: float | None = attrs.field(default=None, validator=_non_negative)
    cache_write_cost_per_token: float | None = attrs.field(default=None, validator=_non_negative)
    model: str | None = None
    base_url: str | None = attrs.field(default=None, validator=_http_url)
    api_key: str | None = attrs.field(default=None, repr=mask, validator=_keep_secret)
    api_key_env: str | None = None
    max_tokens: int | None = attrs.field(default=None, validator=_positive)
    temperature: float | None = attrs.field(default=None, validator=_non_negative)
    timeout: float = attrs.field(default=60.0, validator=_positive)
    stream_timeout: float = attrs.field(default=600.0, validator=_positive)
    stream_idle_timeout: float = attrs.field(default=30.0, validator=_positive)
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    backend_type: BackendType | None = attrs.field(
        default=None, validator=attrs.validators.optional(_one_of("cloud", "self_hosted"))
    )
    region: str | None = None
    verify_tls: bool = True
    http_client: HttpClient | None = attrs.field(
        default=None, validator=attrs.validators.optional(_one_of(*HTTP_CLIENTS))
    )
    headers: Mapping[str, str] = attrs.field(
        default=None, converter=_frozen_mapping, repr=masked_mapping, validator=_keep_secret_values
    )
    health_check_ttl: float = attrs.field(default=60.0, validator=_non_negative)
    extra: Mapping[str, Any] = attrs.field(
        default=None, converter=_frozen_mapping, repr=masked_mapping, validator=_keep_secret_values
    )
    weight: float | None = attrs.field(default=None, validator=_positive)
    rpm: int | None = attrs.field(default=None, validator=_positive)
    tpm: int | None = attrs.field(default=None, validator=_positive)
    max_retries: int | None = attrs.field(default=None, validator=_non_negative)
    capabilities: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_capabilities, validator=_known_capabilities
    )

    def with_defaults(self, defaults: BackendSettings | None) -> BackendSettings:
        """Fill every unset (``None`` or empty) field from ``defaults``."""
        if defaults is None:
            return self
        changes: dict[str, Any] = {}
        for field in attrs.fields(BackendSettings):
            mine = getattr(self, field.name)
            theirs = getattr(defaults, field.name)
            if field.name in ("headers", "extra"):
                if theirs:
                    changes[field.name] = {**theirs, **mine}
            elif mine is None and theirs is not None:
                changes[field.name] = theirs
        return attrs.evolve(self, **changes) if changes else self


@attrs.frozen(slots=True)
class BackendInfo:
    """One backend at a glance, for display: what :meth:`BackendRouter.backend_infos` lists.

    :param name: the backend's name.
    :param type: ``cloud`` or ``self_hosted``.
    :param model: the configured model.
    :param priority: tie-break priority (lower first).
    :param cost_per_token: average EUR per token, None when the price is unknown.
    :param healthy: the last health check's result, None when never checked.
    :param avg_latency: mean latency of recent calls, in ms.
    :param current_timeout: the timeout of one attempt, in seconds.
    :param success_rate: successes / calls, 1.0 before any call.
    :param misconfigured: why the router keeps the backend out as misconfigured (a wrong
        key, a missing model), None when it does not.
    :param price_source: where its prices come from (see :mod:`claudette.pricing`).
    """

    name: str
    type: str
    model: str | None
    priority: int
    cost_per_token: float | None
    healthy: bool | None
    avg_latency: float
    current_timeout: float
    success_rate: float
    misconfigured: str | None = None
    price_source: str = "unknown"
