"""A rate-limit policy: a name (in the headers and the keys), a quota and its window."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from servicekit.settings import Rate

__all__ = ["RatePolicy"]


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """``quota`` requests per ``window`` seconds, under ``name``."""

    name: str
    quota: int
    window: int
    policy_field: bytes = field(init=False, repr=False, compare=False)
    """Its ``RateLimit-Policy`` item as sent, made once."""
    name_field: bytes = field(init=False, repr=False, compare=False)
    """Its name as a structured-field string (``"default"``), made once."""

    def __post_init__(self) -> None:
        if self.quota < 1 or self.window < 1:
            raise ValueError("a rate limit needs a quota and a window of at least 1")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.name):
            raise ValueError(f"{self.name!r} is not a policy name (a-z, 0-9, _ and -)")
        name_field = f'"{self.name}"'.encode()
        object.__setattr__(self, "name_field", name_field)
        object.__setattr__(
            self, "policy_field", b"%s;q=%d;w=%d" % (name_field, self.quota, self.window)
        )

    @classmethod
    def of(cls, name: str, rate: Rate) -> RatePolicy:
        """The policy ``name`` of a configured ``rate``."""
        return cls(name=name, quota=rate.quota, window=rate.window)

    @property
    def policy_header(self) -> str:
        """Its ``RateLimit-Policy`` item: ``"default";q=600;w=60``."""
        return self.policy_field.decode()
