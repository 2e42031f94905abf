"""``claudette.toml`` → :class:`RouterOptions` and backends, structured with cattrs.

    [router]
    preset = "balanced"            # or cost_weight / latency_weight / availability_weight
    max_attempts = 3

    [server]                       # claudette serve: host, port, workers, api_keys ...
    port = 8080

    [backends.local-a]             # the backend's name in the router
    plugin = "qwen"                # the plugin that provides it
    base_url = "http://127.0.0.1:8080/v1"
    cost_per_token = 1e-7          # EUR per token
    api_key = "${DASHSCOPE_API_KEY}"   # ${VAR} and ${VAR:-default} are read from the environment

Every problem is reported at once in a :class:`~claudette.errors.ConfigError` that names
the file, the key path and what was expected; nothing from inside cattrs or tomllib leaks.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from claudette.errors import ConfigError, ConfigProblem
from claudette.gateway.options import ServerOptions
from claudette.types import WEIGHT_PRESETS, BackendSettings, RouterOptions, preset_weights

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "BackendConfig",
    "ClaudetteConfig",
    "config_search_path",
    "find_config",
    "load_config",
    "parse_config",
]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_KEYS = {"router", "backends", "state", "server"}


@attrs.frozen
class BackendConfig:
    """One ``[backends.NAME]`` table.

    :param name: the backend's name in the router.
    :param plugin: the registered plugin name that creates it (``openai``, ``ollama`` ...).
    :param settings: its settings (the plugin's defaults fill what is unset).
    """

    name: str
    plugin: str
    settings: BackendSettings


@attrs.frozen
class ClaudetteConfig:
    """A whole configuration.

    :param router: the router's options.
    :param backends: the backends, in file order.
    :param state: the ``[state]`` table (e.g. ``url = "redis://..."``), raw.
    :param source: the file it came from, if any.
    :param server: the ``[server]`` table, for ``claudette serve``.
    """

    router: RouterOptions = attrs.field(factory=RouterOptions)
    backends: tuple[BackendConfig, ...] = ()
    state: Mapping[str, Any] = attrs.field(factory=dict)
    source: str | None = None
    server: ServerOptions = attrs.field(factory=ServerOptions)


def _strict_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def _float(value: Any, _: type) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")
        return float(value)

    def _int(value: Any, _: type) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")
        return value

    def _bool(value: Any, _: type) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {type(value).__name__} {value!r}")
        return value

    def _str(value: Any, _: type) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")
        return value

    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(str, _str)
    return conv


_converter = _strict_converter()


def _problems_from_cattrs(exc: BaseException, prefix: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def walk(e: BaseException, path: str) -> None:
        if isinstance(e, ForbiddenExtraKeysError):
            for key in sorted(e.extra_fields):
                problems.append(ConfigProblem(f"{path}.{key}" if path else key, "unknown key"))
            return
        if isinstance(e, (ClassValidationError, IterableValidationError)):
            excs, notes = e.group_exceptions()
            for sub, note in excs:
                name = getattr(note, "name", None)
                if name is None:
                    name = str(getattr(note, "index", ""))
                walk(sub, f"{path}.{name}" if path else str(name))
            for sub in notes:
                walk(sub, path)
            return
        if isinstance(e, KeyError):
            problems.append(ConfigProblem(path, f"required key {e.args[0]!r} is missing"))
            return
        message = str(e)
        if isinstance(e, TypeError) and "expected" not in message:
            message = f"wrong type: {message}"
        problems.append(ConfigProblem(_validator_path(path, e), message))

    walk(exc, prefix)
    return problems


def _interpolate(value: Any, path: str, problems: list[ConfigProblem], env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(ConfigProblem(path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else k, problems, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", problems, env) for i, v in enumerate(value)]
    return value


def _structure(cls: type[Any], data: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if not isinstance(data, dict):
        problems.append(ConfigProblem(path, f"expected a table, got {type(data).__name__}"))
        return None
    try:
        return _converter.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        problems.extend(_problems_from_cattrs(exc, path))
    except (ValueError, TypeError) as exc:  # attrs validators: name the field they reject
        problems.append(ConfigProblem(_validator_path(path, exc), str(exc)))
    return None


def _validator_path(path: str, exc: BaseException) -> str:
    """attrs validators start their message with the field name: point the path at it."""
    if not isinstance(exc, ValueError):
        return path
    first = str(exc).split(" ", 1)[0]
    if first.isidentifier() and not path.endswith(f".{first}"):
        return f"{path}.{first}" if path else first
    return path


def _router_options(data: Any, problems: list[ConfigProblem]) -> RouterOptions:
    if data is None:
        return RouterOptions()
    if not isinstance(data, dict):
        problems.append(ConfigProblem("router", f"expected a table, got {type(data).__name__}"))
        return RouterOptions()
    data = dict(data)
    preset = data.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str) or preset not in WEIGHT_PRESETS:
            problems.append(
                ConfigProblem("router.preset", f"expected one of {sorted(WEIGHT_PRESETS)}, got {preset!r}")
            )
        else:  # a weight set beside the preset wins over the preset's
            data = {**preset_weights(preset), **data}
    options = _structure(RouterOptions, data, "router", problems)
    return options if options is not None else RouterOptions()


def parse_config(
    data: Mapping[str, Any], source: str | None = None, env: Mapping[str, str] | None = None
) -> ClaudetteConfig:
    """Structure an already-parsed TOML document.

    :raises ConfigError: listing every problem, each with its key path.
    """
    problems: list[ConfigProblem] = []
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise ConfigError([ConfigProblem("", "expected a table at the top level")], source)
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(ConfigProblem(key, "unknown top-level table (expected router, backends, state, server)"))
    data = _interpolate(dict(data), "", problems, env)
    router = _router_options(data.get("router"), problems)
    backends: list[BackendConfig] = []
    raw_backends = data.get("backends", {})
    if not isinstance(raw_backends, dict):
        problems.append(ConfigProblem("backends", "expected a table of [backends.NAME] tables"))
        raw_backends = {}
    for name, table in raw_backends.items():
        path = f"backends.{name}"
        if not isinstance(table, dict):
            problems.append(ConfigProblem(path, f"expected a table, got {type(table).__name__}"))
            continue
        table = dict(table)
        plugin = table.pop("plugin", None)
        if plugin is None:
            problems.append(ConfigProblem(f"{path}.plugin", "required key 'plugin' is missing (e.g. plugin = \"ollama\")"))
        elif not isinstance(plugin, str):
            problems.append(ConfigProblem(f"{path}.plugin", f"expected a string, got {type(plugin).__name__}"))
            plugin = None
        settings = _structure(BackendSettings, table, path, problems)
        if settings is not None and plugin is not None:
            backends.append(BackendConfig(name, plugin, settings))
    state = data.get("state", {})
    if not isinstance(state, dict):
        problems.append(ConfigProblem("state", f"expected a table, got {type(state).__name__}"))
        state = {}
    server = ServerOptions()
    if data.get("server") is not None:
        server = _structure(ServerOptions, data["server"], "server", problems) or server
    if problems:
        raise ConfigError(problems, source)
    return ClaudetteConfig(router, tuple(backends), state, source, server)


def load_config(path: str | os.PathLike[str]) -> ClaudetteConfig:
    """Read and structure a ``claudette.toml`` file.

    :raises ConfigError: when the file is missing, unreadable, not TOML, or invalid.
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read the file: {exc.strerror or exc}")], source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")], source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"not valid TOML: {exc}")], source) from None
    return parse_config(data, source)


def config_search_path(explicit: str | None = None) -> list[Path]:
    """Where a config is looked for, in order: ``explicit``, ``$CLAUDETTE_CONFIG``,
    ``./claudette.toml``, then the user config dir (``$XDG_CONFIG_HOME/claudette/claudette.toml``)."""
    paths: list[Path] = []
    if explicit:
        return [Path(explicit)]
    env = os.environ.get("CLAUDETTE_CONFIG")
    if env:
        return [Path(env)]
    paths.append(Path.cwd() / "claudette.toml")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(base) / "claudette" / "claudette.toml")
    return paths


def find_config(explicit: str | None = None) -> Path | None:
    """The first existing file of :func:`config_search_path`; an explicit one must exist.

    :raises ConfigError: when ``explicit`` (or ``$CLAUDETTE_CONFIG``) names a missing file.
    """
    candidates = config_search_path(explicit)
    if explicit or os.environ.get("CLAUDETTE_CONFIG"):
        if not candidates[0].is_file():
            raise ConfigError([ConfigProblem("", "no such file")], str(candidates[0]))
        return candidates[0]
    for path in candidates:
        if path.is_file():
            return path
    return None
