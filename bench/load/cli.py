"""``frugal load``: send a workload to the gateway and report speed, cache, routes and money.

Also ``frugal load --make-workload OUT ...`` (the workload generator) and ``frugal load
--demo`` (simulator + gateway + this load, all started and stopped here). Exit status: 0 when
the run finished and ``/stats`` agrees with the responses, 1 when it disagrees, when no request
was answered or when the hard time limit stopped the run, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import anyio

from bench.load.client import http_session
from bench.load.runner import DEFAULT_BASE_URL, LoadOptions
from bench.load.session import DEFAULT_BATCH_MODEL, REPORT_DIR, exit_code, load_and_report
from bench.load.workload import WorkloadError, default_workload_path, read_workload

DEFAULT_MAX_TIME_S = 900.0
_DRAIN_S = 30.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frugal load",
        description="Send a workload to the gateway; report speed, cache hits, routes and money.",
    )
    parser.add_argument(
        "--base-url",
        default=_default_base_url(),
        help="the gateway (default: 127.0.0.1 on PORT or FRUGAL_SERVER_PORT, else 8000)",
    )
    parser.add_argument(
        "--endpoint",
        choices=("chat", "stream", "openai"),
        default="chat",
        help="POST /chat, GET /chat/stream (SSE) or POST /v1/chat/completions",
    )
    parser.add_argument("--openai-stream", action="store_true", help="stream on --endpoint openai")
    parser.add_argument("--workload", type=Path, default=None, help="JSONL workload file")
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument("--concurrency", type=int, default=8, help="closed loop: requests in flight")
    loop.add_argument("--rate", type=float, default=None, help="open loop: requests per second")
    parser.add_argument("--requests", type=int, default=None, help="stop after N (cycles)")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument(
        "--max-time",
        type=float,
        default=None,
        help=f"hard limit, seconds (default: --duration + --timeout + {_DRAIN_S:g} s, "
        f"else {DEFAULT_MAX_TIME_S:g} s)",
    )
    parser.add_argument("--api-key", default=None, help="sent as a Bearer token")
    parser.add_argument(
        "--batch-share",
        type=float,
        default=0.0,
        help="share (0..1) of single-turn items sent afterwards as one batch (/v1/batches)",
    )
    parser.add_argument(
        "--batch-model", default=DEFAULT_BATCH_MODEL, help="model of the batch lines"
    )
    parser.add_argument("--strong-model", default=None, help="baseline model (default: asked)")
    parser.add_argument("--json", type=Path, default=None, help="JSON report path")
    parser.add_argument("--html", type=Path, default=None, help="HTML report path")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")
    # Handled before parsing (they take their own arguments); listed here for --help.
    parser.add_argument(
        "--make-workload", metavar="OUT", help="generate a workload file instead (see its --help)"
    )
    parser.add_argument(
        "--demo", action="store_true", help="start a simulator and a gateway, load them, stop"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--make-workload" in arguments:
        from bench.load.workload import make_workload_cli

        return make_workload_cli(arguments)
    if "--demo" in arguments:
        from bench.load.demo import main as demo_main

        arguments.remove("--demo")
        return demo_main(arguments)
    args = build_parser().parse_args(arguments)
    try:
        options = LoadOptions(
            base_url=args.base_url,
            endpoint=args.endpoint,
            openai_stream=args.openai_stream,
            concurrency=args.concurrency,
            rate=args.rate,
            requests=args.requests,
            duration_s=args.duration,
            request_timeout_s=args.timeout,
            max_time_s=args.max_time or _max_time(args.duration, args.timeout),
            api_key=args.api_key,
        )
    except ValueError as exc:
        print(f"frugal load: {exc}", file=sys.stderr)
        return 2
    if not 0.0 <= args.batch_share <= 1.0:
        print("frugal load: --batch-share must be between 0 and 1", file=sys.stderr)
        return 2
    path = args.workload or default_workload_path()
    try:
        items = read_workload(path)
    except (OSError, WorkloadError) as exc:
        print(f"frugal load: {exc}", file=sys.stderr)
        return 2
    problem = anyio.run(gateway_problem, options.base_url, backend="asyncio")
    if problem is not None:
        # Nothing to measure: say so instead of writing a report of zeros.
        print(
            f"frugal load: no gateway answers at {options.base_url} ({problem}); start one "
            "(make run) or pass --base-url; no report written",
            file=sys.stderr,
        )
        return 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        report = anyio.run(
            lambda: load_and_report(
                items,
                options,
                workload=str(path),
                strong_model=args.strong_model,
                json_path=args.json or REPORT_DIR / f"load-{stamp}.json",
                html_path=args.html or REPORT_DIR / f"load-{stamp}.html",
                progress=not args.no_progress,
                batch_share=args.batch_share,
                batch_model=args.batch_model,
            ),
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    except KeyboardInterrupt:
        print("\nfrugal load: interrupted", file=sys.stderr)
        return 130
    return exit_code(report)


async def gateway_problem(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing usable answers ``GET /healthz`` at ``base_url``, or None when it does."""
    try:
        async with http_session(1) as http:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with http.get(f"{base_url.rstrip('/')}/healthz", timeout=timeout) as answer:
                if answer.status != 200:
                    return f"GET /healthz answered {answer.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _default_base_url() -> str:
    # The port `make run` / `frugal serve` picked: PORT, then FRUGAL_SERVER_PORT.
    port = os.environ.get("PORT") or os.environ.get("FRUGAL_SERVER_PORT")
    return f"http://127.0.0.1:{port}" if port else DEFAULT_BASE_URL


def _max_time(duration_s: float | None, timeout_s: float) -> float:
    # A duration-bound run stops sending at the duration and then drains what is in flight.
    return DEFAULT_MAX_TIME_S if duration_s is None else duration_s + timeout_s + _DRAIN_S


if __name__ == "__main__":
    sys.exit(main())
