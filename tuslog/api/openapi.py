"""The OpenAPI 3.1 document, generated from the operations (``tuslog.api.routing``) and
their pydantic models: the same models validate requests and shape answers, so the
document describes exactly what the code does. Built once per process, on first use."""

import functools
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tuslog import __version__
from tuslog.api import problems, schemas
from tuslog.api.routing import Operation

PREFIX = "/api/v1"
_PATH_PARAM = re.compile(r"{(\w+)}")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_PARAM_DESCRIPTIONS = {
    "number": "Ticket number (case ignored).",
    "prefix": "Upload token prefix, e.g. `tlu_abcd2345`.",
    "upload_id": "Upload id (32 hex digits).",
    "webhook_id": "Webhook endpoint id.",
    "delivery_id": "Delivery id.",
}
_HEADERS = {
    "ETag": {
        "description": "The representation's version; send it as If-Match.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "Where the new resource is.", "schema": {"type": "string"}},
}
INTRO = (
    "REST API for help-desk integrations: open a ticket, issue an upload token, learn "
    "(by webhook) when the customer's archive has arrived, download it, resolve the ticket.\n\n"
    "Authenticate with `Authorization: Bearer <API key>` (`tlk_…`; `tuslog apikey create`). "
    "Scopes: `read`, `write`, `download`, `admin` (admin allows everything). Errors are "
    "`application/problem+json` (RFC 9457) with a stable `code`. Times are RFC 3339 UTC, "
    "sizes bytes, durations seconds. Lists are newest first and paged with `next_cursor`. "
    "Updates take `If-Match` with the ETag of the last GET (412 when someone changed it "
    "meanwhile, 428 when it is missing)."
)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is optional by absence: drop the ``null`` branch."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    properties = model.model_json_schema(mode="validation").get("properties", {})
    found = []
    for name, field in model.model_fields.items():
        schema = _without_null(dict(properties[name]))
        schema.pop("title", None)
        description = schema.pop("description", None) or field.description or ""
        found.append(
            {
                "name": name,
                "in": "query",
                "required": field.is_required(),
                "description": description,
                "schema": schema,
            }
        )
    return found


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    found = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": _PARAM_DESCRIPTIONS.get(name, ""),
            "schema": {"type": "string", "minLength": 1},
        }
        for name in _PATH_PARAM.findall(operation.path)
    ]
    if operation.query is not None:
        found += _query_parameters(operation.query)
    if operation.if_match:
        found.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": operation.if_match == "required",
                "description": "The ETag of your last GET; the change is refused (412) if "
                "it is no longer current.",
                "schema": {"type": "string"},
            }
        )
    return found


def _error_statuses(operation: Operation) -> list[int]:
    statuses = set(operation.errors)
    if operation.scope is not None:
        statuses |= {401, 403, 429}
    if operation.query is not None or operation.body is not None:
        statuses.add(422)
    if operation.body is not None:
        statuses |= {400, 413, 415}
    if _PATH_PARAM.search(operation.path):
        statuses.add(404)
    return sorted(statuses)


def _media(operation: Operation, status: str) -> dict[str, Any]:
    """The answer's media types; a 206 of bytes may also be several ranges."""
    if operation.media == "application/json":
        return {operation.media: {"schema": {"type": "object"}}}
    media = [operation.media]
    if status == "206":
        media.append("multipart/byteranges")
    return {kind: {"schema": {"type": "string", "contentMediaType": kind}} for kind in media}


def _responses(operation: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if operation.content is not None:
        for content_status, description in operation.content.items():
            responses[content_status] = {"description": description}
            if content_status != "304":
                responses[content_status]["content"] = _media(operation, content_status)
    elif operation.response is None:
        responses[str(operation.status)] = {"description": "Done; no content."}
    else:
        success: dict[str, Any] = {
            "description": operation.summary,
            "content": {
                "application/json": {"schema": refs[(operation.response, "serialization")]}
            },
        }
        headers = {
            name: spec
            for name, spec in _HEADERS.items()
            if (name == "ETag" and operation.etag)
            or (name == "Location" and operation.status == 201)
        }
        if headers:
            success["headers"] = headers
        responses[str(operation.status)] = success
    for error_status in _error_statuses(operation):
        responses[str(error_status)] = {
            "description": problems.TITLES.get(error_status, "Error"),
            "content": {problems.PROBLEM_TYPE: {"schema": _PROBLEM}},
        }
    return responses


def _operation(operation: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": _responses(operation, refs),
    }
    if operation.description:
        found["description"] = operation.description
    if operation.scope is not None:
        found["security"] = [{"apiKey": []}]
        found["x-scope"] = operation.scope
    else:
        found["security"] = []
    if operation.body is not None:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(operation.body, "validation")]}},
        }
    return found


def build(operations: list[Operation]) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Any]] = [(schemas.Problem, "serialization")]
    for operation in operations:
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(PREFIX + operation.path, {})[operation.method.lower()] = _operation(
            operation, refs
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tuslog REST API",
            "version": f"1 (tuslog {__version__})",
            "description": INTRO,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "tlk_… API key"}
            },
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    from tuslog.api.app import OPERATIONS  # the full list, built where the app is

    return build(OPERATIONS)
