"""Error responses in the OpenAPI document.

Endpoints declare the problems they can answer with `problem_responses`
(``responses=problem_responses(401, 404)``); `document_problems` then gives every
error response of the document the problem details schema and media type, and
adds the statuses every body-taking operation can return (413, 415).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from servicekit.errors import ContentTooLarge, UnsupportedMediaType, error_for_status
from servicekit.http._problems import PROBLEM_MEDIA_TYPE, ProblemDetails, ValidationProblem

__all__ = ["document_problems", "problem_responses"]

# Every operation that takes a body can answer these, whatever it declares.
_BODY_ERRORS: Final = (ContentTooLarge, UnsupportedMediaType)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry for an endpoint that can answer with ``statuses``."""
    return {status: {"description": _description(status)} for status in statuses}


def _description(status: int) -> str:
    error = error_for_status(status)
    if error is None:
        raise ValueError(f"no servicekit error has status {status}: declare an AppError for it")
    return error.description


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
                for error in _BODY_ERRORS:
                    responses.setdefault(str(error.status), {"description": error.description})
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
