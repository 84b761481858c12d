"""The HTTP layer every service's endpoints are built from.

For endpoints:

- `ServiceRouter`: the router of a feature; its routes refuse bodies of the
  wrong media type (415) before reading them;
- `DbSession`: the request's unit of work, committed after the endpoint returns
  and before the response is sent; `DbReader`: reads in no transaction, one round
  trip each; `CurrentPrincipal`: the verified caller of an unrevoked token, or 401
  (503 when revocation cannot be checked), `AdminPrincipal` an admin or 403;
  `Cache`: the response cache;
- `problem_responses`: the error statuses an endpoint declares for OpenAPI;
- `enforce_rate_limit`: an endpoint's own limit on top of the default one (login
  per address and per account; `refund_rate_limit` gives back an attempt that
  succeeded), with `client_address` and `hashed` for its keys;
- `json_response`: a hot read's rows as JSON bytes, without a response model's cost;
  `url_of`: the absolute URL of one of the service's resources, for ``Location``;
- `if_none_match_matches`, `if_match_holds`: conditional requests (RFC 9110 §13);
- `idempotency_for(table)`: the ``Idempotency-Key`` dependency of a create route;
- `CachedRoute`: a public route whose cache hits are sent before routing;

For the app (`servicekit.app` wires them): the RFC 9457 problem renderer and its
exception handlers, the OpenAPI problem schema, the health probes, the request
id, and the ASGI middleware stack (`servicekit.http.middleware`).
"""

from servicekit.http._conditional import if_match_holds, if_none_match_matches
from servicekit.http._context import current_request_id
from servicekit.http._dependencies import (
    AdminPrincipal,
    Cache,
    CurrentPrincipal,
    DbReader,
    DbSession,
    DbTransaction,
    read_only,
    transaction,
    unit_of_work,
)
from servicekit.http._health import health_router
from servicekit.http._idempotency import IdempotentCreate, idempotency_for
from servicekit.http._json import json_bytes, json_response
from servicekit.http._openapi import document_problems, problem_responses
from servicekit.http._problems import (
    PROBLEM_MEDIA_TYPE,
    ProblemDetails,
    ValidationProblem,
    install_problem_handlers,
    problem_response,
)
from servicekit.http._ratelimit import (
    client_address,
    enforce_rate_limit,
    hashed,
    refund_rate_limit,
)
from servicekit.http._routing import ServiceRoute, ServiceRouter
from servicekit.http._urls import url_of
from servicekit.http.middleware import CachedRoute, install_middleware

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "AdminPrincipal",
    "Cache",
    "CachedRoute",
    "CurrentPrincipal",
    "DbReader",
    "DbSession",
    "DbTransaction",
    "IdempotentCreate",
    "ProblemDetails",
    "ServiceRoute",
    "ServiceRouter",
    "ValidationProblem",
    "client_address",
    "current_request_id",
    "document_problems",
    "enforce_rate_limit",
    "hashed",
    "health_router",
    "idempotency_for",
    "if_match_holds",
    "if_none_match_matches",
    "install_middleware",
    "install_problem_handlers",
    "json_bytes",
    "json_response",
    "problem_response",
    "problem_responses",
    "read_only",
    "refund_rate_limit",
    "transaction",
    "unit_of_work",
    "url_of",
]
