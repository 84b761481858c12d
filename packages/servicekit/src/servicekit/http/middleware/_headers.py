"""The headers every response of a service carries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

__all__ = ["service_headers"]

_SECURITY: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_NO_STORE: Final = (b"cache-control", b"no-store")


def service_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    request_id: bytes,
    elapsed_ms: float,
    credentials: bool,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> list[tuple[bytes, bytes]]:
    """A response's ``headers`` plus the request id, ``Server-Timing``, the security set
    and ``extra`` (the rate limit's).

    ``Cache-Control: no-store`` too when the request carried credentials, unless the
    endpoint chose its own ``Cache-Control``.
    """
    result = [
        *headers,
        (b"x-request-id", request_id),
        (b"server-timing", b"app;dur=%.1f" % elapsed_ms),
        *_SECURITY,
        *extra,
    ]
    if credentials and not any(name.lower() == b"cache-control" for name, _ in result):
        result.append(_NO_STORE)
    return result
