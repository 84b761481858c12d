"""Time-ordered UUIDs."""

from __future__ import annotations

import time
import uuid

from servicekit.ids import uuid7


def test_is_a_version_7_rfc_9562_uuid() -> None:
    value = uuid7()

    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000

    assert before <= value.int >> 80 <= after


def test_later_ids_sort_after_earlier_ones() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()

    assert first < second


def test_are_unique() -> None:
    assert len({uuid7() for _ in range(10_000)}) == 10_000
