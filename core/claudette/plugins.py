"""Plugin discovery and the backend registry.

:func:`get_plugin_manager` returns the process's :class:`ClaudettePlugins`, which

1. creates a pluggy manager with claudette's hook specifications,
2. blocks the names in ``$CLAUDETTE_BLOCK_PLUGINS`` (comma-separated),
3. loads every entry point of the groups ``claudette.backends`` (plugins that provide
   backends) and ``claudette.plugins`` (plugins that provide none: observers, scorers,
   policies) — unless ``$CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD`` is set — each one isolated,
   so a plugin that fails
   to import, or implements a hook in a way claudette cannot call, is reported (with its
   distribution) and the others still load,
4. registers the internal default plugins (scoring, breaker policy),
5. calls ``check_pending()`` so a misspelled hook is reported instead of ignored,
6. asks each plugin in turn to register its backends in a :class:`BackendPluginRegistry`
   (one that raises is reported and dropped; the others still register).

Every hook is dispatched by pluggy. Call sites use the typed methods (``score_backend``,
``breaker_policy`` ...), never ``pm.hook`` directly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

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
    from claudette.request_context import RequestContext
    from claudette.state import BackendStats
    from claudette.types import BreakerPolicy, ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "ENTRY_POINT_GROUPS",
    "PLUGIN_ENTRY_POINT_GROUP",
    "BackendPluginRegistry",
    "BackendRegistration",
    "ClaudettePlugins",
    "PluginInfo",
    "get_plugin_manager",
    "reset_plugin_manager",
]

#: The entry-point group a backend package declares its plugin module in.
ENTRY_POINT_GROUP = "claudette.backends"
#: The entry-point group of a plugin that provides no backend (an observer, a scorer ...).
PLUGIN_ENTRY_POINT_GROUP = "claudette.plugins"
#: Every group loaded, alike: one namespace of plugin names across them.
ENTRY_POINT_GROUPS = (ENTRY_POINT_GROUP, PLUGIN_ENTRY_POINT_GROUP)
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


#: The hooks claudette calls one plugin at a time: these take one plain implementation per
#: plugin (no ``wrapper``, ``hookwrapper`` or ``specname``).
_CALLED_PER_PLUGIN = frozenset(
    {
        "claudette_register_backends",
        "claudette_after_attempt",
        "claudette_breaker_transition",
        "claudette_request_start",
        "claudette_request_end",
        "claudette_preprocess_request",
        "claudette_postprocess_response",
    }
)


def _unsupported_implementation(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """Why ``plugin`` implements a hook of ``_CALLED_PER_PLUGIN`` in a way claudette
    cannot call, or None when it does not."""
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.name not in _CALLED_PER_PLUGIN:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if impl.wrapper or impl.hookwrapper:
                what = (
                    "a wrapper (wrapper=True)"
                    if impl.wrapper
                    else "an old-style wrapper (hookwrapper=True)"
                )
            elif impl.opts.get("specname"):
                what = f"an implementation under another name (specname={caller.name!r})"
            else:
                continue
            return (
                f"{caller.name} is called one plugin at a time, so it takes one plain "
                f"implementation named after the hook; {what} is not supported there"
            )
    return None


class _CheckedPluginManager(pluggy.PluginManager):
    """pluggy's manager, refusing implementations claudette cannot call as written.

    The hooks in ``_CALLED_PER_PLUGIN`` are called one plugin at a time, each plugin
    through its own subset hook caller: to isolate its errors (registration, observers) or
    to hand it the previous plugin's result (the request and response chains). A wrapper
    there would wrap only its own plugin's implementation, and a second implementation of
    the hook in the same plugin would receive the same input as the first, so both are
    refused when the plugin is registered, whether through :class:`ClaudettePlugins` or
    straight through this manager. A refused plugin is left unregistered.
    """

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register ``plugin`` (see ``pluggy.PluginManager.register``).

        :raises pluggy.PluginValidationError: when an implementation is invalid for its
            hook, or is one claudette cannot call (see the class docstring).
        """
        try:
            registered = super().register(plugin, name)
        except pluggy.PluginValidationError:
            # pluggy before 1.7 may have registered part of the plugin: remove the rest.
            if self.is_registered(plugin):
                self.unregister(plugin)
            raise
        if registered is not None:
            problem = _unsupported_implementation(self, plugin)
            if problem is not None:
                self.unregister(plugin)
                raise pluggy.PluginValidationError(plugin, problem)
        return registered


#: One plugin's name and its subset hook caller: the hook restricted to that plugin.
_PluginCaller = tuple[str, pluggy.HookCaller]


class ClaudettePlugins:
    """Owns the pluggy manager, loads plugins, and forwards typed hook calls.

    Every hook goes through pluggy. The firstresult hooks (``claudette_score_backend``,
    ``claudette_breaker_policy``) are one ``pm.hook`` call, so wrappers work there as pluggy
    documents them. The registration, observer and chain hooks are called through one subset
    hook caller per plugin, in pluggy's call order: an observer or a registration that
    raises is reported under its plugin's name while the others still run, and each step of
    a request or response chain receives the previous step's result.

    :param autoload: load entry points (``$CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD`` turns it off).
    :param plugins: extra plugin objects to register (modules or instances), for tests or
        for applications that ship their own hooks.
    :raises PluginError: when one of ``plugins`` has an invalid hook implementation.
    """

    def __init__(self, *, autoload: bool | None = None, plugins: Iterable[Any] = ()) -> None:
        self.pm: pluggy.PluginManager = _CheckedPluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = BackendPluginRegistry()
        self.failures: list[PluginError] = []
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        # Per hook: the implementations it had when its per-plugin callers were built, and
        # those callers (plugin name, caller) in call order.
        self._per_plugin: dict[str, tuple[list[pluggy.HookImpl], list[_PluginCaller]]] = {}
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        for name in _blocked_names():
            self.pm.set_blocked(name)
        if autoload:
            self._load_entry_points()
        for plugin in plugins:
            self._add(plugin)
        self._register_internal()
        self._check_pending()
        for name, caller in self._callers_per_plugin("claudette_register_backends"):
            self._register_backends_of(name, caller)

    # -- loading -------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        seen: set[str] = set()
        # Registered in reverse name order, so pluggy (last registered, first called) calls
        # installed plugins in name order whatever order the file system lists them in.
        from importlib import metadata  # here, not at import time: it costs ~30 ms

        found = [ep for group in ENTRY_POINT_GROUPS for ep in metadata.entry_points(group=group)]
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
            except Exception as exc:
                self._fail(ep.name, f"failed to load: {type(exc).__name__}: {exc}")
                continue
            try:
                self._add(plugin, ep.name)
            except PluginError as exc:
                self._record(exc)

    def _add(self, plugin: Any, name: str | None = None) -> str | None:
        """Register ``plugin`` with pluggy; None when its name is blocked.

        :raises PluginError: naming the plugin, when a hook implementation is invalid.
        """
        try:
            return self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            name = name or self.pm.get_canonical_name(plugin)
            message = f"invalid hook implementation: {exc}"
            raise PluginError(message, name, self._dist(name)) from exc

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
                self._fail(name, f"invalid hook implementation: {exc}")

    def _register_backends_of(self, name: str, caller: pluggy.HookCaller) -> bool:
        """Let one plugin fill the registry through ``caller`` (its subset hook caller).

        A plugin that raises is reported and unregistered, like one that fails to load.
        """
        self.registry._current_plugin = name
        try:
            caller(registry=self.registry)
        except Exception as exc:
            self.unregister(name)
            self._fail(name, f"claudette_register_backends raised {type(exc).__name__}: {exc}")
            return False
        finally:
            self.registry._current_plugin = None
        return True

    def _dist(self, name: str) -> str | None:
        return self._dists.get(name, (None, None))[0]

    def _fail(self, name: str, message: str) -> None:
        self._record(PluginError(message, name, self._dist(name)))

    def _record(self, error: PluginError) -> None:
        self.failures.append(error)
        logger.error("%s", error)

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin object, validate its hooks and let it register its backends.

        A misspelled hook, or a registration hook that raises, is reported in
        :attr:`failures` and the plugin is not kept (the result is then None, as for a
        blocked name).

        :raises PluginError: naming the plugin, when a hook implementation does not fit its
            specification or is one claudette cannot call: a wrapper (or a second
            implementation) of a hook it calls one plugin at a time, that is the
            registration, observer and chain hooks.
        """
        registered = self._add(plugin, name)
        if registered is None:
            return None
        self._check_pending()
        if not self.pm.is_registered(plugin):
            return None
        caller = self._only(plugin, "claudette_register_backends")
        return registered if self._register_backends_of(registered, caller) else None

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (its registered backend classes stay)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    # -- per-plugin dispatch ---------------------------------------------------------------

    def _only(self, plugin: object, hook: str) -> pluggy.HookCaller:
        """``hook`` restricted to the implementation of ``plugin``."""
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def _callers_per_plugin(self, hook: str) -> list[_PluginCaller]:
        """(plugin name, its subset hook caller) for each plugin implementing ``hook``, in
        pluggy's call order; built again only when the hook's implementations change."""
        impls = getattr(self.pm.hook, hook).get_hookimpls()
        cached = self._per_plugin.get(hook)
        if cached is not None and cached[0] == impls:
            return cached[1]
        callers = [(impl.plugin_name, self._only(impl.plugin, hook)) for impl in reversed(impls)]
        self._per_plugin[hook] = (impls, callers)
        return callers

    @property
    def has_attempt_observers(self) -> bool:
        """True when any plugin observes attempts (the router skips the call otherwise)."""
        return bool(self.pm.hook.claudette_after_attempt.get_hookimpls())

    @property
    def has_request_observers(self) -> bool:
        """True when any plugin observes requests from start to end."""
        hook = self.pm.hook
        return bool(
            hook.claudette_request_start.get_hookimpls()
            or hook.claudette_request_end.get_hookimpls()
        )

    @property
    def has_request_processors(self) -> bool:
        """True when any plugin pre-processes requests or post-processes responses."""
        hook = self.pm.hook
        return bool(
            hook.claudette_preprocess_request.get_hookimpls()
            or hook.claudette_postprocess_response.get_hookimpls()
        )

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

        For a firstresult hook the first one that returns non-None wins (wrappers, listed
        first, run around the others).
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
        result: float | None = self.pm.hook.claudette_score_backend(
            backend=backend, request=request, stats=stats, options=options
        )
        return result

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
        context: RequestContext | None = None,
    ) -> None:
        """Call every ``claudette_after_attempt`` observer; their errors are logged only.

        :param context: the attempt's request; a context of its own when omitted.
        """
        callers = self._callers_per_plugin("claudette_after_attempt")
        if not callers:
            return
        if context is None:
            from claudette.request_context import RequestContext

            context = RequestContext(request)
        for name, caller in callers:
            try:
                caller(
                    backend=backend,
                    request=request,
                    response=response,
                    error=error,
                    latency_ms=latency_ms,
                    context=context,
                )
            except Exception:
                logger.exception("observer %r failed in claudette_after_attempt", name)

    def preprocess_request(self, request: ClaudetteRequest, backend: BaseBackend) -> ClaudetteRequest:
        """Run ``claudette_preprocess_request`` as a chain, in call order."""
        for _, caller in self._callers_per_plugin("claudette_preprocess_request"):
            results: list[ClaudetteRequest] = caller(request=request, backend=backend)
            if results:  # one plugin, one implementation: at most one result
                request = results[0]
        return request

    def postprocess_response(
        self, request: ClaudetteRequest, response: ClaudetteResponse
    ) -> ClaudetteResponse:
        """Run ``claudette_postprocess_response`` as a chain, in call order."""
        for _, caller in self._callers_per_plugin("claudette_postprocess_response"):
            results: list[ClaudetteResponse] = caller(request=request, response=response)
            if results:
                response = results[0]
        return response

    def breaker_transition(
        self,
        backend_name: str,
        old_state: str,
        new_state: str,
        context: RequestContext | None = None,
    ) -> None:
        """Call every ``claudette_breaker_transition`` observer; their errors are logged only."""
        for name, caller in self._callers_per_plugin("claudette_breaker_transition"):
            try:
                caller(
                    backend_name=backend_name,
                    old_state=old_state,
                    new_state=new_state,
                    context=context,
                )
            except Exception:
                logger.exception("observer %r failed in claudette_breaker_transition", name)

    def request_start(self, context: RequestContext) -> None:
        """Call every ``claudette_request_start`` observer; their errors are logged only."""
        for name, caller in self._callers_per_plugin("claudette_request_start"):
            try:
                caller(context=context)
            except Exception:
                logger.exception("observer %r failed in claudette_request_start", name)

    def request_end(
        self,
        context: RequestContext,
        response: ClaudetteResponse | None,
        error: BaseException | None,
    ) -> None:
        """Call every ``claudette_request_end`` observer; their errors are logged only."""
        for name, caller in self._callers_per_plugin("claudette_request_end"):
            try:
                caller(context=context, response=response, error=error)
            except Exception:
                logger.exception("observer %r failed in claudette_request_end", name)


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
