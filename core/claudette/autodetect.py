"""Find backends to use when there is no config file.

``claudette ask`` without a ``claudette.toml`` looks at the environment and the local
machine, and keeps every backend whose plugin is installed:

==========================  ============  =====================================================
what is found               plugin        backend name and settings
==========================  ============  =====================================================
``$OPENAI_API_KEY``         ``openai``    ``openai`` (``$OPENAI_BASE_URL`` overrides the URL)
``$ANTHROPIC_API_KEY``      ``claude``    ``claude`` (``$ANTHROPIC_BASE_URL`` overrides the URL)
``$DASHSCOPE_API_KEY``      ``qwen``      ``qwen`` on DashScope (``$DASHSCOPE_BASE_URL`` overrides)
an Ollama server            ``ollama``    ``ollama``: ``$OLLAMA_HOST`` or ``127.0.0.1:11434``,
                                          ``GET /api/tags`` answers; its first model
an OpenAI-compatible server ``qwen``      ``local``: ``http://127.0.0.1:8000/v1``
                                          (``$CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL``),
                                          ``GET /models`` answers; its first model
==========================  ============  =====================================================

Local servers are probed concurrently with a short timeout (0.3 s), so detection costs at
most that long. Nothing is sent that could cost money.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from claudette.types import BackendSettings

if TYPE_CHECKING:
    import httpx

    from claudette.plugins import BackendPluginRegistry, ClaudettePlugins
    from claudette.router import BackendRouter
    from claudette.types import RouterOptions

__all__ = [
    "DASHSCOPE_BASE_URL",
    "DEFAULT_OLLAMA_PORT",
    "DEFAULT_OPENAI_COMPAT_URL",
    "OPENAI_COMPAT_URL_ENV",
    "PROBE_TIMEOUT",
    "DetectedBackend",
    "Detection",
    "detect_backends",
    "ollama_base_url",
    "router_from_detection",
]

#: Seconds a local server has to answer a probe.
PROBE_TIMEOUT = 0.3
#: Ollama's default port.
DEFAULT_OLLAMA_PORT = 11434
#: Where a self-hosted OpenAI-compatible server (vLLM, llama.cpp ...) is looked for.
DEFAULT_OPENAI_COMPAT_URL = "http://127.0.0.1:8000/v1"
#: Environment variable that moves the OpenAI-compatible probe elsewhere.
OPENAI_COMPAT_URL_ENV = "CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL"
#: DashScope's OpenAI-compatible endpoint (international region).
DASHSCOPE_BASE_URL = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"

# (plugin, backend name, key variable, base-URL variable, default base URL)
_CLOUD = (
    ("openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", None),
    ("claude", "claude", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", None),
    ("qwen", "qwen", "DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", DASHSCOPE_BASE_URL),
)


@attrs.frozen
class DetectedBackend:
    """One backend found in the environment.

    :param name: its name in the router.
    :param plugin: the plugin that creates it.
    :param settings: its settings (the plugin's defaults fill the rest).
    :param reason: what was found, for display (never the key itself).
    """

    name: str
    plugin: str
    settings: BackendSettings = attrs.field(repr=False)
    reason: str


@attrs.frozen
class Detection:
    """What auto-detection found.

    :param backends: the usable backends, in a stable order.
    :param notes: what was looked for and why it was not used.
    """

    backends: tuple[DetectedBackend, ...] = ()
    notes: tuple[str, ...] = ()


def ollama_base_url(environ: Mapping[str, str] | None = None) -> str:
    """The Ollama base URL from ``$OLLAMA_HOST`` (``host``, ``host:port`` or a URL).

    Without a scheme the scheme is http and the port 11434; bind-all addresses are reached
    through the loopback address. Unset or unparsable means ``http://127.0.0.1:11434``.
    """
    env = os.environ if environ is None else environ
    raw = env.get("OLLAMA_HOST", "").strip()
    default = f"http://127.0.0.1:{DEFAULT_OLLAMA_PORT}"
    if not raw:
        return default
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        return default
    try:
        split = urlsplit(f"{scheme}://{rest}")
        port = split.port
    except ValueError:
        return default
    host = split.hostname
    if not host:
        return default
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = DEFAULT_OLLAMA_PORT if not sep else (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}{split.path.rstrip('/')}"


async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
    """GET ``url`` and decode JSON; None on any failure (refused, timeout, not JSON)."""
    try:
        response = await client.get(url)
        if response.status_code != 200:
            return None
        return response.json()
    except Exception:
        return None


def _first_model(data: Any, list_key: str, name_key: str) -> str | None:
    if not isinstance(data, dict):
        return None
    items = data.get(list_key)
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(name_key), str) and item[name_key]:
            return str(item[name_key])
    return None


async def _probe_ollama(client: httpx.AsyncClient, base: str) -> tuple[str | None, str]:
    data = await _get_json(client, f"{base}/api/tags")
    if data is None:
        return None, f"no Ollama server answered at {base}"
    model = _first_model(data, "models", "name")
    if model is None:
        return None, f"Ollama at {base} has no model pulled (ollama pull MODEL)"
    return model, f"Ollama answers at {base}"


async def _probe_openai_compat(client: httpx.AsyncClient, base: str) -> tuple[str | None, str]:
    data = await _get_json(client, f"{base}/models")
    if data is None:
        return None, f"no OpenAI-compatible server answered at {base}"
    model = _first_model(data, "data", "id")
    if model is None:
        return None, f"the server at {base} lists no model"
    return model, f"an OpenAI-compatible server answers at {base}"


async def detect_backends(
    registry: BackendPluginRegistry,
    environ: Mapping[str, str] | None = None,
    *,
    timeout: float = PROBE_TIMEOUT,
) -> Detection:
    """Find usable backends among the installed plugins (``registry``).

    :param registry: the plugin registry; only plugins registered there are used.
    :param environ: the environment to read (default ``os.environ``).
    :param timeout: seconds each local probe may take.
    """
    import httpx

    env = os.environ if environ is None else environ
    found: list[DetectedBackend] = []
    notes: list[str] = []
    for plugin, name, key_var, url_var, default_url in _CLOUD:
        key = env.get(key_var, "").strip()
        if not key:
            continue
        if plugin not in registry:
            notes.append(f"{key_var} is set but claudette-backend-{plugin} is not installed")
            continue
        base_url = env.get(url_var, "").strip() or default_url
        settings = BackendSettings(
            api_key=key, api_key_env=key_var, base_url=base_url, backend_type="cloud"
        )
        found.append(DetectedBackend(name, plugin, settings, f"{key_var} is set"))

    probes: list[tuple[str, str, str]] = []  # (plugin, name, base url)
    if "ollama" in registry:
        probes.append(("ollama", "ollama", ollama_base_url(env)))
    else:
        notes.append("claudette-backend-ollama is not installed: Ollama not probed")
    compat = (env.get(OPENAI_COMPAT_URL_ENV, "").strip() or DEFAULT_OPENAI_COMPAT_URL).rstrip("/")
    if "qwen" in registry:
        probes.append(("qwen", "local", compat))
    else:
        notes.append("claudette-backend-qwen is not installed: no OpenAI-compatible server probed")

    if probes:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), trust_env=False, follow_redirects=False
        ) as client:
            results = await asyncio.gather(
                *(
                    _probe_ollama(client, base) if plugin == "ollama" else _probe_openai_compat(client, base)
                    for plugin, _, base in probes
                )
            )
        for (plugin, name, base), (model, why) in zip(probes, results, strict=True):
            if model is None:
                notes.append(why)
                continue
            settings = BackendSettings(
                base_url=base, model=model, backend_type="self_hosted", cost_per_token=0.0
            )
            found.append(DetectedBackend(name, plugin, settings, f"{why} (model {model})"))
    return Detection(tuple(found), tuple(notes))


def router_from_detection(
    detection: Detection, plugins: ClaudettePlugins, options: RouterOptions | None = None
) -> tuple[BackendRouter, list[str]]:
    """A router with every detected backend its plugin accepts, and why others were left out.

    A detected backend whose plugin refuses its settings is skipped (with a note), so one
    odd environment variable does not stop the others from being used.
    """
    from claudette.errors import ConfigError, PluginError
    from claudette.router import BackendRouter

    router = BackendRouter(options, plugins=plugins)
    skipped: list[str] = []
    for found in detection.backends:
        try:
            backend = plugins.registry.create(found.plugin, found.settings, instance_name=found.name)
            router.register_backend(backend)
        except ConfigError as exc:
            detail = "; ".join(str(p) for p in exc.problems)
            skipped.append(f"{found.name}: not usable: {detail}")
        except (PluginError, ValueError) as exc:
            skipped.append(f"{found.name}: not usable: {exc}")
    return router, skipped
