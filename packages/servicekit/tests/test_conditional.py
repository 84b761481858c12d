"""Conditional requests: weak comparison for If-None-Match, strong for If-Match."""

from __future__ import annotations

import pytest

from servicekit.http import if_match_holds, if_none_match_matches


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"3"', True),
        ('W/"3"', True),
        ('"1", "3"', True),
        ("*", True),
        ('"2"', False),
        ("", False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert if_none_match_matches(header, '"3"') is matches


@pytest.mark.parametrize(
    ("header", "holds"),
    [
        (None, True),
        ('"3"', True),
        ('"2", "3"', True),
        ("*", True),
        ('W/"3"', False),
        ('"2"', False),
    ],
)
def test_if_match(header: str | None, holds: bool) -> None:
    assert if_match_holds(header, '"3"') is holds
