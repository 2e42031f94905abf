"""The ``claudette`` command (also ``python -m claudette``).

    claudette plugins                 installed plugins, their hooks, failures
    claudette backends                each backend's health, breaker, latency and price
    claudette config check [PATH]     validate a config file, printing every problem
    claudette ask "PROMPT"            route one request (config file or auto-detection)
    claudette serve                   an OpenAI-compatible HTTP gateway in front of the router
    claudette costs                   what the cost ledger says was spent

Results go to stdout, diagnostics to stderr, and the exit code says what happened
(see :data:`EXIT_CODES`). Heavy modules are imported inside the commands, so ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from claudette._cli_exit import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from claudette._cli_output import err

__all__ = ["build_parser", "main"]

_CONFIG_HELP = (
    "config file; default: $CLAUDETTE_CONFIG, ./claudette.toml, then "
    "$XDG_CONFIG_HOME/claudette/claudette.toml (~/.config/...); "
    "with none, backends are auto-detected"
)


def _epilog() -> str:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    return (
        "config lookup: --config PATH, $CLAUDETTE_CONFIG, ./claudette.toml, then\n"
        "  $XDG_CONFIG_HOME/claudette/claudette.toml (default ~/.config/claudette/...).\n"
        "  Without a config, backends are auto-detected: $OPENAI_API_KEY, $ANTHROPIC_API_KEY,\n"
        "  $DASHSCOPE_API_KEY, a local Ollama ($OLLAMA_HOST or 127.0.0.1:11434) and an\n"
        "  OpenAI-compatible server on 127.0.0.1:8000/v1.\n\n"
        f"exit codes:\n{codes}\n\n"
        "Results go to stdout, diagnostics to stderr. API keys are never printed."
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are redacted like every other diagnostic."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        err(f"{self.prog}: error: {message}")
        raise SystemExit(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {value}")
    return value


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 2, got {value:g}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value:g}")
    return value


def _since(text: str) -> float:
    from claudette._cli_costs import parse_since

    return parse_since(text)


def _preset_help() -> str:
    """``--preset``'s help: each preset's weights, from the one table of them."""
    from claudette.types import WEIGHT_PRESETS

    described = [
        f"{name} ({'/'.join(f'{weight:g}' for weight in WEIGHT_PRESETS[name])})"
        for name in sorted(WEIGHT_PRESETS)
    ]
    # The first one names the weights in their order, for all of them.
    described[0] = described[0][:-1] + " cost/latency/availability)"
    return "scoring weights: " + ", ".join(described)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``claudette`` command."""
    from claudette import __version__
    from claudette.types import WEIGHT_PRESETS

    parser = _Parser(
        prog="claudette",
        description="Route LLM requests to the best provider backend, and survive their failures.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"claudette {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what claudette does, to stderr"
    )
    # -v is accepted after the command too; SUPPRESS keeps the top-level value otherwise.
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log what claudette does, to stderr"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = commands.add_parser(
        "plugins",
        parents=[common],
        help="list installed plugins and their hooks",
        description="List installed plugins (backends, observers ...): distribution, version, hooks, the "
        "order firstresult hooks are tried in, and plugins that failed to load. "
        "Exit code 5 when a plugin failed.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = commands.add_parser(
        "backends",
        parents=[common],
        help="show each backend's health, breaker, latency and price",
        description="Run every configured (or auto-detected) backend's health check and show "
        "its state. Exit code 4 when none is configured or none is healthy.",
    )
    p.add_argument("--config", "-c", metavar="PATH", help=_CONFIG_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long the health checks may take (default 10)",
    )

    p = commands.add_parser(
        "config",
        help="configuration commands (config check)",
        description="Configuration commands.",
    )
    p.set_defaults(config_parser=p)
    config_commands = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND", parser_class=_Parser)
    c = config_commands.add_parser(
        "check",
        parents=[common],
        help="validate a config file and print every problem",
        description="Validate a config file (its syntax, every key, the plugins it names and "
        "each backend's settings) and print every problem with its file and key path. "
        "Exit code 0 when valid, 3 when not.",
    )
    c.add_argument("path", nargs="?", metavar="PATH", help="the file (default: the config lookup order)")

    p = commands.add_parser(
        "ask",
        parents=[common],
        help="route one request and print the answer",
        description="Route one request through the router and print the answer to stdout.",
    )
    p.add_argument("prompt", metavar="PROMPT", help='the prompt; "-" reads it from stdin')
    p.add_argument("--config", "-c", metavar="PATH", help=_CONFIG_HELP)
    p.add_argument("--backend", "-b", metavar="NAME", help="force this backend (no scoring, no fallback)")
    p.add_argument("--model", "-m", metavar="MODEL", help="override the backend's model")
    p.add_argument("--max-tokens", type=_positive_int, metavar="N", help="the most tokens to generate")
    p.add_argument("--temperature", "-t", type=_temperature, metavar="T", help="sampling temperature, 0 to 2")
    p.add_argument("--system", "-s", metavar="TEXT", help="a system message before the prompt")
    p.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the whole response as JSON (with --stream: one JSON object per line)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="show every candidate's score parts and why others were skipped "
        "(to stderr; inside the JSON with --json)",
    )
    p.add_argument(
        "--preset",
        choices=sorted(WEIGHT_PRESETS),
        help=_preset_help(),
    )

    p = commands.add_parser(
        "serve",
        parents=[common],
        help="serve an OpenAI-compatible HTTP API through the router",
        description="Serve OpenAI's Chat Completions API (POST /v1/chat/completions, "
        "GET /v1/models, /health, /metrics) through the router, until SIGTERM or SIGINT. "
        "The [server] table of the config sets the defaults of these options, and api_keys. "
        "Needs `pip install 'claudette-core[server]'`.",
    )
    p.add_argument("--config", "-c", metavar="PATH", help=_CONFIG_HELP)
    p.add_argument("--host", metavar="ADDRESS", help="the address to listen on (default 127.0.0.1)")
    p.add_argument("--port", "-p", type=_port, metavar="PORT", help="the TCP port (default 8080)")
    p.add_argument("--workers", "-w", type=_positive_int, metavar="N", help="worker processes (default 1)")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="listen on a non-loopback address without API keys (anyone reaching it may use it)",
    )

    p = commands.add_parser(
        "costs",
        parents=[common],
        help="summarise the cost ledger by backend, model or day",
        description="Summarise what the cost ledger ([ledger] in claudette.toml) recorded: "
        "answers, cache hits, tokens and EUR, grouped by backend, model or UTC day. "
        "Exit code 3 when there is no ledger to read.",
    )
    p.add_argument("--config", "-c", metavar="PATH", help=_CONFIG_HELP)
    p.add_argument(
        "--ledger",
        action="append",
        metavar="PATH",
        help="a ledger file to read (repeat for several, e.g. one per process); "
        "default: the config's [ledger] path",
    )
    p.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="only answers since then: 30m, 24h, 7d, 2w, or a UTC date such as 2026-12-01",
    )
    p.add_argument(
        "--by", choices=("backend", "model", "day"), default="backend", help="how to group (default backend)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the totals as a bar chart (needs matplotlib)")
    return parser


def _setup_logging(verbose: bool) -> None:
    """Send claudette's log records to stderr (warnings, or everything with ``-v``), redacted."""
    import logging

    from claudette._redact import RedactingFilter

    logger = logging.getLogger("claudette")
    if not any(getattr(h, "_claudette_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("claudette: %(levelname)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._claudette_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    command: Callable[[argparse.Namespace], int]
    if args.command == "plugins":
        from claudette._cli_info import cmd_plugins as command
    elif args.command == "backends":
        from claudette._cli_info import cmd_backends as command
    elif args.command == "config":
        if args.config_command != "check":
            args.config_parser.print_help(sys.stderr)
            return EXIT_USAGE
        from claudette._cli_info import cmd_config_check as command
    elif args.command == "ask":
        from claudette._cli_ask import cmd_ask as command
    elif args.command == "serve":
        from claudette._cli_serve import cmd_serve as command
    elif args.command == "costs":
        from claudette._cli_costs import cmd_costs as command
    else:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``claudette`` command; returns the exit code (see :data:`EXIT_CODES`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return _dispatch(args, parser)
    except KeyboardInterrupt:
        err("claudette: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not worth a traceback. Point stdout at
        # /dev/null so that the interpreter's final flush does not fail again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:  # a bug: say so, without leaking a secret
        import traceback

        from claudette._redact import redact

        err(redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))).rstrip())
        err(f"claudette: internal error: {type(exc).__name__}: {exc} (please report it)")
        return EXIT_ERROR
