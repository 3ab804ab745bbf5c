"""Command-line papercuts: `make run` honours PORT / FRUGAL_SERVER_PORT and the ready log
names the real address; `frugal load` fails clearly with nothing listening and ends quietly
when its reader goes away (`frugal load | head`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.support.cost_http import fast_settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


def make_dry_run(target: str, env: dict[str, str]) -> str:
    """The commands ``make -n TARGET`` would run with ``env`` (the venv install is skipped)."""
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("env", "port"), [({"PORT": "8123"}, "8123"), ({"FRUGAL_SERVER_PORT": "8124"}, None)]
)
def test_make_run_leaves_the_port_to_port_or_the_settings(
    env: dict[str, str], port: str | None
) -> None:
    serve = next(line for line in make_dry_run("run", env).splitlines() if "frugal serve" in line)
    assert "8000" not in serve
    if port is None:  # FRUGAL_SERVER_PORT reaches `frugal serve` through its settings
        assert "--port" not in serve
    else:
        assert f"--port {port}" in serve
    load = next(line for line in make_dry_run("load", env).splitlines() if "frugal load" in line)
    assert (f"--base-url http://127.0.0.1:{port}" in load) if port else ("--base-url" not in load)


async def test_serve_listens_where_the_settings_say_and_logs_it(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "FRUGAL_SERVER_PORT": str(port),
        "FRUGAL_SERVER_LOG_LEVEL": "info",
    }
    command = [sys.executable, "-P", "-m", "server.cli", "serve"]
    async with await anyio.open_process(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        log = b""
        try:
            with anyio.fail_after(90):
                async for chunk in process.stderr:
                    log += chunk
                    if b"Uvicorn running on" in log:
                        break
        finally:
            process.terminate()
            await process.wait()
    text = log.decode()
    assert f"frugal ready on http://127.0.0.1:{port} " in text
    assert f"Uvicorn running on http://127.0.0.1:{port}" in text
    assert "8000" not in text


def load_command(base_url: str, tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "-P",
        "-m",
        "server.cli",
        "load",
        "--base-url",
        base_url,
        "--requests",
        "3",
        "--no-progress",
        "--json",
        str(tmp_path / "report.json"),
        "--html",
        str(tmp_path / "report.html"),
    ]


def test_load_with_nothing_listening_fails_and_writes_no_report(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        load_command(url, tmp_path),
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"frugal load: no gateway answers at {url} (")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "report.html").exists()


def start_with_closed_stdout(command: list[str]) -> subprocess.Popen[bytes]:
    """``command`` writing into a pipe whose reader is gone (`| head` that read enough)."""
    process = subprocess.Popen(
        command,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.close()
    return process


async def test_load_piped_into_a_reader_that_goes_away_ends_quietly(tmp_path: Path) -> None:
    async with run_gateway(fast_settings()) as gw:
        process = start_with_closed_stdout(load_command(gw.base_url, tmp_path))
        with anyio.fail_after(120):
            _, errors = await anyio.to_thread.run_sync(process.communicate)
    text = errors.decode()
    assert "Traceback" not in text and "BrokenPipeError" not in text, text
    assert process.returncode == 141
