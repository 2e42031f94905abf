"""How the ``claudette`` command ends: its exit codes, and claudette's errors turned into one.

The codes live here, apart from :mod:`claudette.cli`, so that the command modules can
return them without importing the command that dispatches to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from claudette._cli_output import err, out
from claudette.errors import (
    BackendError,
    ConfigError,
    NoBackendAvailableError,
    PluginError,
    RequestValidationError,
)

__all__ = [
    "EXIT_BACKEND",
    "EXIT_CODES",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PLUGIN",
    "EXIT_USAGE",
    "print_config_error",
    "run_async",
]

#: Success.
EXIT_OK = 0
#: An unexpected internal error (a bug: please report it).
EXIT_ERROR = 1
#: Bad usage: unknown option, missing argument, invalid value (argparse's own code).
EXIT_USAGE = 2
#: The configuration is invalid or missing where one was named.
EXIT_CONFIG = 3
#: No backend could answer: none configured or detected, all failed, or a request refused.
EXIT_BACKEND = 4
#: A plugin failed to load or register.
EXIT_PLUGIN = 5
#: Interrupted with Ctrl-C.
EXIT_INTERRUPTED = 130

#: Every exit code and its meaning (shown by ``--help`` and in ``docs/cli.md``).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "unexpected internal error",
    EXIT_USAGE: "bad usage (unknown option, missing or invalid argument)",
    EXIT_CONFIG: "invalid configuration (every problem is printed)",
    EXIT_BACKEND: "no backend could answer (none configured or detected, all failed)",
    EXIT_PLUGIN: "a backend plugin failed to load",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def print_config_error(exc: ConfigError, *, to_stdout: bool = False) -> None:
    """Print every problem of ``exc`` as ``FILE: KEY.PATH: what was expected``."""
    show = out if to_stdout else err
    source = exc.source or "configuration"
    for problem in exc.problems:
        show(f"{source}: {problem.path}: {problem.message}" if problem.path else f"{source}: {problem.message}")
    count = len(exc.problems)
    err(f"claudette: {count} configuration problem{'s' if count != 1 else ''} in {source}")


def run_async(command: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run an async command and turn claudette's errors into exit codes and messages."""
    try:
        return asyncio.run(command())
    except ConfigError as exc:
        print_config_error(exc)
        return EXIT_CONFIG
    except PluginError as exc:
        err(f"claudette: {exc}")
        err("claudette: see `claudette plugins` for every plugin and its error")
        return EXIT_PLUGIN
    except RequestValidationError as exc:
        err(f"claudette: invalid request: {exc}")
        return EXIT_USAGE
    except NoBackendAvailableError as exc:
        err(f"claudette: no backend could answer: {exc.message}")
        for name, why in sorted(exc.reasons.items()):
            err(f"claudette:   {name}: {why}")
        return EXIT_BACKEND
    except BackendError as exc:
        err(f"claudette: the backend failed: {exc}")
        return EXIT_BACKEND
