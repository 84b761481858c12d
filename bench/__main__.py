"""``make bench``: the items service against a raw reference, in the same run.

    python -m bench            quick: the main scenarios, 2 rounds (under 5 minutes)
    python -m bench --full     every scenario and feature switch, 3 rounds, 1,000,000 items
    python -m bench --workers 2    every target with 2 processes, on every core

It starts its own servers (embedded PostgreSQL and Valkey, seeded), the users service
(for a token), the raw reference and the service, each pinned to the app core while
wrk, the databases and users share the other. Every round measures each scenario on
each target, in an order that rotates between rounds, so that the machine's drift hits
all targets alike: compare the same-round ratios, not the absolute numbers. Results go
to ``bench/results/<date>-<mode>.json`` (every raw measurement) and a PNG chart.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bench.load import Measurement, Settings, measure, require_wrk
from bench.report import chart, costs_markdown, feature_costs, machine, markdown, rows, save
from bench.scenarios import SCENARIOS
from bench.stack import Stack, running_stack
from bench.targets import Target, baseline, reference, service

_RESULTS: Final = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Mode:
    """How much a run measures."""

    rounds: int
    seconds: int
    warmup: int
    rows: int
    scenarios: tuple[str, ...]
    variants: tuple[str, ...]
    """The service with one feature off (labels of `_VARIANTS`), on the scenarios that
    feature touches: what each feature costs, measured in the same rounds."""


# The service with one feature off: (label, what is off, settings, scenarios it touches).
_VARIANTS: Final = {
    label: (off, settings, scenarios)
    for label, off, settings, scenarios in (
        (
            "items-no-access-log",
            "no access log",
            {"ITEMS_LOG_LEVEL": "WARNING"},
            ("get_item", "get_item_hot", "list", "create"),
        ),
        (
            "items-no-metrics",
            "no metrics",
            {"ITEMS_METRICS_ENABLED": "false"},
            ("get_item", "get_item_hot", "list", "create"),
        ),
        (
            "items-no-token-cache",
            "every token checked",
            {"ITEMS_TOKEN_CACHE_SIZE": "0"},
            ("create",),
        ),
        (
            "items-no-rate-limit",
            "no rate limit",
            {"ITEMS_RATE_LIMIT_ENABLED": "false"},
            ("get_item_hot", "get_item_hot_clients", "list", "list_clients", "create"),
        ),
        (
            "items-no-cache",
            "no cache",
            {"ITEMS_CACHE_ENABLED": "false"},
            ("get_item", "get_item_hot", "get_item_hot_clients"),
        ),
    )
}
MODES: Final = {
    "quick": Mode(
        rounds=2,
        seconds=5,
        warmup=2,
        rows=100_000,
        scenarios=(
            "get_item",
            "get_item_hot",
            "get_item_hot_clients",
            "list",
            "list_clients",
            "create",
        ),
        variants=("items-no-rate-limit",),
    ),
    "full": Mode(
        rounds=3,
        seconds=10,
        warmup=3,
        rows=1_000_000,
        scenarios=tuple(SCENARIOS),
        variants=tuple(_VARIANTS),
    ),
}
_SOAK_SCENARIOS: Final = ("get_item", "list", "create")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="every scenario and feature switch")
    parser.add_argument("--rounds", type=int, help="rounds (each measures every pair once)")
    parser.add_argument("--seconds", type=int, help="length of each measurement")
    parser.add_argument("--warmup", type=int, help="warm-up before each measurement, seconds")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:VAR=VALUE[,VAR=VALUE]",
        help="also measure the service with these settings (repeatable), e.g. "
        "'no-pre-ping:ITEMS_DATABASE_POOL_PRE_PING=false'",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the items service as it was at git revision REV (e.g. HEAD~1)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        metavar="REQUESTS",
        help="instead: drive the service with this many requests (get, list and create in "
        "turn) and record its memory along the way",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run every target with N processes; above 1, nothing is pinned (how it scales)",
    )
    parser.add_argument("--out", type=Path, default=_RESULTS, help="where results go")
    args = parser.parse_args(argv)
    require_wrk()
    mode = MODES["full" if args.full else "quick"]
    mode_name = ("full" if args.full else "quick") + (
        f"-{args.workers}-workers" if args.workers > 1 else ""
    )
    scenarios = tuple(args.scenarios.split(",")) if args.scenarios else mode.scenarios
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"no scenario {', '.join(sorted(unknown))}; there are {', '.join(SCENARIOS)}")
    pinned = (os.cpu_count() or 1) >= 2 and args.workers == 1
    app_cpu, other_cpu = (1, 0) if pinned else (None, None)
    settings = Settings(
        connections=args.connections,
        seconds=args.seconds or mode.seconds,
        warmup=mode.warmup if args.warmup is None else args.warmup,
        wrk_cpu=other_cpu,
    )
    rounds = args.rounds or mode.rounds
    args.out.mkdir(parents=True, exist_ok=True)
    if args.soak:
        _soak(args.soak, app_cpu, other_cpu, settings, args.out)
        return
    with running_stack(rows=mode.rows, db_cpu=other_cpu) as stack:
        targets = _targets(stack, args, mode)
        try:
            for target in targets:
                _say(f"starting {target.label}: {target.description}")
                target.start(cpu=app_cpu, log=stack.directory / f"{target.label}.log")
                target.check([SCENARIOS[name] for name in scenarios], token=stack.token)
            measurements = _run(targets, scenarios, rounds, stack, settings)
        finally:
            for target in targets:
                target.stop()
    table = rows(measurements, reference="reference")
    costs = feature_costs(measurements, service="items", variants=mode.variants)
    print("\n" + markdown(table))  # noqa: T201 -- a terminal program
    if costs:
        print("\n" + costs_markdown(costs, service="items"))  # noqa: T201
    path = save(
        args.out,
        mode=mode_name,
        settings=asdict(settings)
        | {"rounds": rounds, "rows": mode.rows, "pinned": pinned, "workers": args.workers},
        measurements=measurements,
        table=table,
        costs=costs,
    )
    chart(table, path.with_suffix(".png"), title=f"items vs raw reference ({path.stem})")
    _say(f"\nresults: {path}\nchart:   {path.with_suffix('.png')}")


def _soak(
    total: int, app_cpu: int | None, other_cpu: int | None, settings: Settings, out: Path
) -> None:
    """Memory of one service process over ``total`` requests: RSS after every chunk."""
    samples: list[dict[str, float]] = []
    with running_stack(rows=100_000, db_cpu=other_cpu) as stack:
        target = service(stack, label="items", description="the items service, soaked")
        target.start(cpu=app_cpu, log=Path(os.devnull))
        try:
            done = 0
            chunk = Settings(
                connections=settings.connections, seconds=30, warmup=0, wrk_cpu=settings.wrk_cpu
            )
            while done < total:
                name = _SOAK_SCENARIOS[len(samples) % len(_SOAK_SCENARIOS)]
                result = measure(
                    target,
                    SCENARIOS[name],
                    round_=0,
                    ids=stack.rows,
                    token=stack.token,
                    settings=chunk,
                )
                done += result.requests
                samples.append({"requests": done, "rss_mb": result.app_rss_mb, "rps": result.rps})
                _say(f"{done:>10,} requests  RSS {result.app_rss_mb:6.1f} MB  ({name})")
        finally:
            target.stop()
    early = next((s for s in samples if s["requests"] >= total / 4), samples[0])
    growth = 100 * (samples[-1]["rss_mb"] - early["rss_mb"]) / early["rss_mb"]
    _say(
        f"\nRSS {early['rss_mb']:.1f} MB at {early['requests']:,.0f} requests, "
        f"{samples[-1]['rss_mb']:.1f} MB at {samples[-1]['requests']:,.0f}: {growth:+.1f}%"
    )
    path = out / f"{datetime.now(UTC):%Y-%m-%d}-soak.json"
    path.write_text(
        json.dumps({"machine": machine(), "samples": samples, "growth_percent": growth}, indent=2)
        + "\n"
    )
    _say(f"results: {path}")


def _targets(stack: Stack, args: argparse.Namespace, mode: Mode) -> list[Target]:
    """The reference, the service, and what the command line and the mode add."""
    workers = args.workers
    targets = [
        reference(stack, workers=workers),
        service(
            stack,
            label="items",
            description="the items service, every feature on",
            workers=workers,
        ),
    ]
    if args.baseline:
        targets.append(baseline(stack, args.baseline, workers=workers))
    variants = [
        *((label, *_VARIANTS[label][:2]) for label in mode.variants),
        *map(_variant, args.variant),
    ]
    targets += [
        service(
            stack,
            label=label,
            description=f"items, {off}",
            workers=workers,
            overrides=overrides,
        )
        for label, off, overrides in variants
    ]
    return targets


def _measures(target: Target, scenario: str) -> bool:
    """Whether ``target`` is measured on ``scenario``: a feature switch only where it counts."""
    variant = _VARIANTS.get(target.label)
    return variant is None or scenario in variant[2]


def _variant(text: str) -> tuple[str, str, dict[str, str]]:
    label, _, assignments = text.partition(":")
    overrides = dict(pair.split("=", 1) for pair in assignments.split(",") if "=" in pair)
    if not label or not overrides:
        raise SystemExit(f"--variant {text!r}: expected LABEL:VAR=VALUE[,VAR=VALUE]")
    return f"items-{label}", ", ".join(f"{k}={v}" for k, v in overrides.items()), overrides


def _run(
    targets: list[Target],
    scenarios: Sequence[str],
    rounds: int,
    stack: Stack,
    settings: Settings,
) -> list[Measurement]:
    measurements = []
    for round_ in range(1, rounds + 1):
        order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
        for name in scenarios:
            for target in order:
                if not _measures(target, name):
                    continue
                result = measure(
                    target,
                    SCENARIOS[name],
                    round_=round_,
                    ids=stack.rows,
                    token=stack.token,
                    settings=settings,
                    forget=stack.forget_responses,
                )
                measurements.append(result)
                _say(
                    f"round {round_}/{rounds}  {name:<17} {target.label:<20} "
                    f"{result.rps:>8,.0f} req/s  p99 {result.p99_ms:6.1f} ms  "
                    f"cpu {result.app_cpu_percent:3.0f}%  non-2xx {result.non_2xx}"
                )
    return measurements


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 -- a terminal program


if __name__ == "__main__":
    main()
