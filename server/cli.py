"""The ``frugal`` command: ``serve`` the gateway, run the ``upstream`` simulator, ``load`` it."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from server.settings import ServerSettings
    from server.settings import Settings as ServerSettingsTree


def uvicorn_limits(server: ServerSettings) -> dict[str, object]:
    """The uvicorn options that bound what slow or idle clients hold: idle keep-alive
    connections close after ``keep_alive_timeout_s``; at ``max_concurrent_connections``
    connections or in-flight requests (per worker) uvicorn answers 503; the httptools
    protocol is `server.connection_guard`'s, which adds the header read timeout and the cap
    per client address (uvicorn has neither)."""
    from server.connection_guard import ConnectionGuard, guarded_protocol

    guard = ConnectionGuard(
        header_timeout_s=server.header_read_timeout_s,
        max_per_client=server.max_connections_per_client,
    )
    return {
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "limit_concurrency": server.max_concurrent_connections,
        "http": guarded_protocol(guard),
    }


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.config import (
        ConfigError,
        export_metrics_dir,
        export_session_secret,
        load_settings,
    )
    from server.config_cli import config_error_line
    from server.logging_setup import configure_logging
    from server.process_tuning import freeze_startup_objects, tune_process

    try:
        settings = load_settings()
        # Command-line overrides go into the settings (and, for worker processes that load
        # their own, into the environment) so every log line says where it really listens.
        settings = apply_serve_overrides(settings, host=args.host, port=args.port)
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return 2
    host = settings.server.host
    port = settings.server.port
    workers = args.workers or settings.server.workers
    configure_logging(settings.server.log_level)
    if settings.uses_simulated_provider:
        print(
            "frugal: no provider configured - answers come from the built-in SIMULATED provider "
            "(set OPENAI_API_KEY / ANTHROPIC_API_KEY or *_BASE_URL for real ones)",
            file=sys.stderr,
        )
    common = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "log_level": settings.server.log_level,
        "access_log": False,
        **uvicorn_limits(settings.server),
    }
    if workers == 1:
        from server.drain import Drain, DrainingServer

        tune_process()
        drain = Drain()
        app = create_app(settings, on_ready=freeze_startup_objects, drain=drain)
        config = uvicorn.Config(
            app,
            timeout_graceful_shutdown=settings.server.drain_grace_s,  # type: ignore[arg-type]
            **common,  # type: ignore[arg-type]
        )
        server = DrainingServer(config, drain, notice_s=settings.server.drain_notice_s)
        server.run()
        return 0 if server.started else 3
    if settings.redis.url is None:
        print(
            "frugal: several workers need FRUGAL_REDIS_URL (or REDIS_URL), so that they share "
            "one cache, one cost total, one budget and one rate limit",
            file=sys.stderr,
        )
        return 2
    if settings.auth.session_secret is None:
        export_session_secret(secrets.token_urlsafe(32))
    # Every worker must see the shared Prometheus directory before it imports
    # prometheus_client (see metrics.prometheus_multiprocess); workers inherit the environment.
    metrics_dir = tempfile.mkdtemp(prefix="frugal-metrics-")
    export_metrics_dir(metrics_dir)
    try:
        uvicorn.run(
            "server.app:app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def apply_serve_overrides(
    settings: ServerSettingsTree, *, host: str | None, port: int | None
) -> ServerSettingsTree:
    """``settings`` with ``frugal serve --host/--port`` applied (also exported for workers)."""
    import msgspec

    from server.config import ConfigError, export_server_address

    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--port: expected a TCP port between 1 and 65535 (got {port})")
    server = msgspec.structs.replace(
        settings.server,
        host=host if host is not None else settings.server.host,
        port=port if port is not None else settings.server.port,
    )
    export_server_address(server.host, server.port)
    return msgspec.structs.replace(settings, server=server)


def _upstream(args: argparse.Namespace) -> int:
    from simulator import config_from_args, serve_simulator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = config_from_args(args)
    print(f"frugal upstream simulator on http://{args.host}:{args.port}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(
            serve_simulator,
            args.host,
            args.port,
            config,
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from simulator import add_cli_arguments

    parser = argparse.ArgumentParser(prog="frugal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway (settings from FRUGAL_* env)")
    serve.add_argument("--host", default=None, help="overrides FRUGAL_SERVER_HOST")
    serve.add_argument("--port", type=int, default=None, help="overrides FRUGAL_SERVER_PORT")
    serve.add_argument(
        "--workers", type=int, default=None, help="overrides FRUGAL_SERVER_WORKERS (needs Redis)"
    )
    serve.set_defaults(handler=_serve)

    upstream = commands.add_parser(
        "upstream", help="run the upstream simulator (OpenAI and Anthropic wire formats)"
    )
    add_cli_arguments(upstream)
    upstream.set_defaults(handler=_upstream)

    from server.kb_cli import add_kb_commands

    add_kb_commands(commands)
    from server.config_cli import add_config_commands

    add_config_commands(commands)
    commands.add_parser(
        "calibrate",
        help="precision/recall/false-hit rate per semantic-cache threshold on labelled pairs",
        add_help=False,
    )
    commands.add_parser(
        "load",
        help="send a workload to the gateway; report speed, cache hits, routes and savings",
        add_help=False,
    )
    return parser


SIGPIPE_EXIT = 141
"""Exit status when the reader of stdout went away (128 + SIGPIPE, as a shell tool's)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``frugal`` command; when stdout's reader has gone (``frugal load | head``),
    stop quietly instead of ending in a BrokenPipeError traceback."""
    try:
        status = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a pipe is block-buffered: a closed reader shows up here
        return status
    except BaseException as exc:
        if not _is_broken_pipe(exc):
            raise
        # Python would still try to flush stdout at exit and report that failure too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_EXIT


def _is_broken_pipe(exc: BaseException) -> bool:
    if isinstance(exc, BrokenPipeError):
        return True
    if isinstance(exc, BaseExceptionGroup):  # raised inside a task group
        return all(_is_broken_pipe(inner) for inner in exc.exceptions)
    return False


def _run(arguments: list[str]) -> int:
    if arguments[:1] == ["calibrate"]:
        # calibrate owns its own argument parser (it is also runnable on its own).
        from server.calibrate import main as calibrate_main

        return calibrate_main(arguments[1:])
    if arguments[:1] == ["load"]:
        # The load script (bench.load) owns its parser too: `frugal load --help`.
        from bench.load.cli import main as load_main

        return load_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
