"""The entry point ``otel``: a :class:`~claudette_otel.ClaudetteTracing` on the global tracer
provider (which the application sets up with the OpenTelemetry SDK and an exporter; until
then, the API's no-op tracer records nothing)."""

from __future__ import annotations

from claudette_otel.tracing import ClaudetteTracing

__all__ = ["plugin"]

#: The instance the plugin manager registers.
plugin = ClaudetteTracing()
