"""``GET /metrics``: the router's Prometheus metrics, from the ``claudette-prometheus`` plugin.

The plugin counts every routed request through claudette's observer hooks on
prometheus-client's default registry; the gateway serves that registry's text exposition.
Without the plugin installed, ``/metrics`` answers 404 saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Exposition", "prometheus_exposition"]

#: Renders the metrics: ``(content type, body)``.
Exposition = Callable[[], tuple[bytes, bytes]]


def prometheus_exposition() -> Exposition | None:
    """The exposition of ``claudette-prometheus``'s default metrics, or None without it."""
    try:
        from claudette_prometheus import CONTENT_TYPE, default_metrics  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    metrics = default_metrics()
    content_type = CONTENT_TYPE.encode()

    def render() -> tuple[bytes, bytes]:
        return content_type, metrics.exposition()

    return render
