"""Errors as ``application/problem+json`` (RFC 9457): one rendering of the one catalogue
(``tuslog.errors``), with field-level messages for validation failures."""

import json
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from tuslog import errors
from tuslog.api.schemas import FieldError, Problem

log = logging.getLogger(__name__)
PROBLEM_TYPE = "application/problem+json"
DOCS_PATH = "/api/v1/docs"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    423: "Locked",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}


class InvalidRequest(Exception):
    """Field-level validation failures, rendered as one 422 ``validation_failed``."""

    def __init__(self, problems: list[FieldError]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def from_validation(exc: ValidationError, location: str) -> InvalidRequest:
    found = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(body)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field; see the API reference for the fields this call takes"
        found.append(FieldError(field=field, location=location, message=message))
    return InvalidRequest(found)


def problem_type(code: str) -> str:
    return f"{DOCS_PATH}#problem-{code}"


def render(
    exc: errors.TuslogError,
    instance: str | None = None,
    field_errors: list[FieldError] | None = None,
) -> web.Response:
    body = Problem(
        type=problem_type(exc.code),
        title=TITLES.get(exc.status, "Error"),
        status=exc.status,
        detail=exc.message,
        code=exc.code,
        instance=instance,
        errors=field_errors,
    )
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return web.Response(
        status=exc.status,
        body=body.model_dump_json(exclude_none=True),
        content_type=PROBLEM_TYPE,
        headers=headers,
    )


def render_invalid(invalid: InvalidRequest, instance: str | None) -> web.Response:
    first = invalid.problems[0] if invalid.problems else None
    detail = f"{first.field}: {first.message}" if first else "The request is invalid."
    return render(errors.VALIDATION_FAILED(detail), instance, invalid.problems)


def http_exception(exc: web.HTTPException, instance: str) -> web.Response:
    """aiohttp's own refusals (no route, wrong method, body too large) as problems."""
    if exc.status == 404:
        return render(errors.NOT_FOUND(), instance)
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return render(errors.METHOD_NOT_ALLOWED(headers={"Allow": allowed}), instance)
    if exc.status == 413:
        return render(errors.BODY_TOO_LARGE(), instance)
    return render(errors.BAD_REQUEST(exc.text or exc.reason or None), instance)


def json_body(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))
