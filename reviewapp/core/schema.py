"""The error answers every API operation can give, added to the OpenAPI schema in one place
(a drf-spectacular post-processing hook), so a generated client knows them and the schema
tests can hold every answer to it. They all share one shape, ``ErrorResponse``:
``{"errors": {"<field.path>": ["message", ...]}}`` (``core.api.error_response``).

Which statuses an operation gives follows from what the project does to every request:

- 400: any request: the edge refuses NUL or an unpaired surrogate in any query parameter,
  and list filters, pagination and bodies are validated;
- 401 / 403: every endpoint needs a principal (a token or a session) and checks its role;
- 404: an operation with a path parameter (the object may not exist, or not for you);
- 413 / 415: an operation that takes a body (bodies are bounded, and JSON only).

Views declare what only they give (409 for a claim that moved, 422, ...) with
``extend_schema``; their own declarations win over these defaults.
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "ErrorResponse"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: field path → messages (`detail` for the request as a whole).",
    "properties": {
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
    "required": ["errors"],
}
DESCRIPTIONS = {
    "400": "Bad input: the errors name each parameter or field.",
    "401": "No credentials, or a token that is invalid or revoked.",
    "403": "Your role or token may not do this.",
    "404": "No such object (or none you may see).",
    "409": "The object changed meanwhile (a claim moved, already decided).",
    "413": "The body is larger than the limit.",
    "415": "The body is not JSON (send Content-Type: application/json).",
}
_METHODS = {"get", "post", "put", "patch", "delete"}


def _error_response(status: str) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }


def statuses_for(operation: dict[str, Any], path_item: dict[str, Any]) -> list[str]:
    params = [*path_item.get("parameters", []), *operation.get("parameters", [])]
    statuses = ["400", "401", "403"]
    if any(p.get("in") == "path" for p in params):
        statuses.append("404")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    return statuses


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: the shared error component and, on every operation, the
    error statuses it can give (keeping any a view declared itself)."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in statuses_for(operation, path_item):
                responses.setdefault(status, _error_response(status))
            for status, response in responses.items():
                if status in DESCRIPTIONS and not response.get("content"):
                    responses[status] = _error_response(status)
    return result
