"""``claudette ask``: route one request and print the answer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claudette._cli_exit import EXIT_BACKEND, EXIT_OK, EXIT_USAGE, run_async
from claudette._cli_load import explain_source, load_router, no_backend_message
from claudette._cli_output import Spinner, err, fmt_eur, out, out_json

if TYPE_CHECKING:
    from claudette.pricing import TokenPrices
    from claudette.router import BackendRouter, Candidate
    from claudette.types import ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = ["Explained", "cmd_ask", "explain_to_dict", "format_explain"]


def explain_to_dict(
    candidates: list[Candidate],
    options: RouterOptions,
    prices: Mapping[str, TokenPrices] | None = None,
) -> dict[str, Any]:
    """The router's view of a request as JSON: weights, and each candidate's score parts
    (``failed``: how it failed when the request tried it) and (given ``prices``) its
    prices with their source."""
    prices = prices or {}
    return {
        "weights": {
            "cost": options.cost_weight,
            "latency": options.latency_weight,
            "availability": options.availability_weight,
        },
        "candidates": [
            {
                "name": c.name,
                "chosen": c.chosen,
                "score": c.score,
                "skipped": c.skipped,
                "failed": c.failed,
                "parts": None
                if c.parts is None
                else {
                    "cost": c.parts.cost,
                    "latency": c.parts.latency,
                    "availability": c.parts.availability,
                    "total": c.parts.total,
                },
                **({"prices": prices[c.name].to_dict()} if c.name in prices else {}),
            }
            for c in candidates
        ],
        "unknown_price_policy": options.unknown_price_policy,
    }


def _price_text(prices: TokenPrices) -> str:
    if not prices.known:
        return "price unknown"
    assert prices.input is not None and prices.output is not None
    return (
        f"EUR/1M {prices.input * 1e6:.4g} in / {prices.output * 1e6:.4g} out ({prices.source})"
    )


def format_explain(
    candidates: list[Candidate],
    options: RouterOptions,
    prices: Mapping[str, TokenPrices] | None = None,
) -> list[str]:
    """Human-readable lines: one per candidate, the chosen one (or the one that answered)
    marked with ``->``, one that failed for this request with ``x`` and its failure, with
    its price and where the price comes from when ``prices`` are given."""
    prices = prices or {}
    lines = [
        f"routing (lowest score wins; weights cost {options.cost_weight:g}, "
        f"latency {options.latency_weight:g}, availability {options.availability_weight:g}):"
    ]
    width = max((len(c.name) for c in candidates), default=0)
    for c in candidates:
        mark = "->" if c.chosen else " x" if c.failed is not None else "  "
        price = f"  [{_price_text(prices[c.name])}]" if c.name in prices else ""
        if c.skipped is not None:
            lines.append(f"  {mark} {c.name.ljust(width)}  skipped: {c.skipped}{price}")
            continue
        score = "-" if c.score is None else f"{c.score:.6f}"
        detail = ""
        if c.parts is not None:
            detail = (
                f"  cost {c.parts.cost:.6f}  latency {c.parts.latency:.6f}  "
                f"availability {c.parts.availability:.6f}"
            )
        lines.append(f"  {mark} {c.name.ljust(width)}  score {score}{detail}{price}")
        if c.failed is not None:
            lines.append(f"     {' ' * width}  failed: {c.failed}")
    if not any(c.chosen for c in candidates):
        lines.append("  (no backend is usable)")
    return lines


def _footer(response: ClaudetteResponse) -> str:
    parts = [
        f"answered by {response.backend_used}",
        f"model {response.model or '?'}",
        f"{response.latency_ms:.0f} ms",
        f"{response.tokens_input} tokens in, {response.tokens_output} out",
        fmt_eur(response.cost_eur)
        + (" (price unknown)" if response.price_source == "unknown" else ""),
    ]
    failed = response.metadata.get("failed_backends")
    if failed:
        parts.append(f"after falling back from {', '.join(failed)}")
    return "claudette: " + " · ".join(parts)


def _read_prompt(prompt: str) -> str:
    if prompt == "-":
        return sys.stdin.read()
    return prompt


def _build_request(args: argparse.Namespace, prompt: str) -> ClaudetteRequest:
    from claudette.types import ClaudetteRequest, GenerationOptions

    messages = [{"role": "system", "content": args.system}] if args.system else []
    return ClaudetteRequest(
        prompt=prompt,
        messages=messages,
        options=GenerationOptions(
            max_tokens=args.max_tokens, temperature=args.temperature, model=args.model
        ),
        backend=args.backend,
        stream=args.stream,
    )


class Explained:
    """``--explain``: the candidates before the request, reported once with its outcome."""

    def __init__(self, router: BackendRouter, request: ClaudetteRequest) -> None:
        self.options = router.options
        self.candidates = router.explain(request)
        #: Each backend's prices with their source, shown beside its score.
        self.prices = {name: b.prices for name, b in router.backends.items()}
        self.reported = False

    def report(self, response: ClaudetteResponse | None, as_json: bool, extra: dict[str, Any]) -> None:
        """Print the candidates (to stderr), or put them in ``extra`` for the JSON output."""
        if self.reported:
            return
        self.reported = True
        from claudette.router.selection import with_outcome

        candidates = self.candidates if response is None else with_outcome(self.candidates, response)
        if as_json:
            extra["explain"] = explain_to_dict(candidates, self.options, self.prices)
            return
        for line in format_explain(candidates, self.options, self.prices):
            err(f"claudette: {line}")


async def _stream(
    router: BackendRouter,
    request: ClaudetteRequest,
    as_json: bool,
    extra: dict[str, Any],
    explained: Explained | None,
) -> ClaudetteResponse | None:
    from claudette.errors import StreamInterruptedError

    response: ClaudetteResponse | None = None
    printed = False
    try:
        async for chunk in router.stream(request):
            if chunk.text:
                if as_json:
                    out_json({"chunk": chunk.text, "backend": chunk.backend}, indent=None)
                else:
                    out(chunk.text, end="", flush=True)
                    printed = True
            if chunk.response is not None:
                response = chunk.response
                if explained is not None:
                    explained.report(response, as_json, extra)
    except StreamInterruptedError:
        if printed:
            out("", flush=True)
        raise
    if as_json and response is not None:
        out_json({"response": response.to_dict(), **extra}, indent=None)
    elif printed or response is not None:
        out("", flush=True)
    return response


def cmd_ask(args: argparse.Namespace) -> int:
    """Route the prompt; print the answer (streamed, as JSON, with the routing explained)."""
    prompt = _read_prompt(args.prompt)
    if not prompt.strip():
        err("claudette: the prompt is empty")
        return EXIT_USAGE

    async def run() -> int:
        loaded = await load_router(args.config, args.preset)
        router = loaded.router
        try:
            if args.verbose:
                explain_source(loaded)
            if not router.backends:
                no_backend_message(loaded)
                return EXIT_BACKEND
            if args.backend is not None and args.backend not in router.backends:
                known = ", ".join(sorted(router.backends))
                err(f"claudette: no backend named {args.backend!r} (configured: {known})")
                return EXIT_USAGE
            request = _build_request(args, prompt)
            # The scores as selection saw them before the request; once it is answered,
            # marked with the backends that failed and the one that answered.
            explained = Explained(router, request) if args.explain else None
            extra: dict[str, Any] = {}
            try:
                if args.stream:
                    response = await _stream(router, request, args.json, extra, explained)
                else:
                    with Spinner(f"waiting for {args.backend or 'the best backend'}"):
                        response = await router.route_request(request)
                    if explained is not None:
                        explained.report(response, args.json, extra)
                    if args.json:
                        out_json({**response.to_dict(), **extra})
                    else:
                        out(response.content, flush=True)
            except BaseException:
                if explained is not None and not args.json:
                    explained.report(None, False, extra)
                raise
            if response is not None and (args.explain or args.verbose):
                err(_footer(response))
            return EXIT_OK
        finally:
            await router.aclose()

    return run_async(run)
