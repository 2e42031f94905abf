"""Plugin discovery and the backend registry.

:func:`get_plugin_manager` returns the process's :class:`ClaudettePlugins`, which

1. creates a pluggy manager with claudette's hook specifications,
2. blocks the names in ``$CLAUDETTE_BLOCK_PLUGINS`` (comma-separated),
3. loads every entry point of the group ``claudette.backends`` — unless
   ``$CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD`` is set — each one isolated, so a plugin that fails
   to import is reported (with its distribution) and the others still load,
4. registers the internal default plugins (scoring, breaker policy),
5. calls ``check_pending()`` so a misspelled hook is reported instead of ignored,
6. asks every plugin to register its backends in a :class:`BackendPluginRegistry`.

Call sites use the typed methods (``score_backend``, ``breaker_policy`` ...), never
``pm.hook`` directly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from claudette import hookspecs
from claudette._log import logger
from claudette.errors import PluginError
from claudette.types import BackendSettings

if TYPE_CHECKING:
    import httpx

    from claudette.backend import BaseBackend
    from claudette.errors import BackendError
    from claudette.state import BackendStats
    from claudette.types import BreakerPolicy, ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "BackendPluginRegistry",
    "BackendRegistration",
    "ClaudettePlugins",
    "PluginInfo",
    "get_plugin_manager",
    "reset_plugin_manager",
]

#: The entry-point group a backend package declares its plugin module in.
ENTRY_POINT_GROUP = "claudette.backends"
#: Set to any non-empty value to load no entry-point plugins at all.
DISABLE_AUTOLOAD_ENV = "CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD"
#: Comma-separated plugin names not to load.
BLOCK_ENV = "CLAUDETTE_BLOCK_PLUGINS"

_INTERNAL = "claudette-internal"


@attrs.frozen
class BackendRegistration:
    """One backend class a plugin registered.

    :param name: the name used in config (``plugin = "ollama"``).
    :param cls: the backend class.
    :param defaults: settings filled in where the user's settings leave a value unset.
    :param plugin: the name of the plugin that registered it.
    """

    name: str
    cls: type[BaseBackend]
    defaults: BackendSettings
    plugin: str | None = None


class BackendPluginRegistry:
    """Backend classes by name; plugins fill it through ``claudette_register_backends``."""

    def __init__(self) -> None:
        self._entries: dict[str, BackendRegistration] = {}
        self._current_plugin: str | None = None

    def register(
        self,
        name: str,
        cls: type[BaseBackend],
        *,
        defaults: BackendSettings | None = None,
    ) -> None:
        """Register ``cls`` under ``name`` with the provider's ``defaults``.

        :raises PluginError: when another plugin already registered ``name``.
        """
        from claudette.backend import BaseBackend

        if not (isinstance(cls, type) and issubclass(cls, BaseBackend)):
            raise PluginError(f"{cls!r} is not a BaseBackend subclass", self._current_plugin or name)
        existing = self._entries.get(name)
        if existing is not None and existing.cls is not cls:
            raise PluginError(
                f"backend name {name!r} is already registered by plugin {existing.plugin!r}",
                self._current_plugin or name,
            )
        self._entries[name] = BackendRegistration(
            name, cls, defaults or BackendSettings(), self._current_plugin
        )

    def get(self, name: str) -> BackendRegistration:
        """The registration of ``name``.

        :raises PluginError: when no plugin registered it (the message lists those that did).
        """
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise PluginError(
                f"no backend plugin registered {name!r} (registered: {known}); "
                f"is claudette-backend-{name} installed?",
                name,
            ) from None

    def create(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        instance_name: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> BaseBackend:
        """Create a backend of the plugin ``name``, its defaults filling unset settings.

        :param instance_name: the backend's name in the router (default: ``name``), so that
            one plugin can serve several backends.
        :param client: an ``httpx.AsyncClient`` to inject.
        """
        entry = self.get(name)
        merged = (settings or BackendSettings()).with_defaults(entry.defaults)
        return entry.cls(instance_name or name, merged, client=client)

    def list(self) -> list[BackendRegistration]:
        """Every registration, sorted by name."""
        return [self._entries[k] for k in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@attrs.frozen
class PluginInfo:
    """What ``claudette plugins`` shows of one loaded (or failed) plugin.

    :param name: the plugin (entry-point) name.
    :param distribution: the installed distribution that provides it.
    :param version: that distribution's version.
    :param hooks: the hooks it implements.
    :param error: why it failed to load, if it did.
    """

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = ()
    error: str | None = None


def _blocked_names() -> set[str]:
    raw = os.environ.get(BLOCK_ENV, "")
    return {n.strip() for n in raw.split(",") if n.strip()}


class _WatchedPluginManager(pluggy.PluginManager):
    """pluggy's manager, calling ``on_change`` whenever a plugin is registered or removed.

    :class:`ClaudettePlugins` keeps what the router asks on every request (are there
    observers? which scorer?) as plain attributes, refreshed here, so that a request does
    not ask pluggy for hook implementations; registering through ``plugins.pm`` directly
    refreshes them too.
    """

    def __init__(self, project_name: str, on_change: Callable[[], None]) -> None:
        super().__init__(project_name)
        self._on_change = on_change

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register ``plugin`` (see ``pluggy.PluginManager.register``)."""
        try:
            return super().register(plugin, name)
        finally:
            self._on_change()

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        """Remove ``plugin`` (see ``pluggy.PluginManager.unregister``)."""
        try:
            return super().unregister(plugin, name)
        finally:
            self._on_change()


class ClaudettePlugins:
    """Owns the pluggy manager, loads plugins, and forwards typed hook calls.

    :param autoload: load entry points (``$CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD`` turns it off).
    :param plugins: extra plugin objects to register (modules or instances), for tests or
        for applications that ship their own hooks.
    """

    def __init__(self, *, autoload: bool | None = None, plugins: Iterable[Any] = ()) -> None:
        #: True when any plugin observes attempts (the router skips the call otherwise).
        self.has_attempt_observers = False
        #: True when any plugin pre-processes requests or post-processes responses.
        self.has_request_processors = False
        self._scorer: Callable[..., float | None] = self.score_backend
        self.pm: pluggy.PluginManager = _WatchedPluginManager(
            hookspecs.PROJECT_NAME, self._plugins_changed
        )
        self.pm.add_hookspecs(hookspecs)
        self.registry = BackendPluginRegistry()
        self.failures: list[PluginError] = []
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        for name in _blocked_names():
            self.pm.set_blocked(name)
        if autoload:
            self._load_entry_points()
        for plugin in plugins:
            self.register(plugin)
        self._register_internal()
        self._check_pending()
        self._register_backends()

    # -- loading -------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        seen: set[str] = set()
        # Registered in reverse name order, so pluggy (last registered, first called) calls
        # installed plugins in name order whatever order the file system lists them in.
        from importlib import metadata  # here, not at import time: it costs ~30 ms

        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(found, key=lambda ep: ep.name, reverse=True):
            if ep.name in seen or self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            self._dists[ep.name] = (dist_name, version)
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:
                self._fail(ep.name, f"failed to load: {type(exc).__name__}: {exc}", dist_name)

    def _register_internal(self) -> None:
        from claudette.policy import DefaultBreakerPolicy
        from claudette.scoring import DefaultScoring

        for plugin, name in (
            (DefaultScoring(), f"{_INTERNAL}-scoring"),
            (DefaultBreakerPolicy(), f"{_INTERNAL}-breaker-policy"),
        ):
            if not self.pm.has_plugin(name):
                self.pm.register(plugin, name=name)

    def _check_pending(self) -> None:
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
                self.pm.unregister(exc.plugin)
                self._fail(name, f"invalid hook implementation: {exc}", self._dists.get(name, (None,))[0])

    def _register_backends(self) -> None:
        caller = self.pm.hook.claudette_register_backends
        for impl in reversed(caller.get_hookimpls()):
            self.registry._current_plugin = impl.plugin_name
            try:
                impl.function(registry=self.registry)
            except Exception as exc:
                self._fail(
                    impl.plugin_name,
                    f"claudette_register_backends raised {type(exc).__name__}: {exc}",
                    self._dists.get(impl.plugin_name, (None,))[0],
                )
            finally:
                self.registry._current_plugin = None

    def _fail(self, name: str, message: str, distribution: str | None) -> None:
        error = PluginError(message, name, distribution)
        self.failures.append(error)
        logger.error("%s", error)

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin object and validate its hooks (for applications and tests)."""
        registered = self.pm.register(plugin, name=name)
        if registered is not None:
            self._check_pending()
            caller = self.pm.subset_hook_caller(
                "claudette_register_backends",
                remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin],
            )
            self.registry._current_plugin = registered
            try:
                caller(registry=self.registry)
            except Exception as exc:  # isolated and reported, as for installed plugins
                self.pm.unregister(plugin)
                self._fail(
                    registered,
                    f"claudette_register_backends raised {type(exc).__name__}: {exc}",
                    self._dists.get(registered, (None,))[0],
                )
                return None
            finally:
                self.registry._current_plugin = None
        return registered

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (its registered backend classes stay)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    # -- introspection -------------------------------------------------------------------

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin (internal ones included) with its hooks, then the failures."""
        infos: list[PluginInfo] = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda np: np[0] or ""):
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            dist, version = self._dists.get(name, (None, None))
            if name.startswith(_INTERNAL):
                dist = "claudette-core"
                version = _core_version()
            infos.append(PluginInfo(name, dist, version, hooks))
        for failure in self.failures:
            infos.append(PluginInfo(failure.plugin, failure.distribution, None, (), str(failure)))
        return infos

    def hook_order(self, hook: str) -> list[str]:
        """Plugin names implementing ``hook``, in the order pluggy calls them.

        For a firstresult hook the first one that returns non-None wins.
        """
        caller = getattr(self.pm.hook, hook)
        return [impl.plugin_name for impl in reversed(caller.get_hookimpls())]

    # -- typed hook calls ----------------------------------------------------------------

    def score_backend(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        stats: BackendStats,
        options: RouterOptions,
    ) -> float | None:
        """Call ``claudette_score_backend``; the first non-None score."""
        caller = self.pm.hook.claudette_score_backend
        impls = caller.get_hookimpls()
        if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
            # Hot path (once per backend per decision): with a single scorer, usually the
            # built-in one, call it directly; pluggy's dispatch would cost more than it.
            only = impls[0].function(backend=backend, request=request, stats=stats, options=options)
            return cast("float | None", only)
        result: float | None = caller(backend=backend, request=request, stats=stats, options=options)
        return result

    def scorer(self) -> Callable[..., float | None]:
        """What to call (with the keywords of :meth:`score_backend`) for one routing decision.

        With a single scorer (usually the built-in one) that is its function itself, so a
        decision over many backends skips pluggy's dispatch for each; else :meth:`score_backend`.
        """
        return self._scorer

    def _plugins_changed(self) -> None:
        """Refresh the facts the router reads per request (a plugin came or went)."""
        hook = self.pm.hook
        self.has_attempt_observers = bool(hook.claudette_after_attempt.get_hookimpls())
        self.has_request_processors = bool(
            hook.claudette_preprocess_request.get_hookimpls()
            or hook.claudette_postprocess_response.get_hookimpls()
        )
        impls = hook.claudette_score_backend.get_hookimpls()
        if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
            self._scorer = cast("Callable[..., float | None]", impls[0].function)
        else:
            self._scorer = self.score_backend

    def breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """Call ``claudette_breaker_policy``; the default policy if none answers."""
        from claudette.policy import DEFAULT_BREAKER_POLICY

        result: BreakerPolicy | None = self.pm.hook.claudette_breaker_policy(backend=backend)
        return result if result is not None else DEFAULT_BREAKER_POLICY

    def after_attempt(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        response: ClaudetteResponse | None,
        error: BackendError | None,
        latency_ms: float,
    ) -> None:
        """Call every ``claudette_after_attempt`` observer; their errors are logged only."""
        for impl in self.pm.hook.claudette_after_attempt.get_hookimpls():
            try:
                kwargs = {
                    "backend": backend,
                    "request": request,
                    "response": response,
                    "error": error,
                    "latency_ms": latency_ms,
                }
                impl.function(*(kwargs[n] for n in impl.argnames))
            except Exception:
                logger.exception("observer %r failed in claudette_after_attempt", impl.plugin_name)

    def preprocess_request(self, request: ClaudetteRequest, backend: BaseBackend) -> ClaudetteRequest:
        """Run ``claudette_preprocess_request`` as a chain, in call order."""
        for impl in reversed(self.pm.hook.claudette_preprocess_request.get_hookimpls()):
            kwargs = {"request": request, "backend": backend}
            result = impl.function(*(kwargs[n] for n in impl.argnames))
            if result is not None:
                request = cast("ClaudetteRequest", result)
        return request

    def postprocess_response(
        self, request: ClaudetteRequest, response: ClaudetteResponse
    ) -> ClaudetteResponse:
        """Run ``claudette_postprocess_response`` as a chain, in call order."""
        for impl in reversed(self.pm.hook.claudette_postprocess_response.get_hookimpls()):
            kwargs = {"request": request, "response": response}
            result = impl.function(*(kwargs[n] for n in impl.argnames))
            if result is not None:
                response = cast("ClaudetteResponse", result)
        return response

    def breaker_transition(self, backend_name: str, old_state: str, new_state: str) -> None:
        """Call every ``claudette_breaker_transition`` observer; their errors are logged only."""
        for impl in self.pm.hook.claudette_breaker_transition.get_hookimpls():
            try:
                kwargs = {"backend_name": backend_name, "old_state": old_state, "new_state": new_state}
                impl.function(*(kwargs[n] for n in impl.argnames))
            except Exception:
                logger.exception("observer %r failed in claudette_breaker_transition", impl.plugin_name)


def _core_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("claudette-core")
    except metadata.PackageNotFoundError:
        return None


_manager: ClaudettePlugins | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> ClaudettePlugins:
    """The process's plugin manager, loaded on first call (entry points included)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = ClaudettePlugins()
    return _manager


def reset_plugin_manager() -> None:
    """Forget the loaded manager so the next :func:`get_plugin_manager` loads anew (tests)."""
    global _manager
    with _manager_lock:
        _manager = None
