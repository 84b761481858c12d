"""Error responses in the OpenAPI document.

Endpoints declare the problems they can answer with `problem_responses`
(``responses=problem_responses(401, 404)``); `document_problems` then gives every
error response of the document the problem details schema and media type, and
adds the statuses every body-taking operation can return (413, 415).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from servicekit.http._problems import PROBLEM_MEDIA_TYPE, ProblemDetails, ValidationProblem

__all__ = ["document_problems", "problem_responses"]

_DESCRIPTIONS: Final = {
    400: "Malformed request.",
    401: "Missing, invalid, expired or revoked access token.",
    403: "The caller may not do this.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    412: "`If-Match` does not match the current version.",
    413: "Request body over the size limit.",
    415: "Request body in an unsupported media type.",
    422: "Invalid request values.",
    429: "Too many requests; see `Retry-After`.",
    503: "A dependency is unavailable; see `Retry-After`.",
}
_BODY_STATUSES: Final = (413, 415)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry for an endpoint that can answer with ``statuses``."""
    return {status: {"description": _DESCRIPTIONS[status]} for status in statuses}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Give the error responses of ``schema`` their problem details form (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_ref = _add_model(components, ProblemDetails)
    validation_ref = _add_model(components, ValidationProblem)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if "requestBody" in operation:
                for code in _BODY_STATUSES:
                    responses.setdefault(str(code), {"description": _DESCRIPTIONS[code]})
            for status, response in responses.items():
                if not status.isdigit() or int(status) < 400:
                    continue
                content = response.get("content", {})
                if any(media.get("schema") for media in content.values()) and status != "422":
                    continue  # the endpoint documented its own body
                ref = validation_ref if status == "422" else problem_ref
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": ref}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _add_model(components: dict[str, Any], model: type[BaseModel]) -> str:
    model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in model_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = model_schema
    return f"#/components/schemas/{model.__name__}"
