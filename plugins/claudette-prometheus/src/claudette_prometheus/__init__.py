"""Prometheus metrics of the claudette LLM router.

Install the package and its entry point ``prometheus`` (group ``claudette.plugins``)
counts every routed request on prometheus-client's default registry
(:func:`default_metrics`); or register a :class:`ClaudetteMetrics` on a registry of your
own. See ``docs/observability.md`` in the claudette repository for the metric names.
"""

from __future__ import annotations

import threading

from claudette_prometheus.metrics import CONTENT_TYPE, METRICS, ClaudetteMetrics

__version__ = "0.1.0"

__all__ = ["CONTENT_TYPE", "METRICS", "ClaudetteMetrics", "__version__", "default_metrics"]

_default: ClaudetteMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> ClaudetteMetrics:
    """The metrics on prometheus-client's default registry, made on the first call.

    The installed plugin counts here; ``prometheus_client.start_http_server(port)`` or
    ``make_asgi_app()`` serves them.
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from prometheus_client import REGISTRY

                _default = ClaudetteMetrics(REGISTRY)
    return _default
