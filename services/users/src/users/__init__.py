"""The users service: accounts, passwords, sessions, token issuing and JWKS."""

__version__ = "0.1.0"
