"""Load from wrk: one run of a scenario against a target, and what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from bench.scenarios import Scenario
from bench.targets import Target

__all__ = ["Measurement", "Settings", "measure", "require_wrk"]

_SCRIPT: Final = Path(__file__).parent / "lua" / "scenario.lua"


@dataclass(frozen=True)
class Settings:
    """How hard and how long each measurement runs, and where wrk runs."""

    connections: int
    seconds: int
    warmup: int
    wrk_cpu: int | None


@dataclass(frozen=True)
class Measurement:
    """One measured run (the warm-up before it is not kept)."""

    target: str
    scenario: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    app_cpu_percent: float
    app_rss_mb: float


@cache
def require_wrk() -> str:
    """The wrk binary, or a clear stop saying how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "make bench needs wrk, the HTTP load generator: `apt-get install wrk` "
            "(Debian/Ubuntu) or `brew install wrk` (macOS), then run it again."
        )
    return found


def measure(
    target: Target,
    scenario: Scenario,
    *,
    round_: int,
    ids: int,
    token: str,
    settings: Settings,
    forget: Callable[[], None] | None = None,
) -> Measurement:
    """Warm ``target`` up on ``scenario``, then measure it (``forget`` empties the response
    cache before a cold scenario's measurement: what another target filled is not a hit)."""
    env = {
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": target.paths[scenario.name],
        "BENCH_IDS": str(scenario.ids or ids),
        "BENCH_BODY": scenario.body or "",
        "BENCH_TOKEN": token if scenario.authenticated else "",
        "BENCH_CLIENTS": str(scenario.clients or 0),
    }
    if settings.warmup:
        _wrk(target.url, env, settings.warmup, settings)
    if scenario.cold and forget is not None:
        forget()
    cpu_before, started = target.cpu_seconds(), time.monotonic()
    result = _wrk(target.url, env, settings.seconds, settings)
    cpu = (target.cpu_seconds() - cpu_before) / (time.monotonic() - started)
    seconds = result["duration_us"] / 1e6
    return Measurement(
        target=target.label,
        scenario=scenario.name,
        round=round_,
        requests=result["requests"],
        seconds=round(seconds, 3),
        rps=round(result["requests"] / seconds, 1),
        p50_ms=result["p50_us"] / 1000,
        p90_ms=result["p90_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        non_2xx=result["status_errors"],
        socket_errors=sum(result[k] for k in ("connect_errors", "read_errors", "write_errors"))
        + result["timeouts"],
        app_cpu_percent=round(cpu * 100, 1),
        app_rss_mb=round(target.rss_bytes() / 2**20, 1),
    )


def _wrk(url: str, env: dict[str, str], seconds: int, settings: Settings) -> dict[str, Any]:
    argv = [
        require_wrk(),
        "-t1",
        f"-c{settings.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(_SCRIPT),
        url,
    ]
    if settings.wrk_cpu is not None:
        argv = ["taskset", "-c", str(settings.wrk_cpu), *argv]
    output = subprocess.run(  # noqa: S603 -- argv is built here
        argv, env=os.environ | env, capture_output=True, text=True, check=True
    ).stdout
    for line in output.splitlines():
        if line.startswith("BENCHJSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
            return result
    raise RuntimeError(f"wrk printed no result:\n{output}")
