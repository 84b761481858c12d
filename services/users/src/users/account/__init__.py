"""Accounts: registration, passwords, the user resource."""
