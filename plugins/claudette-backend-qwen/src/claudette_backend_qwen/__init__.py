"""claudette backend for Qwen: self-hosted vLLM (default) or Alibaba DashScope.

It reuses the OpenAI-compatible protocol of ``claudette-backend-openai``
(:class:`~claudette_backend_openai.OpenAICompatibleBackend`); only Qwen's defaults,
the DashScope endpoint choice and vLLM's ``/health`` check live here.
"""

from __future__ import annotations

from claudette_backend_qwen.backend import (
    DASHSCOPE_BASE_URLS,
    DASHSCOPE_MODEL,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    QwenBackend,
    is_dashscope_url,
    resolve_settings,
    server_root,
)

__version__ = "0.1.0"

__all__ = [
    "DASHSCOPE_BASE_URLS",
    "DASHSCOPE_MODEL",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "QwenBackend",
    "__version__",
    "is_dashscope_url",
    "resolve_settings",
    "server_root",
]
