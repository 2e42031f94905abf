"""The cost ledger: one SQLite row per answered request, written off the event loop.

``[ledger] path = "~/.local/share/claudette/ledger.sqlite"`` turns it on. The router calls
:meth:`CostLedger.record` once per answer it returns (a fallback, a retry or a stream
adds no second row; a cache hit is a row with cost 0). ``record`` only puts the row on a
queue; one writer thread per ledger inserts what is queued in one transaction, so a
request never waits for the disk.

The file is in WAL mode: several routers, processes and ``claudette costs`` readers use
it at once, and a transaction that committed survives the process being killed. Each
row has a random id and is inserted with ``INSERT OR IGNORE``, so a row written twice is
counted once. :func:`read_rows` and :func:`summarise` are what ``claudette costs`` shows;
they read any number of ledger files (one per process or host, say).
"""

from __future__ import annotations

import atexit
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from claudette._log import logger

if TYPE_CHECKING:
    from claudette.types import ClaudetteResponse

__all__ = [
    "DEFAULT_LEDGER_PATH",
    "CostLedger",
    "LedgerRow",
    "SummaryKey",
    "default_ledger_path",
    "read_rows",
    "summarise",
]

#: Where the ledger lives when ``[ledger]`` names no path (under ``$XDG_DATA_HOME``).
DEFAULT_LEDGER_PATH = "~/.local/share/claudette/ledger.sqlite"
#: How ``claudette costs`` groups rows.
SummaryKey = Literal["backend", "model", "day"]
#: Seconds a writer or reader waits for another one's lock before it gives up.
BUSY_TIMEOUT_S = 30.0
#: Rows the writer inserts in one transaction at most.
_BATCH = 500
#: Seconds the writer thread waits for a row before it ends (the next row starts another).
IDLE_EXIT_S = 5.0
#: The largest count SQLite stores as an integer; a larger reported count is stored as this.
_MAX_COUNT = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    backend TEXT NOT NULL,
    model TEXT,
    tokens_input INTEGER NOT NULL,
    tokens_output INTEGER NOT NULL,
    tokens_cached_input INTEGER NOT NULL,
    tokens_cache_write INTEGER NOT NULL,
    tokens_reasoning INTEGER NOT NULL,
    cost_eur REAL NOT NULL,
    price_source TEXT,
    cache_hit INTEGER NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_at ON answers (at);
"""
_COLUMNS = (
    "id, at, backend, model, tokens_input, tokens_output, tokens_cached_input, "
    "tokens_cache_write, tokens_reasoning, cost_eur, price_source, cache_hit, pid"
)
_INSERT = f"INSERT OR IGNORE INTO answers ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"


def default_ledger_path() -> Path:
    """``$XDG_DATA_HOME/claudette/ledger.sqlite`` (``~/.local/share/...`` by default)."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "claudette" / "ledger.sqlite"


@attrs.frozen(slots=True)
class LedgerRow:
    """One answered request as the ledger keeps it.

    :param id: the row's unique id.
    :param at: when the answer was returned (Unix time, seconds).
    :param backend: the backend that answered.
    :param model: the model that answered.
    :param tokens_input: prompt tokens (cached and cache-write ones included).
    :param tokens_output: generated tokens (reasoning ones included).
    :param tokens_cached_input: prompt tokens read from the provider's cache.
    :param tokens_cache_write: prompt tokens written to the provider's cache.
    :param tokens_reasoning: reasoning tokens.
    :param cost_eur: what the caller was told the answer cost.
    :param price_source: where the prices came from (``unknown``: cost 0 for want of one).
    :param cache_hit: True when the answer came from claudette's response cache.
    :param pid: the process that wrote the row.
    """

    id: str
    at: float
    backend: str
    model: str | None
    tokens_input: int
    tokens_output: int
    tokens_cached_input: int
    tokens_cache_write: int
    tokens_reasoning: int
    cost_eur: float
    price_source: str | None
    cache_hit: bool
    pid: int

    @classmethod
    def of(cls, response: ClaudetteResponse, at: float | None = None) -> LedgerRow:
        """The row for ``response``, answered now (or at ``at``)."""
        r = response
        return cls(
            uuid.uuid4().hex,
            time.time() if at is None else at,
            r.backend_used,
            r.model,
            min(r.tokens_input, _MAX_COUNT),
            min(r.tokens_output, _MAX_COUNT),
            min(r.tokens_cached_input, _MAX_COUNT),
            min(r.tokens_cache_write, _MAX_COUNT),
            min(r.tokens_reasoning, _MAX_COUNT),
            r.cost_eur,
            r.price_source,
            r.cache_hit,
            os.getpid(),
        )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class _Flush:
    """A marker on the queue: set when every row queued before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class CostLedger:
    """An append-only ledger file of answered requests (see the module docs).

    The file and its tables are created (and checked writable) at construction, so a bad
    path fails at configuration time; the writer thread starts with the first row.

    :param path: the SQLite file (``~`` expanded; missing folders are created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.expanduser(os.fspath(path)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            conn.executescript(_SCHEMA)
        finally:
            conn.close()
        self._queue: queue.SimpleQueue[LedgerRow | _Flush | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._atexit = False
        #: Rows that could not be written (the error is logged); 0 in a healthy ledger.
        self.failed_rows = 0

    def __repr__(self) -> str:
        return f"<CostLedger {str(self.path)!r}>"

    # -- writing -------------------------------------------------------------------------

    def record(self, response: ClaudetteResponse) -> LedgerRow:
        """Queue the row of one answered request; never blocks, never raises for the disk."""
        row = LedgerRow.of(response)
        self.write(row)
        return row

    def write(self, row: LedgerRow) -> None:
        """Queue ``row`` (a row already written is not counted again)."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._queue.put(row)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name=f"claudette-ledger {self.path.name}", daemon=True
                )
                self._thread = thread
                thread.start()
                if not self._atexit:
                    self._atexit = True
                    atexit.register(self.close)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row queued so far is committed; False on timeout."""
        marker = _Flush()
        self._queue.put(marker)
        if self._thread is None:
            self._start()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Commit what is queued and stop the writer thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        if self._atexit:
            atexit.unregister(self.close)

    async def aclose(self) -> None:
        """:meth:`close`, without blocking the event loop."""
        import asyncio

        await asyncio.to_thread(self.close)

    def _run(self) -> None:
        conn = _connect(self.path)
        try:
            stop = False
            while not stop:
                try:
                    first = self._queue.get(timeout=IDLE_EXIT_S)
                except queue.Empty:
                    with self._lock:
                        # A row put before this check is seen here; one put after it
                        # finds no thread and starts the next one.
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                items = [first]
                while len(items) < _BATCH:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                rows = [i for i in items if isinstance(i, LedgerRow)]
                if rows:
                    self._insert(conn, rows)
                for item in items:
                    if item is None:
                        stop = True
                    elif isinstance(item, _Flush):
                        item.done.set()
        finally:
            conn.close()

    def _insert(self, conn: sqlite3.Connection, rows: Sequence[LedgerRow]) -> None:
        values = [attrs.astuple(r) for r in rows]
        for attempt in range(3):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, values)
                conn.execute("COMMIT")
                return
            except Exception as exc:  # the writer thread must outlive any bad row or disk
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if attempt == 2 or not isinstance(exc, sqlite3.OperationalError):
                    self.failed_rows += len(rows)
                    logger.error("cost ledger %s: %d rows not written: %s", self.path, len(rows), exc)
                    return
                time.sleep(0.1 * (attempt + 1))

    # -- reading ---------------------------------------------------------------------------

    def total_since(self, since: float) -> float:
        """EUR of every row written since ``since`` (Unix time), committed rows only."""
        return sum(r.cost_eur for r in read_rows([self.path], since))


def read_rows(paths: Iterable[str | os.PathLike[str]], since: float | None = None) -> list[LedgerRow]:
    """Every row of the ledger files at ``paths`` (answered at ``since`` or later), by time.

    A row present in two files is counted once.

    :raises FileNotFoundError: for a path with no ledger file.
    """
    seen: dict[str, LedgerRow] = {}
    for raw in paths:
        path = Path(os.path.expanduser(os.fspath(raw)))
        if not path.is_file():
            raise FileNotFoundError(f"no cost ledger at {path}")
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            query = f"SELECT {_COLUMNS} FROM answers"
            args: tuple[Any, ...] = ()
            if since is not None:
                query += " WHERE at >= ?"
                args = (since,)
            for values in conn.execute(query, args):
                row = LedgerRow(
                    id=values[0],
                    at=values[1],
                    backend=values[2],
                    model=values[3],
                    tokens_input=values[4],
                    tokens_output=values[5],
                    tokens_cached_input=values[6],
                    tokens_cache_write=values[7],
                    tokens_reasoning=values[8],
                    cost_eur=values[9],
                    price_source=values[10],
                    cache_hit=bool(values[11]),
                    pid=values[12],
                )
                seen.setdefault(row.id, row)
        finally:
            conn.close()
    return sorted(seen.values(), key=lambda r: r.at)


def summarise(rows: Iterable[LedgerRow], by: SummaryKey = "backend") -> list[dict[str, Any]]:
    """Rows grouped ``by`` backend, model or UTC day: answers, cache hits, tokens, EUR.

    ``unknown_price`` counts answers whose price was unknown (their cost is 0, so the
    group's total is a lower bound while it is above 0).
    """
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        if by == "backend":
            key = r.backend
        elif by == "model":
            key = r.model or "?"
        else:
            key = time.strftime("%Y-%m-%d", time.gmtime(r.at))
        g = groups.setdefault(
            key,
            {
                by: key,
                "answers": 0,
                "cache_hits": 0,
                "tokens_input": 0,
                "tokens_output": 0,
                "tokens_cached_input": 0,
                "tokens_reasoning": 0,
                "cost_eur": 0.0,
                "unknown_price": 0,
            },
        )
        g["answers"] += 1
        g["cache_hits"] += int(r.cache_hit)
        g["tokens_input"] += r.tokens_input
        g["tokens_output"] += r.tokens_output
        g["tokens_cached_input"] += r.tokens_cached_input
        g["tokens_reasoning"] += r.tokens_reasoning
        g["cost_eur"] += r.cost_eur
        g["unknown_price"] += int(r.price_source == "unknown" and not r.cache_hit)
    return [groups[k] for k in sorted(groups)]
