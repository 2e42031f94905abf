"""A deterministic stand-in for a model, shared by the provider emulators.

Each emulator reads its provider's wire request into a :class:`Conversation` (the same
facts whatever the format) and renders the :class:`Turn` that :func:`next_turn` decides
back in its provider's format. So every emulator answers a tool conversation alike, and
a test can check one provider against another.

The rules, in order:

1. the last message holds tool results: answer text quoting them
   (``"Tool results: <content>; <content>"``), as JSON when a response format asks for it;
2. tools are offered and ``tool_choice`` is not ``none``: call the forced tool, or (under
   ``required``) the first one, or (under ``auto``) every tool whose name the last user
   text mentions, in the order offered (several: parallel calls). Arguments follow the
   tool's schema: a string property gets the last word of the last user text, an integer
   1, a number 1.5, a boolean true, an enum its first value;
3. a response format is set: a JSON object (the schema's properties filled as above;
   ``{"answer": <last word>}`` for ``json_object``);
4. otherwise: ``None`` (the emulator answers text in its usual way); with images in the
   last user message, :attr:`Turn.image_note` says how many it saw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["Conversation", "ScriptedCall", "Turn", "fill_schema", "next_turn"]

_WORD = re.compile(r"[\w-]+")


@attrs.frozen
class ScriptedCall:
    """A tool call the scripted model makes.

    :param name: the tool.
    :param arguments: its arguments.
    """

    name: str
    arguments: Mapping[str, Any]


@attrs.frozen
class Conversation:
    """What a request says, in no provider's format.

    :param last_role: ``user``, ``assistant`` or ``tool`` (tool results are ``tool``).
    :param last_user_text: the text of the last user message.
    :param tool_results: the contents of the trailing tool results, in order.
    :param tools: each offered tool's name and parameter schema, in order.
    :param tool_choice: ``auto``, ``none``, ``required`` or a tool's name (None: auto).
    :param json_schema: the response schema asked for; ``{}`` for plain JSON mode; None.
    :param images: images in the last user message.
    """

    last_role: str
    last_user_text: str
    tool_results: tuple[str, ...] = ()
    tools: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    tool_choice: str | None = None
    json_schema: Mapping[str, Any] | None = None
    images: int = 0


@attrs.frozen
class Turn:
    """What the scripted model answers: tool calls, or text (None: the emulator's own).

    :param calls: tool calls (empty when it answers text).
    :param text: the answer text, when the rules fix it.
    :param image_note: ``"[N image(s)] "`` when the last user message had images.
    """

    calls: tuple[ScriptedCall, ...] = ()
    text: str | None = None
    image_note: str = ""


def _last_word(text: str) -> str:
    words = _WORD.findall(text)
    return words[-1] if words else "nothing"


def fill_schema(schema: Mapping[str, Any], word: str) -> Any:
    """A value that fits ``schema`` (see the module's rules), using ``word`` for strings."""
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, Mapping):
            return {}
        return {k: fill_schema(v if isinstance(v, Mapping) else {}, word) for k, v in props.items()}
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        return [fill_schema(items, word)] if isinstance(items, Mapping) else []
    if kind == "null":
        return None
    return word


def _json_text(conversation: Conversation, answer: str) -> str | None:
    schema = conversation.json_schema
    if schema is None:
        return None
    if not schema:
        return json.dumps({"answer": answer})
    return json.dumps(fill_schema(schema, answer))


def next_turn(conversation: Conversation) -> Turn:
    """The scripted model's answer to ``conversation`` (see the module's rules)."""
    c = conversation
    note = f"[{c.images} image{'s' if c.images != 1 else ''}] " if c.images else ""
    word = _last_word(c.last_user_text)
    if c.last_role == "tool":
        text = "Tool results: " + "; ".join(c.tool_results)
        json_text = _json_text(c, "; ".join(c.tool_results))
        return Turn(text=json_text if json_text is not None else text)
    choice = c.tool_choice or "auto"
    if c.tools and choice != "none":
        chosen: Sequence[tuple[str, Mapping[str, Any]]]
        if choice == "required":
            chosen = c.tools[:1]
        elif choice == "auto":
            words = set(_WORD.findall(c.last_user_text))
            chosen = [t for t in c.tools if t[0] in words]
        else:
            chosen = [t for t in c.tools if t[0] == choice]
        if chosen:
            return Turn(
                calls=tuple(ScriptedCall(name, fill_schema(schema, word)) for name, schema in chosen)
            )
    json_text = _json_text(c, word)
    if json_text is not None:
        return Turn(text=json_text, image_note=note)
    return Turn(image_note=note)
