"""The items service: the item catalogue."""

__version__ = "0.1.0"
