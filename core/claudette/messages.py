"""What a conversation is made of: messages, their parts, tools and tool calls.

Every value is a frozen attrs class, validated where it is built. OpenAI-format dicts are
accepted wherever a part, a message, a tool or a tool call is, and turned into these
classes at once, so a backend only ever translates one shape into its provider's.

A plain-text message (``content`` a ``str``, no tool calls) costs one type check: the
normalisation below runs only for messages that carry parts or tool calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from claudette.errors import RequestValidationError

__all__ = [
    "CAPABILITIES",
    "IMAGE_TOKEN_ESTIMATE",
    "ImagePart",
    "Message",
    "Part",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "parse_arguments",
    "to_message",
    "to_tool",
    "to_tool_call",
]

#: The features a request may need and a backend may lack (``BaseBackend.capabilities``).
CAPABILITIES = frozenset({"tools", "images", "json_schema"})
#: Tokens an image is assumed to cost in estimates (budget, rate limits, scoring): about
#: what one mid-sized picture costs on the large providers.
IMAGE_TOKEN_ESTIMATE = 1000
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


def check_text(name: str, value: object) -> None:
    """Refuse a value that is not a ``str`` of sendable (valid Unicode) text."""
    if not isinstance(value, str):
        raise RequestValidationError(f"{name} must be a string, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: it cannot be sent at all
            raise RequestValidationError(
                f"{name} is not valid Unicode text (lone surrogate at position {exc.start})"
            ) from None


def _json_object(name: str, value: object) -> dict[str, Any]:
    """A JSON-serialisable dict (a copy), or a clear error."""
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{name} must be a JSON object (dict), got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value)))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise RequestValidationError(f"{name} is not JSON-serialisable: {exc}") from None


# -- parts ---------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class TextPart:
    """A piece of text in a message.

    :param text: the text.
    """

    text: str

    def __attrs_post_init__(self) -> None:
        check_text("text part", self.text)


@attrs.frozen(slots=True)
class ImagePart:
    """An image in a message: by URL, or inline as base64 ``data`` with its ``media_type``.

    A ``data:`` URL (``data:image/png;base64,...``) given as ``url`` is split into ``data``
    and ``media_type``, so every backend sees inline images one way.

    :param url: an ``http(s)://`` URL of the image.
    :param data: the image bytes, base64-encoded.
    :param media_type: the image's type (``image/png``, ``image/jpeg`` ...); required with ``data``.
    """

    url: str | None = None
    data: str | None = None
    media_type: str | None = None

    def __attrs_post_init__(self) -> None:
        url = self.url
        if url is not None:
            check_text("image url", url)
            if url.startswith("data:"):
                if self.data is not None:
                    raise RequestValidationError("an image part takes a url or data, not both")
                header, sep, payload = url[5:].partition(",")
                media_type, _, encoding = header.partition(";")
                if not sep or encoding != "base64" or not media_type:
                    raise RequestValidationError(
                        "an image data URL must look like 'data:image/png;base64,<data>'"
                    )
                object.__setattr__(self, "url", None)
                object.__setattr__(self, "data", payload)
                object.__setattr__(self, "media_type", media_type)
            elif not url.startswith(("http://", "https://")):
                raise RequestValidationError(
                    f"an image url must be http(s):// or a data: URL, got {url[:40]!r}"
                )
        if (self.url is None) == (self.data is None):
            raise RequestValidationError("an image part needs exactly one of url or data")
        if self.data is not None:
            check_text("image data", self.data)
            if not self.media_type or not self.media_type.startswith("image/"):
                raise RequestValidationError(
                    "inline image data needs a media_type such as 'image/png', "
                    f"got {self.media_type!r}"
                )
            if not self.data or _BASE64.fullmatch(self.data) is None:
                raise RequestValidationError("image data must be base64-encoded (non-empty)")

    @property
    def data_url(self) -> str:
        """The image as one URL: its ``url``, or a ``data:`` URL of the inline bytes."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{self.data}"


#: One part of a message's content.
Part = TextPart | ImagePart


def to_part(value: object, where: str) -> Part:
    """A :data:`Part` from a part or an OpenAI-format part dict."""
    if isinstance(value, (TextPart, ImagePart)):
        return value
    if not isinstance(value, Mapping):
        raise RequestValidationError(
            f"{where} must be a TextPart, an ImagePart or a dict, got {type(value).__name__}"
        )
    kind = value.get("type")
    if kind == "text":
        if "text" not in value:
            raise RequestValidationError(f"{where} of type 'text' lacks 'text'")
        return TextPart(value["text"])
    if kind == "image_url":
        image = value.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise RequestValidationError(f"{where} of type 'image_url' lacks image_url.url")
        return ImagePart(url=url)
    if kind == "image":  # claudette's own shape, as ``to_dict`` writes it
        return ImagePart(value.get("url"), value.get("data"), value.get("media_type"))
    raise RequestValidationError(
        f"{where} has type {kind!r}; expected 'text' or 'image_url'"
    )


# -- tools ---------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Tool:
    """A function the model may call.

    :param name: the function's name (letters, digits, ``_`` and ``-``).
    :param description: what it does, for the model.
    :param parameters: a JSON schema of its arguments (an ``object`` schema).
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(factory=lambda: dict(_EMPTY_SCHEMA))

    def __attrs_post_init__(self) -> None:
        check_text("tool name", self.name)
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise RequestValidationError(
                f"a tool name may hold only letters, digits, '_' and '-', got {self.name!r}"
            )
        check_text(f"description of tool {self.name!r}", self.description)
        object.__setattr__(
            self, "parameters", _json_object(f"parameters of tool {self.name!r}", self.parameters)
        )

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {...}}`` shape."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}


def to_tool(value: object, where: str = "tool") -> Tool:
    """A :class:`Tool` from a tool, OpenAI's function shape or ``{"name", ...}``."""
    if isinstance(value, Tool):
        return value
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{where} must be a Tool or a dict, got {type(value).__name__}")
    spec: Any = value
    if value.get("type") == "function" or "function" in value:
        spec = value.get("function")
        if not isinstance(spec, Mapping):
            raise RequestValidationError(f"{where} of type 'function' lacks its 'function' object")
    if "name" not in spec:
        raise RequestValidationError(f"{where} lacks 'name'")
    unknown = set(spec) - {"name", "description", "parameters", "strict"}
    if unknown:
        raise RequestValidationError(f"{where} has unknown keys {sorted(unknown)}")
    return Tool(
        spec["name"],
        spec.get("description") or "",
        spec.get("parameters") if spec.get("parameters") is not None else dict(_EMPTY_SCHEMA),
    )


@attrs.frozen(slots=True)
class ToolCall:
    """A call the model asked for.

    :param id: the call's id; a tool result answers it with the same ``tool_call_id``.
    :param name: the tool's name.
    :param arguments: the parsed JSON arguments (a dict).
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_text("tool call id", self.id)
        check_text("tool call name", self.name)
        object.__setattr__(
            self, "arguments", _json_object(f"arguments of tool call {self.id!r}", self.arguments)
        )

    @property
    def arguments_json(self) -> str:
        """The arguments as a compact JSON string (how OpenAI-format servers carry them)."""
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's ``{"id", "type": "function", "function": {"name", "arguments"}}`` shape."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


def parse_arguments(raw: object, what: str) -> dict[str, Any]:
    """Tool-call arguments as a dict: a JSON object string, a dict, or empty for ``""``/None.

    :raises ValueError: naming ``what`` when ``raw`` is not a JSON object (the backends turn
        it into a retryable ``ResponseFormatError``).
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise ValueError(f"the arguments of {what} are {type(raw).__name__}, not a JSON object")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(f"the arguments of {what} are not valid JSON: {raw[:80]!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"the arguments of {what} are not a JSON object: {raw[:80]!r}")
    return value


def to_tool_call(value: object, where: str = "tool call") -> ToolCall:
    """A :class:`ToolCall` from a call, OpenAI's shape or ``{"id", "name", "arguments"}``."""
    if isinstance(value, ToolCall):
        return value
    if not isinstance(value, Mapping):
        raise RequestValidationError(
            f"{where} must be a ToolCall or a dict, got {type(value).__name__}"
        )
    spec: Any = value.get("function") if "function" in value else value
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise RequestValidationError(f"{where} lacks function.name")
    if "id" not in value:
        raise RequestValidationError(f"{where} lacks 'id'")
    try:
        arguments = parse_arguments(spec.get("arguments"), where)
    except ValueError as exc:
        raise RequestValidationError(str(exc)) from None
    return ToolCall(value["id"], spec["name"], arguments)


@attrs.frozen(slots=True)
class ToolCallDelta:
    """A piece of a tool call in a stream (``StreamChunk.tool_call_deltas``).

    The first piece of a call carries its ``index``, ``id`` and ``name``; later pieces carry
    the same ``index`` and more of ``arguments``, a fragment of the JSON text. Joined in
    order, the fragments of one index are the call's whole arguments; the final chunk's
    response carries every call whole and parsed (``ClaudetteResponse.tool_calls``).

    :param index: which call of the answer the piece belongs to (0, 1 ...).
    :param id: the call's id (on its first piece), else None.
    :param name: the tool's name (on its first piece), else None.
    :param arguments: the next fragment of the arguments' JSON text.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


# -- messages --------------------------------------------------------------------------------


def _to_content(value: str | Sequence[Part | Mapping[str, Any]] | None) -> str | tuple[Part, ...]:
    """A message's content: its text (None: ""), or its parts normalised."""
    if value.__class__ is str:  # plain text: the common case, one check
        return value
    if value is None:
        return ""  # an assistant message of tool calls only, as OpenAI writes it
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return tuple(to_part(p, f"content part {i}") for i, p in enumerate(value))
    raise RequestValidationError(
        f"message content must be a string or a sequence of parts, got {type(value).__name__}"
    )


@attrs.frozen(slots=True)
class Message:
    """One chat message.

    :param role: ``system``, ``user``, ``assistant`` or ``tool``.
    :param content: its text, or a sequence of parts (:class:`TextPart`, :class:`ImagePart`
        or OpenAI-format part dicts).
    :param tool_calls: an assistant message's calls (:class:`ToolCall` or OpenAI-format dicts).
    :param tool_call_id: the call a ``tool`` message answers (without one, a tool message
        is plain text, sent as each provider sends text in that role).
    :param name: the tool's name on a ``tool`` message (optional: it is found from the call).
    """

    role: str
    content: str | tuple[Part, ...] = attrs.field(converter=_to_content)
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), kw_only=True)
    tool_call_id: str | None = attrs.field(default=None, kw_only=True)
    name: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.role not in _ROLES:
            raise RequestValidationError(
                f"message role must be one of {sorted(_ROLES)}, got {self.role!r}"
            )
        content = self.content
        if content.__class__ is str and not content.isascii():
            check_text("message content", content)
        if self.tool_calls:
            if self.role != "assistant":
                raise RequestValidationError("only an assistant message carries tool_calls")
            if isinstance(self.tool_calls, (str, bytes, Mapping)) or not isinstance(
                self.tool_calls, Sequence
            ):
                raise RequestValidationError("tool_calls must be a sequence of tool calls")
            object.__setattr__(
                self,
                "tool_calls",
                tuple(to_tool_call(c, f"tool_calls[{i}]") for i, c in enumerate(self.tool_calls)),
            )
        elif self.tool_calls.__class__ is not tuple:
            object.__setattr__(self, "tool_calls", ())
        if self.role == "tool":
            # Without a tool_call_id it is a tool's output as plain text (no call to answer).
            if self.tool_call_id is not None:
                check_text("tool_call_id", self.tool_call_id)
            if self.has_images:
                raise RequestValidationError("a tool message carries text, not images")
        elif self.tool_call_id is not None:
            raise RequestValidationError("only a tool message carries a tool_call_id")
        if self.name is not None:
            check_text("message name", self.name)

    @property
    def text(self) -> str:
        """The message's text: its content, or its text parts joined."""
        content = self.content
        if content.__class__ is str:
            return content
        return "".join(p.text for p in content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The message's images, in order."""
        if self.content.__class__ is str:
            return ()
        return tuple(p for p in self.content if isinstance(p, ImagePart))

    @property
    def has_images(self) -> bool:
        """True when an image is among the parts."""
        return self.content.__class__ is not str and any(
            isinstance(p, ImagePart) for p in self.content
        )

    @property
    def is_empty(self) -> bool:
        """True when the message says nothing: no text, image or tool call."""
        if self.content.__class__ is str:
            return not self.content.strip() and not self.tool_calls and self.role != "tool"
        return not self.text.strip() and not self.has_images and not self.tool_calls

    def to_dict(self) -> dict[str, Any]:
        """The message in OpenAI's format (what :func:`to_message` reads back)."""
        out: dict[str, Any] = {"role": self.role}
        content = self.content
        if isinstance(content, str):
            out["content"] = content
        else:
            out["content"] = [
                {"type": "text", "text": p.text}
                if isinstance(p, TextPart)
                else {"type": "image_url", "image_url": {"url": p.data_url}}
                for p in content
            ]
        if self.tool_calls:
            out["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name"})


def to_message(value: object, where: str) -> Message:
    """A :class:`Message` from a message or an OpenAI-format message dict."""
    if isinstance(value, Message):
        return value
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{where} must be a Message or a dict, got {type(value).__name__}")
    if "role" not in value:
        raise RequestValidationError(f"{where} lacks 'role'")
    if "content" not in value and not value.get("tool_calls"):
        raise RequestValidationError(f"{where} lacks 'content'")
    if len(value) == 2 and "content" in value:  # {"role", "content"}: the common case
        return Message(value["role"], value["content"])
    unknown = set(value) - _MESSAGE_KEYS
    if unknown:
        raise RequestValidationError(f"{where} has unknown keys {sorted(unknown)}")
    calls = value.get("tool_calls") or ()
    try:
        return Message(
            value["role"],
            value.get("content"),
            tool_calls=calls,
            tool_call_id=value.get("tool_call_id"),
            name=value.get("name"),
        )
    except RequestValidationError as exc:
        raise RequestValidationError(f"{where}: {exc}") from None
