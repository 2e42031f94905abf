"""``GET /metrics``: the router's Prometheus metrics, from the ``claudette-prometheus`` plugin.

The plugin counts every routed request through claudette's observer hooks on
prometheus-client's default registry; the gateway serves that registry's text exposition.
Without the plugin installed, ``/metrics`` answers 404 saying what to install.

With several workers each one counts in its own process, so a scrape must not read only the
worker that answers it. :func:`multiprocess_directory` (in the serving parent) gives them a
private ``PROMETHEUS_MULTIPROC_DIR`` before they start, where prometheus-client's
multiprocess mode keeps every worker's values; the exposition then renders a fresh registry
with ``MultiProcessCollector`` on each scrape, the sum of all workers'.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["MULTIPROC_ENV", "Exposition", "multiprocess_directory", "prometheus_exposition", "worker_exit"]

#: Renders the metrics: ``(content type, body)``.
Exposition = Callable[[], tuple[bytes, bytes]]
#: Where prometheus-client's multiprocess mode keeps the values of every process.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prometheus_exposition() -> Exposition | None:
    """The exposition of ``claudette-prometheus``'s default metrics, or None without it.

    Under :data:`MULTIPROC_ENV` it aggregates every process's values; otherwise it renders
    this process's default registry.
    """
    try:
        from claudette_prometheus import CONTENT_TYPE, default_metrics  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    metrics = default_metrics()
    content_type = CONTENT_TYPE.encode()
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        def render_all() -> tuple[bytes, bytes]:
            registry = CollectorRegistry()  # fresh each scrape, as prometheus-client documents
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return content_type, generate_latest(registry)

        return render_all

    def render() -> tuple[bytes, bytes]:
        return content_type, metrics.exposition()

    return render


def worker_exit() -> None:
    """Drop this process's live gauges from the multiprocess directory (a worker stopping).

    Its counters and histograms stay, so totals keep counting what it served; its
    ``requests_in_flight`` stops counting in the sum. Nothing to do outside that mode.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    try:
        from prometheus_client.multiprocess import mark_process_dead
    except ImportError:
        return
    mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[str | None]:
    """Set up prometheus-client's multiprocess mode for ``workers`` processes.

    With more than one worker, and no :data:`MULTIPROC_ENV` of the user's, make a private
    temporary directory, name it in the environment the workers inherit, and remove both on
    exit. A directory the user set is kept, and left in place. One worker keeps the
    ordinary in-process registry (no files, and the ``process_*`` metrics stay).
    Enter it before prometheus-client is imported: it picks its mode at import.

    :returns: the directory in use, or None outside multiprocess mode.
    """
    own = os.environ.get(MULTIPROC_ENV)
    if own or workers <= 1:
        yield own or None
        return
    directory = tempfile.mkdtemp(prefix="claudette-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        if os.environ.get(MULTIPROC_ENV) == directory:
            del os.environ[MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)
