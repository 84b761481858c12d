"""Keyset cursors: opaque, round-trip, and refuse anything they did not make."""

from __future__ import annotations

import base64

import pytest

from items.item.cursor import decode_cursor, encode_cursor


@pytest.mark.parametrize("last_id", [0, 1, 42, 2**63 - 1])
def test_round_trips(last_id: int) -> None:
    assert decode_cursor(encode_cursor(last_id)) == last_id


def test_is_opaque_and_url_safe() -> None:
    cursor = encode_cursor(123456)

    assert "123456" not in cursor
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a" * 65,
        encode_cursor(1)[:-1] + "*",
        "aTo",
        "aTotMQ",
        "aToxZQ",
        "eDox",
        "aTrCsg",
        7,
        None,
    ],
)
def test_refuses_what_it_did_not_make(cursor: object) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)


def test_refuses_ids_past_bigint() -> None:
    too_big = base64.urlsafe_b64encode(f"i:{2**63}".encode()).decode()

    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(too_big)
