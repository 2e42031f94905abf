"""claudette: route each LLM request to the best provider backend, and survive their failures.

Everything a user or a plugin author needs is importable from here; test helpers live in
:mod:`claudette.testing`. Importing claudette loads no plugin and touches no network:
plugins are discovered on the first :func:`get_plugin_manager` call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claudette._log import get_logger
from claudette.backend import Backend, BaseBackend
from claudette.breaker import CircuitBreaker, CircuitBreakerState
from claudette.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    BudgetExceededError,
    ClaudetteError,
    ConfigError,
    ConfigProblem,
    InvalidRequestError,
    NoBackendAvailableError,
    PluginError,
    QuotaExceededError,
    RateLimitError,
    RequestValidationError,
    ResponseFormatError,
    StreamInterruptedError,
)
from claudette.hookspecs import hookimpl
from claudette.messages import ImagePart, TextPart, Tool, ToolCall, ToolCallDelta
from claudette.plugins import BackendPluginRegistry, ClaudettePlugins, get_plugin_manager
from claudette.pricing import TokenPrices
from claudette.request_context import RequestContext
from claudette.router import BackendRouter
from claudette.state import BackendStats, InMemoryStateStore, StateStore
from claudette.types import (
    BackendInfo,
    BackendSettings,
    BreakerPolicy,
    ClaudetteRequest,
    ClaudetteResponse,
    GenerationOptions,
    Message,
    RouterOptions,
    StreamChunk,
)

if TYPE_CHECKING:
    from claudette.config import ClaudetteConfig, load_config
    from claudette.factory import open_router, router_from_config
    from claudette.pattern_routers import (
        AdaptiveRouter,
        IntelligentBackendCache,
        LoadBalancingRouter,
        MultiRegionRouter,
    )
    from claudette.sync import SyncRouter

__version__ = "0.1.0"

__all__ = [
    "AdaptiveRouter",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendInfo",
    "BackendPluginRegistry",
    "BackendRouter",
    "BackendSettings",
    "BackendStats",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "BaseBackend",
    "BreakerPolicy",
    "BudgetExceededError",
    "CircuitBreaker",
    "CircuitBreakerState",
    "ClaudetteConfig",
    "ClaudetteError",
    "ClaudettePlugins",
    "ClaudetteRequest",
    "ClaudetteResponse",
    "ConfigError",
    "ConfigProblem",
    "GenerationOptions",
    "ImagePart",
    "InMemoryStateStore",
    "IntelligentBackendCache",
    "InvalidRequestError",
    "LoadBalancingRouter",
    "Message",
    "MultiRegionRouter",
    "NoBackendAvailableError",
    "PluginError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestContext",
    "RequestValidationError",
    "ResponseFormatError",
    "RouterOptions",
    "StateStore",
    "StreamChunk",
    "StreamInterruptedError",
    "SyncRouter",
    "TextPart",
    "TokenPrices",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "__version__",
    "get_logger",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
    "open_router",
    "router_from_config",
]

# Loaded on first use: config pulls in cattrs and tomllib, which most routers never need.
_LAZY = {
    "AdaptiveRouter": "claudette.pattern_routers",
    "IntelligentBackendCache": "claudette.pattern_routers",
    "LoadBalancingRouter": "claudette.pattern_routers",
    "MultiRegionRouter": "claudette.pattern_routers",
    "ClaudetteConfig": "claudette.config",
    "load_config": "claudette.config",
    "open_router": "claudette.factory",
    "router_from_config": "claudette.factory",
    "SyncRouter": "claudette.sync",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'claudette' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
