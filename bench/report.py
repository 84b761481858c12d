"""What a run found: medians, same-round ratios to the reference, a table, a chart."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.load import Measurement

__all__ = [
    "FeatureCost",
    "Row",
    "chart",
    "costs_markdown",
    "feature_costs",
    "machine",
    "markdown",
    "rows",
    "save",
]

_PACKAGES = ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn", "orjson")


@dataclass(frozen=True)
class Row:
    """One target on one scenario, over every round."""

    scenario: str
    target: str
    rps: float
    rps_min: float
    rps_max: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    app_cpu_percent: float
    app_rss_mb: float
    ratio: float | None
    """Median over rounds of this target's rps / the reference's rps in the same round."""
    ratio_min: float | None
    ratio_max: float | None
    p99_ratio: float | None
    """Median over rounds of this target's p99 / the reference's p99."""


def rows(measurements: Sequence[Measurement], *, reference: str) -> list[Row]:
    """A `Row` per (scenario, target), in the order they were first measured."""
    keys = list(dict.fromkeys((m.scenario, m.target) for m in measurements))
    result = []
    for scenario, target in keys:
        runs = [m for m in measurements if (m.scenario, m.target) == (scenario, target)]
        ratios, p99_ratios = [], []
        for run in runs:
            base = [
                m
                for m in measurements
                if (m.scenario, m.target, m.round) == (scenario, reference, run.round)
            ]
            if target != reference and base and base[0].rps:
                ratios.append(run.rps / base[0].rps)
                p99_ratios.append(run.p99_ms / base[0].p99_ms if base[0].p99_ms else 0.0)
        result.append(
            Row(
                scenario=scenario,
                target=target,
                rps=round(statistics.median(m.rps for m in runs), 1),
                rps_min=min(m.rps for m in runs),
                rps_max=max(m.rps for m in runs),
                p50_ms=round(statistics.median(m.p50_ms for m in runs), 2),
                p99_ms=round(statistics.median(m.p99_ms for m in runs), 2),
                non_2xx=sum(m.non_2xx for m in runs),
                socket_errors=sum(m.socket_errors for m in runs),
                app_cpu_percent=round(statistics.median(m.app_cpu_percent for m in runs), 1),
                app_rss_mb=max(m.app_rss_mb for m in runs),
                ratio=round(statistics.median(ratios), 3) if ratios else None,
                ratio_min=round(min(ratios), 3) if ratios else None,
                ratio_max=round(max(ratios), 3) if ratios else None,
                p99_ratio=round(statistics.median(p99_ratios), 2) if p99_ratios else None,
            )
        )
    return result


@dataclass(frozen=True)
class FeatureCost:
    """What one feature costs on one scenario: the service with it on, against it off."""

    scenario: str
    variant: str
    cost: float
    """1 - median over rounds of (service req/s ÷ the variant's req/s in the same round)."""
    cost_min: float
    cost_max: float


def feature_costs(
    measurements: Sequence[Measurement], *, service: str, variants: Sequence[str]
) -> list[FeatureCost]:
    """A `FeatureCost` for every scenario that ``service`` and a variant both ran."""
    by_key = {(m.scenario, m.target, m.round): m.rps for m in measurements}
    result = []
    for variant in variants:
        for scenario in dict.fromkeys(m.scenario for m in measurements if m.target == variant):
            costs = [
                1 - rps / by_key[scenario, variant, round_]
                for (name, target, round_), rps in by_key.items()
                if (name, target) == (scenario, service) and by_key.get((scenario, variant, round_))
            ]
            if costs:
                result.append(
                    FeatureCost(
                        scenario=scenario,
                        variant=variant,
                        cost=round(statistics.median(costs), 3),
                        cost_min=round(min(costs), 3),
                        cost_max=round(max(costs), 3),
                    )
                )
    return result


def costs_markdown(costs: Sequence[FeatureCost], *, service: str) -> str:
    """The costs as a markdown table: the share of throughput each feature takes."""
    lines = [
        f"| scenario | feature switched off | {service} costs (min-max) |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {c.scenario} | {c.variant} | {c.cost:+.1%} ({c.cost_min:+.1%} to {c.cost_max:+.1%}) |"
        for c in costs
    ]
    return "\n".join(lines)


def markdown(table: Sequence[Row]) -> str:
    """The rows as a markdown table, grouped by scenario."""
    lines = [
        "| scenario | target | req/s (min-max) | x reference (min-max) | p50 ms | p99 ms "
        "| p99 x ref | non-2xx | socket errors | app CPU % | app RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table:
        ratio = (
            f"**{row.ratio:.2f}** ({row.ratio_min:.2f}-{row.ratio_max:.2f})"
            if row.ratio is not None and row.ratio_min is not None and row.ratio_max is not None
            else "1"
        )
        p99_ratio = f"{row.p99_ratio:.1f}" if row.p99_ratio is not None else "1"
        lines.append(
            f"| {row.scenario} | {row.target} | {row.rps:,.0f} ({row.rps_min:,.0f}-"
            f"{row.rps_max:,.0f}) | {ratio} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {p99_ratio} "
            f"| {row.non_2xx} | {row.socket_errors} | {row.app_cpu_percent:.0f} "
            f"| {row.app_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: version(name) for name in _PACKAGES},
    }


def save(
    directory: Path,
    *,
    mode: str,
    settings: dict[str, Any],
    measurements: Sequence[Measurement],
    table: Sequence[Row],
    costs: Sequence[FeatureCost] = (),
) -> Path:
    """Write every raw measurement and the summary to ``<directory>/<date>-<mode>.json``."""
    now = datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{now:%Y-%m-%d}-{mode}.json"
    document = {
        "date": now.isoformat(timespec="seconds"),
        "mode": mode,
        "machine": machine(),
        "settings": settings,
        "summary": [asdict(row) for row in table],
        "feature_costs": [asdict(cost) for cost in costs],
        "measurements": [asdict(m) for m in measurements],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def chart(table: Sequence[Row], path: Path, *, title: str) -> None:
    """Throughput, and p50/p99, per scenario and target, as a PNG."""
    import matplotlib as mpl  # noqa: PLC0415 -- only the chart needs it

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    scenarios = list(dict.fromkeys(row.scenario for row in table))
    targets = list(dict.fromkeys(row.target for row in table))
    width = 0.8 / len(targets)
    figure, (throughput, latency) = plt.subplots(
        2, 1, figsize=(max(8, 1.6 * len(scenarios)), 8), sharex=True
    )
    for index, target in enumerate(targets):
        found = {row.scenario: row for row in table if row.target == target}
        xs = [i + index * width for i, s in enumerate(scenarios) if s in found]
        chosen = [found[s] for s in scenarios if s in found]
        throughput.bar(xs, [row.rps for row in chosen], width, label=target)
        latency.bar(xs, [row.p99_ms for row in chosen], width, label=f"{target} p99")
        latency.scatter(xs, [row.p50_ms for row in chosen], marker="_", s=200, color="black")
    throughput.set_ylabel("requests per second (median)")
    throughput.set_title(title)
    throughput.legend(fontsize="small")
    latency.set_ylabel("latency, ms (bars p99, ticks p50)")
    latency.set_xticks([i + 0.4 - width / 2 for i in range(len(scenarios))], scenarios)
    latency.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
