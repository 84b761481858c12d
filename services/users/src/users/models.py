"""Every table of the users service, for migrations (importing registers them)."""

from users.account.models import User
from users.database import Base
from users.session.models import RefreshToken, Session
from users.signing_key.models import SigningKey

__all__ = ["RefreshToken", "Session", "SigningKey", "User", "metadata"]

metadata = Base.metadata
