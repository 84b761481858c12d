"""Sessions: one per login, owning its refresh tokens."""
