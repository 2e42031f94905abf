"""A built-in pre-processing plugin: squeeze the whitespace and comments out of long prompts.

It ships with claudette-core and is supported like the rest of it, but it is off until you
register it with a plugin manager (no entry point loads it); it then runs through
``claudette_preprocess_request`` before each attempt::

    from claudette import ClaudettePlugins
    from claudette.compress import PromptCompressor

    plugins = ClaudettePlugins(plugins=[PromptCompressor(min_chars=2000)])

Messages shorter than ``min_chars`` are left alone. Longer ones lose HTML comments
(``<!-- ... -->``), trailing spaces, runs of spaces and tabs, and runs of blank lines;
with ``strip_code_comments=True`` also whole-line ``#`` and ``//`` comments inside fenced
code blocks. Indentation at the start of a line is kept (it matters in code).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs

from claudette.hookspecs import hookimpl

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.types import ClaudetteRequest

__all__ = ["PromptCompressor", "compress_text"]

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_INNER_SPACES = re.compile(r"(?<=\S)[ \t]{2,}")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINE_COMMENT = re.compile(r"^\s*(#|//)")


def _strip_code_comments(text: str) -> str:
    out: list[str] = []
    in_code = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
        elif in_code and _LINE_COMMENT.match(line):
            continue
        out.append(line)
    return "\n".join(out)


def compress_text(text: str, *, strip_code_comments: bool = False) -> str:
    """``text`` without comments and redundant whitespace (meaning kept)."""
    text = _HTML_COMMENT.sub("", text)
    if strip_code_comments:
        text = _strip_code_comments(text)
    text = _TRAILING.sub("", text)
    text = _INNER_SPACES.sub(" ", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


class PromptCompressor:
    """The plugin: compresses every message of at least ``min_chars`` characters.

    :param min_chars: shorter messages are sent unchanged.
    :param strip_code_comments: also drop whole-line comments inside fenced code.
    """

    def __init__(self, min_chars: int = 2000, *, strip_code_comments: bool = False) -> None:
        self.min_chars = min_chars
        self.strip_code_comments = strip_code_comments

    @hookimpl
    def claudette_preprocess_request(
        self, request: ClaudetteRequest, backend: BaseBackend
    ) -> ClaudetteRequest | None:
        """The request with its long messages compressed, or None when nothing changed."""
        if request.text_length < self.min_chars:
            return None
        changed = False

        def squeeze(content: str) -> str:
            nonlocal changed
            if len(content) < self.min_chars:
                return content
            new = compress_text(content, strip_code_comments=self.strip_code_comments)
            if new != content:
                changed = True
            return new

        messages = tuple(
            attrs.evolve(m, content=squeeze(m.content)) if isinstance(m.content, str) else m
            for m in request.messages
        )
        prompt = squeeze(request.prompt) if request.prompt is not None else None
        if not changed:
            return None
        return attrs.evolve(request, messages=messages, prompt=prompt)
