"""The shared library every service is built on: no business logic, no service imports.

Each capability is a package (its ``__init__`` says what it offers) or a module:

- `servicekit.app`: ``create_service_app``, the one way a service builds its app;
- `servicekit.cli`: ``python -m <service> serve|migrate|revision``;
- `servicekit.settings`: typed settings sections read from the environment;
- `servicekit.state`: what a service's lifespan opens, read back from a request;
- `servicekit.errors`: the errors a service raises, each an RFC 9457 problem;
- `servicekit.auth`: access tokens (claims, signing, keys, verification);
- `servicekit.db`: the engine and sessions, the schema and its migrations;
- `servicekit.redis`: the Redis client;
- `servicekit.http`: what endpoints are built from, the problems, the middleware;
- `servicekit.observability`: logs and metrics;
- `servicekit.ids`, `servicekit.types`: UUIDv7 ids, field types for schemas;
- `servicekit.devstack`: the local stack behind ``make run`` (embedded servers);
- `servicekit.testing`: the pytest plugin every service's tests use.
"""
