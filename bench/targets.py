"""The servers a benchmark measures: the raw reference and the items service.

Every target runs for the whole run, pinned to the app core, and answers the
same paths; ``paths`` maps each scenario to the path that target serves it at
(keyset cursors are the service's own, found through its ``Link`` headers).
A service target may switch settings (``overrides``), one feature off at a time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import httpx
import psutil

from bench.scenarios import Scenario
from bench.stack import Stack
from servicekit.devstack import free_port, spawn_tied, stop_process, wait_until_serving

__all__ = ["DEEP_AFTER", "Target", "baseline", "reference", "service"]

POOL_SIZE: Final = 10
"""Connections per process, the same for every target: the service's default pool size."""
DEEP_AFTER: Final = 99_900
"""Where the 1,000th page of 100 items starts."""


@dataclass
class Target:
    """One server under test."""

    label: str
    kind: Literal["reference", "service"]
    description: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    paths: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, cpu: int | None, log: Path) -> None:
        """Start it (on ``cpu``), wait until it answers, learn its paths."""
        argv = self.argv if cpu is None else ["taskset", "-c", str(cpu), *self.argv]
        with log.open("ab") as output:
            self.process = spawn_tied(
                argv, death_signal=signal.SIGTERM, env=os.environ | self.env, log=output
            )
        wait_until_serving(self.url + self.ready_path, self.process, what=self.label)
        self.paths = self._paths()

    def check(self, scenarios: Iterable[Scenario], *, token: str) -> None:
        """Ask once per scenario; a target that answers wrongly is not worth measuring."""
        for scenario in scenarios:
            path = self.paths[scenario.name].replace("{id}", "1")
            headers = {"Authorization": f"Bearer {token}"} if scenario.authenticated else {}
            if scenario.body:
                headers["Content-Type"] = "application/json"
            response = httpx.request(
                scenario.method, self.url + path, headers=headers, content=scenario.body, timeout=10
            )
            if not response.is_success or not isinstance(response.json(), dict | list):
                raise RuntimeError(
                    f"{self.label} answers {scenario.method} {path} with {response.status_code}: "
                    f"{response.text[:300]}"
                )

    def stop(self) -> None:
        """Stop it; its pool closes, its last log lines are written."""
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM, 20)

    def cpu_seconds(self) -> float:
        """CPU time its processes have used so far (user and system)."""
        return sum(sum(p.cpu_times()[:2]) for p in self._processes())

    def rss_bytes(self) -> int:
        """Resident memory of its largest process now: the worker, not the supervisor."""
        return max((p.memory_info().rss for p in self._processes()), default=0)

    def _processes(self) -> list[psutil.Process]:
        if self.process is None:
            return []
        root = psutil.Process(self.process.pid)
        # `taskset` execs the server, so the root is the server itself.
        return [root, *root.children(recursive=True)]

    def _paths(self) -> dict[str, str]:
        paths = {
            "get_item": "/items/{id}",
            "get_item_hot": "/cached/items/{id}" if self.kind == "reference" else "/items/{id}",
            "list": "/items/?skip=100&limit=10",
            "create": "/items/",
            "page_first": "/items/?limit=100",
            "page_1000_offset": f"/items/?skip={DEEP_AFTER}&limit=100",
        }
        paths["get_item_hot_clients"] = paths["get_item_hot"]
        paths["list_clients"] = paths["list"]
        if self.kind == "reference":
            paths["list_keyset"] = "/items/?limit=10&after=100"
            paths["page_1000_keyset"] = f"/items/?limit=100&after={DEEP_AFTER}"
        else:
            paths["list_keyset"] = self._next_page("/items/?skip=90&limit=10")
            paths["page_1000_keyset"] = self._next_page(
                f"/items/?skip={DEEP_AFTER - 100}&limit=100"
            )
        return paths

    def _next_page(self, path: str) -> str:
        """The path of the ``Link: rel="next"`` of the page at ``path``."""
        link = httpx.get(self.url + path, timeout=10).headers["link"]
        url = urlsplit(link.split(">", 1)[0].lstrip("<"))
        return f"{url.path}?{url.query}"


def reference(stack: Stack, *, workers: int = 1) -> Target:
    """The raw ASGI + asyncpg + orjson app, under uvicorn with uvloop and httptools."""
    port = free_port()
    return Target(
        label="reference",
        kind="reference",
        description="raw ASGI + asyncpg + orjson (the limit)",
        argv=[
            *(sys.executable, "-m", "uvicorn", "bench.reference:app", "--port", str(port)),
            *("--workers", str(workers), "--loop", "uvloop", "--http", "httptools"),
            *("--no-access-log", "--log-level", "warning"),
        ],
        env={
            "BENCH_PG_DSN": stack.database_url("items"),
            "BENCH_REDIS_URL": stack.redis.url(),
            "BENCH_POOL_SIZE": str(POOL_SIZE),
        },
        port=port,
        ready_path="/health/live",
    )


def baseline(stack: Stack, revision: str, *, workers: int = 1) -> Target:
    """The items service as it was at git ``revision``: its code, this environment.

    For a change on the request path, the ratio before and after in one run. The
    revision's source is exported into the run's directory and put first on the path;
    it runs on today's database schema.
    """
    source = stack.directory / "baseline"
    source.mkdir()
    archive = subprocess.run(  # noqa: S603 -- git, with a revision the user named
        ["git", "archive", "--format=tar", revision, "packages", "services"],  # noqa: S607
        capture_output=True,
        check=True,
        cwd=Path(__file__).parents[1],
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)  # noqa: S603, S607
    paths = [source / "packages" / "servicekit" / "src", source / "services" / "items" / "src"]
    return service(
        stack,
        label=f"items@{revision}",
        description=f"the items service at {revision}",
        workers=workers,
        overrides={"PYTHONPATH": os.pathsep.join(str(path) for path in paths)},
    )


def service(
    stack: Stack,
    *,
    label: str,
    description: str,
    workers: int = 1,
    overrides: Mapping[str, str] | None = None,
) -> Target:
    """``python -m items serve`` as in production (JSON access log at INFO), plus ``overrides``."""
    port = free_port()
    env = stack.service_env("ITEMS_", "items") | {
        "ITEMS_PORT": str(port),
        "ITEMS_WORKERS": str(workers),
        # Every request is counted, none refused: the limit's cost, not its refusals.
        "ITEMS_RATE_LIMIT": "1000000000/minute",
        # wrk is the proxy of the many-clients scenarios, which name their client.
        "ITEMS_TRUSTED_PROXIES": "127.0.0.1",
        "ITEMS_LOG_FORMAT": "json",
        "ITEMS_LOG_LEVEL": "INFO",
        "ITEMS_DATABASE_POOL_SIZE": str(POOL_SIZE),
        "ITEMS_DATABASE_MAX_OVERFLOW": "0",
    }
    return Target(
        label=label,
        kind="service",
        description=description,
        argv=[sys.executable, "-m", "items", "serve"],
        env=env | dict(overrides or {}),
        port=port,
        ready_path="/health/ready",
    )
