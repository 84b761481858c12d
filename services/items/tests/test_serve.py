"""``python -m items serve``: the server process, its workers, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import orjson
import psutil
import pytest

from servicekit.devstack import free_port


@pytest.fixture
def serve_env(database_url: str, redis_url: str, jwks_url: str) -> dict[str, str]:
    return os.environ | {
        "ITEMS_DATABASE_URL": database_url,
        "ITEMS_REDIS_URL": redis_url,
        "ITEMS_JWKS_URL": jwks_url,
        "ITEMS_PORT": str(free_port()),
        "ITEMS_LOG_FORMAT": "json",
    }


def test_two_workers_serve_and_stop_cleanly_on_sigterm(serve_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "items", "serve"],
        env=serve_env | {"ITEMS_WORKERS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{serve_env['ITEMS_PORT']}"
    try:
        ready = _wait_ready(url, process)
        workers = _workers(process.pid)
        pages = [httpx.get(f"{url}/items/", timeout=5) for _ in range(10)]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    assert ready.status_code == 200
    assert {page.status_code for page in pages} == {200}
    assert len(workers) == 2
    assert process.returncode == 0
    assert not any(worker.is_running() for worker in workers)
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith(b"{")]
    events = [line["event"] for line in lines]
    assert events.count("Application startup complete.") == 2
    assert events.count("Application shutdown complete.") == 2
    assert all(line["service"] == "items" for line in lines)


def _workers(pid: int) -> list[psutil.Process]:
    """The server's worker processes (multiprocessing also starts a resource tracker)."""
    return [
        child
        for child in psutil.Process(pid).children()
        if "spawn_main" in " ".join(child.cmdline())
    ]


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            response = httpx.get(f"{url}/health/ready", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if response.status_code == 200:
            return response
        time.sleep(0.1)
    raise AssertionError("the server did not become ready in 30 s")
