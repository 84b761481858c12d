"""The users service's schema: every table (importing registers them) and its migrations."""

from pathlib import Path

from servicekit.db import Migrations
from users.account.models import User
from users.database import Base
from users.session.models import RefreshToken, Revocation, Session
from users.signing_key.models import SigningKey

__all__ = ["MIGRATIONS", "RefreshToken", "Revocation", "Session", "SigningKey", "User"]

MIGRATIONS = Migrations(
    "users",
    # The revisions live beside the package's source tree: services/users/migrations.
    directory=Path(__file__).resolve().parents[2] / "migrations",
    metadata=Base.metadata,
)
