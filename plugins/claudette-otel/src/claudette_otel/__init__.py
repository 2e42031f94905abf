"""OpenTelemetry traces of the claudette LLM router.

Install the package and its entry point ``otel`` (group ``claudette.plugins``) records a
span per routed request and a child span per attempt on the global tracer provider; or
register :class:`ClaudetteTracing` yourself with a provider of your own. See
``docs/observability.md`` in the claudette repository.
"""

from __future__ import annotations

from claudette_otel.tracing import CAPTURE_CONTENT_ENV, ClaudetteTracing, provider_name

__version__ = "0.1.0"

__all__ = ["CAPTURE_CONTENT_ENV", "ClaudetteTracing", "__version__", "provider_name"]
