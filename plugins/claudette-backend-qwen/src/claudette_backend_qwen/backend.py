"""The Qwen backend: Qwen on your own vLLM (or llama.cpp) server, or on Alibaba's DashScope.

Both speak OpenAI Chat Completions, so :class:`QwenBackend` is an
:class:`~claudette_backend_openai.OpenAICompatibleBackend` with Qwen's defaults and a
health check that also knows vLLM's ``/health``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import attrs
from claudette.errors import ConfigProblem
from claudette.pricing import TokenPrices
from claudette.types import BackendSettings
from claudette_backend_openai import OpenAICompatibleBackend

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DASHSCOPE_BASE_URLS",
    "DASHSCOPE_MODEL",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "QwenBackend",
    "is_dashscope_url",
    "registration_defaults",
    "resolve_settings",
    "server_root",
]

#: vLLM's default address (``vllm serve`` listens on port 8000).
DEFAULT_BASE_URL = "http://localhost:8000/v1"
#: The model a self-hosted server is assumed to serve.
DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"
#: Low temperature: Qwen-Coder is mostly asked for code.
DEFAULT_TEMPERATURE = 0.2
#: Environment variable holding the DashScope key.
API_KEY_ENV = "DASHSCOPE_API_KEY"
#: DashScope's OpenAI-compatible endpoints by ``extra.dashscope_region``.
DASHSCOPE_BASE_URLS: Mapping[str, str] = {
    "intl": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    "cn": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "us": "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
}
#: The model used on DashScope when the configuration names none.
DASHSCOPE_MODEL = "qwen-plus"
#: Health modes (``extra.health``): vLLM's /health then /models, only one of them.
HEALTH_MODES = ("auto", "health", "models")


def is_dashscope_url(url: str | None) -> bool:
    """True when ``url`` points at a DashScope host (``*.aliyuncs.com`` with dashscope)."""
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host.startswith("dashscope") and host.endswith(".aliyuncs.com")


def server_root(base_url: str) -> str:
    """The server root of an API base: ``http://h:8000/v1`` → ``http://h:8000``."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def registration_defaults() -> BackendSettings:
    """What the ``qwen`` plugin registers: only defaults that hold for every deployment.

    Base URL, model, backend type and prices depend on whether DashScope is used, so
    :func:`resolve_settings` fills them when a backend is created.
    """
    return BackendSettings(temperature=DEFAULT_TEMPERATURE, api_key_env=API_KEY_ENV)


def _configured_key(settings: BackendSettings) -> str | None:
    if settings.api_key:
        return settings.api_key
    return os.environ.get(settings.api_key_env) or None if settings.api_key_env else None


def _wants_dashscope(settings: BackendSettings) -> bool:
    if settings.base_url:
        return is_dashscope_url(settings.base_url)
    region = settings.extra.get("dashscope_region")
    return region in DASHSCOPE_BASE_URLS and _configured_key(settings) is not None


def resolve_settings(settings: BackendSettings) -> BackendSettings:
    """Fill Qwen's defaults for the deployment the settings describe.

    - DashScope when ``base_url`` points at DashScope, or when ``base_url`` is unset,
      ``extra.dashscope_region`` is ``intl``, ``cn`` or ``us`` and a key is configured
      (``api_key`` or ``$DASHSCOPE_API_KEY``): that region's compatible-mode URL, backend
      type ``cloud``, model ``qwen-plus``; no price (DashScope's are in no price table:
      configure one, or it is unknown).
    - Otherwise self-hosted (vLLM): ``http://localhost:8000/v1``, ``self_hosted``, free
      by the plugin's default (:meth:`QwenBackend.default_prices`), model ``Qwen/Qwen2.5-Coder-7B-Instruct``; the DashScope key from the environment is
      then *not* sent (set ``api_key`` or another ``api_key_env`` for a server started
      with ``--api-key``).
    """
    s = settings.with_defaults(registration_defaults())
    if _wants_dashscope(s):
        region = s.extra.get("dashscope_region")
        base = s.base_url or DASHSCOPE_BASE_URLS[str(region)]
        return s.with_defaults(
            BackendSettings(base_url=base, backend_type="cloud", model=DASHSCOPE_MODEL)
        )
    if s.api_key is None and s.api_key_env == API_KEY_ENV:
        s = attrs.evolve(s, api_key_env=None)
    return s.with_defaults(
        BackendSettings(
            base_url=DEFAULT_BASE_URL,
            backend_type="self_hosted",
            model=DEFAULT_MODEL,
        )
    )


class QwenBackend(OpenAICompatibleBackend):
    """Qwen through vLLM (self-hosted, the default) or DashScope's compatible mode.

    Sends ``max_tokens`` (what vLLM and DashScope accept) and asks for stream usage
    (vLLM reports it; llama.cpp does not, and the usage is then estimated). vLLM's
    ``reasoning_content`` is kept out of the answer, in ``metadata["reasoning_content"]``.

    ``settings.extra``: ``dashscope_region`` (``intl``, ``cn``, ``us``), ``health``
    (``auto``: vLLM's ``/health`` then ``/models``; ``health``; ``models``), plus the
    protocol options of :class:`~claudette_backend_openai.OpenAICompatibleBackend`.
    """

    max_tokens_field: ClassVar[str] = "max_tokens"
    #: vLLM (with a tool parser) and DashScope carry tools and JSON-schema output; images
    #: need a vision model (Qwen-VL): set ``capabilities`` in the settings for one.
    default_capabilities: ClassVar[frozenset[str]] = frozenset({"tools", "json_schema"})

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        given = settings or BackendSettings()
        resolved = resolve_settings(given)
        super().__init__(name, resolved, client=client)
        #: A DashScope region was asked for but no key was found (so it fell back to local).
        self._region_without_key = (
            given.base_url is None
            and given.extra.get("dashscope_region") in DASHSCOPE_BASE_URLS
            and not is_dashscope_url(resolved.base_url)
        )

    def default_prices(self) -> TokenPrices | None:
        """Free on a server of your own (no per-token fee); none on DashScope, whose
        prices are in no price table (configure one there, or the price is unknown)."""
        return None if self.is_dashscope else TokenPrices.free()

    @property
    def is_dashscope(self) -> bool:
        """True when this backend talks to DashScope rather than a server of your own."""
        return is_dashscope_url(self.settings.base_url)

    @property
    def health_mode(self) -> str:
        """How :meth:`health_check` asks: ``auto``, ``health`` or ``models``."""
        mode = self.settings.extra.get("health", "auto")
        return mode if mode in HEALTH_MODES else "auto"

    def config_problems(self) -> list[ConfigProblem]:
        """Protocol checks plus the DashScope region and key."""
        problems = super().config_problems()
        where = f"backends.{self.name}"
        extra: Mapping[str, Any] = self.settings.extra
        region = extra.get("dashscope_region")
        if region is not None and region not in DASHSCOPE_BASE_URLS:
            problems.append(
                ConfigProblem(
                    f"{where}.extra.dashscope_region",
                    f"must be one of {sorted(DASHSCOPE_BASE_URLS)}",
                )
            )
        elif self._region_without_key:
            problems.append(
                ConfigProblem(
                    f"{where}.api_key", f"DashScope needs an API key (set {API_KEY_ENV} or api_key)"
                )
            )
        if self.is_dashscope and not self.settings.api_key:
            problems.append(
                ConfigProblem(
                    f"{where}.api_key", f"DashScope needs an API key (set {API_KEY_ENV} or api_key)"
                )
            )
        health = extra.get("health")
        if health is not None and health not in HEALTH_MODES:
            problems.append(
                ConfigProblem(f"{where}.extra.health", f"must be one of {list(HEALTH_MODES)}")
            )
        return problems

    async def health_check(self) -> bool:
        """Free check: vLLM's ``GET /health`` (outside ``/v1``), else ``GET /models``.

        In ``auto`` mode a self-hosted server is asked ``/health`` first: 200 is healthy
        (and a vLLM server is then asked whether it serves the configured model, see
        :meth:`check_models`), 404/405 (a server without it, such as llama.cpp's Python
        server) falls back to ``/models``, anything else is unhealthy. DashScope is asked
        ``/models`` only. Never raises.
        """
        try:
            mode = self.health_mode
            if mode == "models" or (mode == "auto" and self.is_dashscope):
                return await self.check_models()
            status = await self.check_url(
                f"{server_root(self.settings.base_url or '')}/health", auth=False
            )
            if status == 200:
                return mode == "health" or await self.check_models(must_answer=False)
            if mode == "auto" and status in (404, 405):
                return await self.check_models()
            return False
        except Exception:  # a health check must never raise
            return False
