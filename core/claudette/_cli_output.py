"""Terminal output for the ``claudette`` command: redacted printing, tables, a spinner.

Every line the command prints goes through :func:`out` or :func:`err`, which pass it
through :func:`claudette._redact.redact`, so a registered API key never reaches a terminal.
Results go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from claudette._redact import redact
from claudette.money import fmt_eur, round_money_fields

__all__ = ["Spinner", "err", "fmt_eur", "fmt_ms", "out", "out_json", "table"]


def _write(stream: TextIO, text: str, end: str, flush: bool) -> None:
    stream.write(redact(text) + end)
    if flush:
        stream.flush()


def out(text: str = "", *, end: str = "\n", flush: bool = False) -> None:
    """Print a result to stdout, secrets redacted."""
    _write(sys.stdout, text, end, flush)


def err(text: str = "", *, end: str = "\n", flush: bool = True) -> None:
    """Print a diagnostic to stderr, secrets redacted."""
    _write(sys.stderr, text, end, flush)


def out_json(data: Any, *, indent: int | None = 2) -> None:
    """Print ``data`` as JSON to stdout, secrets redacted."""
    out(
        json.dumps(round_money_fields(data), indent=indent, ensure_ascii=False, default=str),
        flush=True,
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Format rows under headers as aligned text columns (the last column is not padded)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def fmt_ms(value: float | None) -> str:
    """Milliseconds for display; ``-`` when unknown."""
    if value is None or value <= 0:
        return "-"
    return f"{value:.0f} ms"


class Spinner:
    """A progress indicator on stderr while waiting, shown only when stderr is a terminal.

    :param message: the text beside the spinner.
    :param stream: where to draw (default ``sys.stderr``).
    """

    _FRAMES = "|/-\\"

    def __init__(self, message: str = "waiting for an answer", stream: TextIO | None = None) -> None:
        self.message = message
        self.stream = stream if stream is not None else sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """True when the stream is an interactive terminal."""
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(0.1):
            frame = self._FRAMES[i % len(self._FRAMES)]
            self.stream.write(f"\r{frame} {self.message}")
            self.stream.flush()
            i += 1

    def start(self) -> Spinner:
        """Start drawing (a no-op when stderr is not a terminal)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="claudette-spinner", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop drawing and erase the spinner's line."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.stream.write("\r\x1b[K")
        self.stream.flush()

    def __enter__(self) -> Spinner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
