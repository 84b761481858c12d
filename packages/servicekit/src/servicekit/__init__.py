"""The shared library of the services."""
