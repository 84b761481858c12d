"""What a benchmark asks of each target: one kind of request, repeated under load.

To add a scenario: a `Scenario` here, the path each target serves it at in
`bench.targets.Target._paths`, and its name in the modes of `bench.__main__`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """A request that wrk repeats: ``{id}`` in a target's path becomes a random seeded id."""

    name: str
    title: str
    method: str = "GET"
    body: str | None = None
    authenticated: bool = False
    ids: int | None = None
    """Draw ``{id}`` from the first this many items (a hot set), not from all of them."""
    clients: int | None = None
    """Send each request as one of this many clients at random (``X-Forwarded-For`` from a
    trusted proxy), each too quiet for a rate-limit lease: every request asks Redis."""
    cold: bool = False
    """Empty the response cache right before measuring: what is measured is misses."""


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("get_item", "GET /items/{id}, any of them: cache misses, mostly", cold=True),
        Scenario("get_item_hot", "GET /items/{id}, one of 1,000: cache hits", ids=1_000),
        Scenario(
            "get_item_hot_clients",
            "GET /items/{id}, one of 1,000, from 100,000 clients: a limit and a hit each",
            ids=1_000,
            clients=100_000,
        ),
        Scenario("list", "GET /items/?skip=100&limit=10"),
        Scenario(
            "list_clients",
            "GET /items/?skip=100&limit=10 from 100,000 clients: a limit in Redis each",
            clients=100_000,
        ),
        Scenario("list_keyset", "GET /items/?limit=10 after item 100 (cursor)"),
        Scenario(
            "create",
            "POST /items/ (authenticated)",
            method="POST",
            body='{"name": "Benchmark lamp", "description": "Brass, made under load"}',
            authenticated=True,
        ),
        Scenario("page_first", "GET /items/?limit=100: the first page"),
        Scenario("page_1000_keyset", "GET /items/?limit=100: the 1,000th page (cursor)"),
        Scenario("page_1000_offset", "GET /items/?limit=100: the 1,000th page (skip)"),
    )
}
