"""``claudette.toml`` → :class:`RouterOptions` and backends, structured with cattrs.

    [router]
    preset = "balanced"            # or cost_weight / latency_weight / availability_weight
    max_attempts = 3               # unset: every usable backend once

    [router.breaker]               # the circuit-breaker policy of every backend
    failure_threshold = 10
    reset_timeout = 5.0

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
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, override

from claudette._redact import describe
from claudette.errors import ConfigError, ConfigProblem, PluginError
from claudette.gateway.options import ServerOptions
from claudette.options import LedgerOptions
from claudette.types import (
    WEIGHT_PRESETS,
    BackendSettings,
    BreakerPolicy,
    RouterOptions,
    preset_weights,
)

if typing.TYPE_CHECKING:
    from claudette.plugins import BackendPluginRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "MAX_DEPTH",
    "BackendConfig",
    "ClaudetteConfig",
    "config_search_path",
    "find_config",
    "load_config",
    "parse_config",
]

#: The deepest nesting of tables and lists a config may have (a real one needs four).
MAX_DEPTH = 32
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_KEYS = {"router", "backends", "state", "server", "ledger"}
_STATE_SCHEMES = ("redis://", "rediss://", "unix://")


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
    :param ledger: the ``[ledger]`` table; None: no cost ledger.
    """

    router: RouterOptions = attrs.field(factory=RouterOptions)
    backends: tuple[BackendConfig, ...] = ()
    state: Mapping[str, Any] = attrs.field(factory=dict)
    source: str | None = None
    server: ServerOptions = attrs.field(factory=ServerOptions)
    ledger: LedgerOptions | None = None


def _strict_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def _float(value: Any, _: type) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {describe(value)}")
        return float(value)

    def _int(value: Any, _: type) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {describe(value)}")
        return value

    def _bool(value: Any, _: type) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {describe(value)}")
        return value

    def _str(value: Any, _: type) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {describe(value)}")
        return value

    conv.register_structure_hook(float, _float)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(str, _str)
    # A breaker policy's failure predicate is code: a config file sets only the numbers.
    conv.register_structure_hook(
        BreakerPolicy,
        make_dict_structure_fn(
            BreakerPolicy,
            conv,
            _cattrs_forbid_extra_keys=True,
            _cattrs_detailed_validation=True,
            counts_as_failure=override(omit=True),
        ),
    )
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
        if isinstance(e, BaseValidationError):
            for sub in e.exceptions:
                walk(sub, path)
            return
        if isinstance(e, KeyError):
            problems.append(ConfigProblem(path, f"required key {e.args[0]!r} is missing"))
            return
        message = str(e)
        if not isinstance(e, (TypeError, ValueError)):  # cattrs' own words quote the value
            message = "a value of the wrong type"
        elif isinstance(e, TypeError) and "expected" not in message:
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
        problems.append(ConfigProblem(path, f"expected a table, got {describe(data)}"))
        return None
    before = len(problems)
    _check_fields(cls, data, path, problems)
    if len(problems) > before:
        return None
    try:
        return _converter.structure(data, cls)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        problems.extend(_problems_from_cattrs(exc, path))
    except (ValueError, TypeError) as exc:  # checks across fields: name the field they reject
        problems.append(ConfigProblem(_validator_path(path, exc), str(exc)))
    return None


def _check_fields(cls: type[Any], data: dict[str, Any], path: str, problems: list[ConfigProblem]) -> None:
    """Every problem of every field of one table: unknown keys, types and ranges at once.

    Each field is structured and validated on its own, so that a type error in one field
    does not hide a range error in another (the class itself stops at its first failure).
    """
    fields = {f.name: f for f in attrs.fields(attrs.resolve_types(cls))}
    for key in sorted(set(data) - set(fields), key=str):
        problems.append(ConfigProblem(f"{path}.{key}" if path else str(key), "unknown key"))
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            continue
        where = f"{path}.{name}" if path else name
        nested = _attrs_class_in(field.type)
        if nested is not None and isinstance(value, dict):
            _check_fields(nested, value, where, problems)
            continue
        try:
            converted = _converter.structure(value, field.type)
        except (BaseValidationError, ForbiddenExtraKeysError) as exc:
            problems.extend(_problems_from_cattrs(exc, where))
            continue
        except (TypeError, ValueError) as exc:
            problems.append(ConfigProblem(where, str(exc)))
            continue
        except Exception:  # cattrs' own errors quote the value: describe it instead
            problems.append(
                ConfigProblem(where, f"expected {_expected(field.type)}, got {describe(value)}")
            )
            continue
        if field.validator is not None:
            try:
                if field.converter is not None:
                    converted = field.converter(converted)
                field.validator(None, field, converted)
            except (TypeError, ValueError) as exc:
                problems.append(ConfigProblem(where, str(exc)))


def _attrs_class_in(tp: Any) -> type[Any] | None:
    """The attrs class of a field typed ``X`` or ``X | None``, else None."""
    if isinstance(tp, type) and attrs.has(tp):
        return tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and attrs.has(arg):
            return arg
    return None


def _expected(tp: Any) -> str:
    """What a field of type ``tp`` expects, in words."""
    choices = [a for arg in typing.get_args(tp) for a in (typing.get_args(arg) or (arg,))]
    words = [repr(c) for c in choices if isinstance(c, str)]
    if words:  # a Literal, optional or not
        return "one of " + ", ".join(words)
    return getattr(tp, "__name__", None) or str(tp)


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
        problems.append(ConfigProblem("router", f"expected a table, got {describe(data)}"))
        return RouterOptions()
    data = dict(data)
    preset = data.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str) or preset not in WEIGHT_PRESETS:
            problems.append(
                ConfigProblem(
                    "router.preset", f"expected one of {sorted(WEIGHT_PRESETS)}, got {describe(preset)}"
                )
            )
        else:  # a weight set beside the preset wins over the preset's
            data = {**preset_weights(preset), **data}
    options = _structure(RouterOptions, data, "router", problems)
    return options if options is not None else RouterOptions()


def _too_deep(data: Any) -> str | None:
    """The key path of the first place nested deeper than :data:`MAX_DEPTH`, else None
    (walked without recursion, so no document can exhaust the stack here)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            children = ((f"{path}[{i}]", v) for i, v in enumerate(node))
        else:
            continue
        if depth >= MAX_DEPTH:
            return path
        stack.extend((child, where, depth + 1) for where, child in children)
    return None


def parse_config(
    data: Mapping[str, Any],
    source: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    registry: BackendPluginRegistry | None = None,
) -> ClaudetteConfig:
    """Structure an already-parsed TOML document.

    :param registry: the registered backend plugins; given, a backend naming a plugin
        that is not registered is one more problem of the same report.
    :raises ConfigError: listing every problem, each with its key path.
    """
    problems: list[ConfigProblem] = []
    env = os.environ if env is None else env
    if not isinstance(data, Mapping):
        raise ConfigError([ConfigProblem("", "expected a table at the top level")], source)
    deep = _too_deep(dict(data))
    if deep is not None:
        raise ConfigError(
            [ConfigProblem(deep, f"nested more than {MAX_DEPTH} tables or lists deep")], source
        )
    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(
            ConfigProblem(key, "unknown top-level table (expected router, backends, state, server, ledger)")
        )
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
            problems.append(ConfigProblem(path, f"expected a table, got {describe(table)}"))
            continue
        table = dict(table)
        plugin = table.pop("plugin", None)
        if plugin is None:
            problems.append(ConfigProblem(f"{path}.plugin", "required key 'plugin' is missing (e.g. plugin = \"ollama\")"))
        elif not isinstance(plugin, str):
            problems.append(ConfigProblem(f"{path}.plugin", f"expected a string, got {describe(plugin)}"))
            plugin = None
        elif registry is not None:
            try:
                registry.get(plugin)
            except PluginError as exc:
                problems.append(ConfigProblem(f"{path}.plugin", str(exc)))
        settings = _structure(BackendSettings, table, path, problems)
        if settings is not None and plugin is not None:
            backends.append(BackendConfig(name, plugin, settings))
    state = data.get("state", {})
    if not isinstance(state, dict):
        problems.append(ConfigProblem("state", f"expected a table, got {describe(state)}"))
        state = {}
    url = state.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(_STATE_SCHEMES)):
        problems.append(
            ConfigProblem("state.url", f"expected a redis://, rediss:// or unix:// URL, got {describe(url)}")
        )
    server = ServerOptions()
    if data.get("server") is not None:
        server = _structure(ServerOptions, data["server"], "server", problems) or server
    ledger: LedgerOptions | None = None
    if "ledger" in data:
        ledger = _structure(LedgerOptions, data["ledger"], "ledger", problems)
    if problems:
        raise ConfigError(problems, source)
    return ClaudetteConfig(router, tuple(backends), state, source, server, ledger)


def load_config(
    path: str | os.PathLike[str], *, registry: BackendPluginRegistry | None = None
) -> ClaudetteConfig:
    """Read and structure a ``claudette.toml`` file.

    :param registry: the registered backend plugins, to report a backend whose plugin is
        not installed along with every other problem.
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
    except RecursionError:  # arrays or inline tables nested beyond the parser's stack
        raise ConfigError(
            [ConfigProblem("", f"nested more than {MAX_DEPTH} tables or lists deep")], source
        ) from None
    return parse_config(data, source, registry=registry)


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
