"""The router: choose a backend for each request, call it under its breaker, fall back."""

from __future__ import annotations

from claudette.router.backend_router import BackendRouter, Candidate, RouterCounters

__all__ = ["BackendRouter", "Candidate", "RouterCounters"]
