"""The API's operations, declared once: path, method, scope, the models of the query,
the body and the answer. The same declarations route requests, check them (API key,
scope, query, body, If-Match) and make the OpenAPI document, so the document cannot
drift from what the code does."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from tuslog import errors
from tuslog.api import problems
from tuslog.api.schemas import Body, FieldError, Query
from tuslog.db.availability import database_unavailable, log_failure
from tuslog.db.engine import session_factory
from tuslog.http.client import client_ip
from tuslog.keys import DATABASE, ENGINE, SETTINGS
from tuslog.services import apikeys
from tuslog.services.auth_context import Auth

MAX_BODY = 64 * 1024
Q = TypeVar("Q")
B = TypeVar("B")


@dataclass
class Call(Generic[Q, B]):
    """What a handler gets: the request, the authenticated caller, parsed input."""

    request: web.Request
    caller: apikeys.Caller
    query: Q
    body: B
    if_match: str | None

    @property
    def ip(self) -> str:
        return client_ip(self.request)

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def config(self) -> Any:
        return self.request.config_dict

    @property
    def db(self) -> Any:
        return self.request.config_dict[DATABASE]

    @property
    def engine(self) -> Any:
        return self.request.config_dict[ENGINE]

    @property
    def settings(self) -> Any:
        return self.request.config_dict[SETTINGS]


@dataclass
class Reply:
    """A JSON answer: the model, its status and extra headers (ETag, Location)."""

    body: BaseModel | None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call[Any, Any]], Awaitable[Reply | web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under /api/v1, aiohttp syntax: /tickets/{number}
    handler: Handler
    summary: str
    scope: str | None  # None: no API key needed
    tag: str
    query: type[Query] | None = None
    body: type[Body] | None = None
    response: type[BaseModel] | None = None  # None: 204 No Content (or ``content``)
    status: int = 200
    errors: tuple[int, ...] = ()
    etag: bool = False  # the answer carries an ETag
    if_match: str | None = None  # "required" or "optional"
    content: dict[str, Any] | None = None  # a non-JSON answer: status -> description
    media: str = "application/octet-stream"  # … and its media type
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__module__.rsplit(".", 1)[-1] + "_" + self.handler.__name__.strip("_")


def _auth(request: web.Request) -> Auth:
    return Auth(
        session_factory(request.config_dict[DATABASE].engine), request.config_dict[SETTINGS]
    )


async def authenticate(request: web.Request, scope: str) -> apikeys.Caller:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    key = credentials.strip() if scheme.lower() == "bearer" else ""
    caller = await apikeys.authenticate(_auth(request), key, client_ip(request))
    if not caller.allows(scope):
        raise errors.SCOPE_MISSING(f"This call needs an API key with the {scope!r} scope.")
    return caller


def _has_nul(value: object) -> bool:
    """NUL characters: no text column stores them (PostgreSQL refuses them outright)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _nul_error(name: str, location: str) -> problems.InvalidRequest:
    message = "must not contain NUL characters"
    return problems.InvalidRequest([FieldError(field=name, location=location, message=message)])


def _query(request: web.Request, model: type[Query] | None) -> BaseModel | None:
    values: dict[str, str] = {}
    for name in request.query:
        if _has_nul(name) or _has_nul(request.query.getall(name)):
            raise _nul_error(name.replace("\x00", ""), "query")
        given = request.query.getall(name)
        if len(given) > 1:
            raise problems.InvalidRequest(
                [FieldError(field=name, location="query", message="give it only once")]
            )
        values[name] = given[0]
    if model is None:
        if values:
            raise problems.InvalidRequest(
                [
                    FieldError(field=name, location="query", message="unknown parameter")
                    for name in values
                ]
            )
        return None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise problems.from_validation(exc, "query") from None


async def _body(request: web.Request, model: type[Body] | None) -> BaseModel | None:
    if model is None:
        return None
    if request.content_type != "application/json":
        raise errors.JSON_REQUIRED()
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.BODY_TOO_LARGE(f"A request body has at most {MAX_BODY} bytes.")
    raw = b""
    while len(raw) <= MAX_BODY and (chunk := await request.content.read(MAX_BODY + 1 - len(raw))):
        raw += chunk  # a chunked body comes in pieces; never more than the cap is read
    if len(raw) > MAX_BODY:
        raise errors.BODY_TOO_LARGE(f"A request body has at most {MAX_BODY} bytes.")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.BAD_REQUEST("The body is not valid JSON.") from None
    if _has_nul(parsed):
        raise _nul_error("(body)", "body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise problems.from_validation(exc, "body") from None


def _if_match(request: web.Request, rule: str | None) -> str | None:
    value = request.headers.get("If-Match")
    if rule == "required" and not value:
        raise errors.PRECONDITION_REQUIRED()
    return value if rule else None


def bind(operation: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of an operation: checks, then the operation's handler."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if any(_has_nul(value) for value in request.match_info.values()):
            raise errors.NOT_FOUND("No such object.")
        caller = None
        if operation.scope is not None:
            caller = await authenticate(request, operation.scope)
        call: Call[Any, Any] = Call(
            request,
            caller,  # type: ignore[arg-type]
            _query(request, operation.query),
            await _body(request, operation.body),
            _if_match(request, operation.if_match),
        )
        result = await operation.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        if result.body is None:
            return web.Response(
                status=result.status if result.status != 200 else 204, headers=result.headers
            )
        return web.Response(
            status=result.status,
            body=result.body.model_dump_json(),
            content_type="application/json",
            headers={"Cache-Control": "no-store", **result.headers},
        )

    handle.__name__ = operation.operation_id
    return handle


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure of an API call becomes problem+json; nothing leaks a traceback."""
    instance = request.path
    try:
        return await handler(request)
    except errors.TuslogError as exc:
        return problems.render(exc, instance)
    except problems.InvalidRequest as exc:
        return problems.render_invalid(exc, instance)
    except web.HTTPException as exc:
        return problems.http_exception(exc, instance)
    except Exception as exc:
        if database_unavailable(exc) or isinstance(exc, OperationalError | InterfaceError):
            log_failure(problems.log, "API %s %s", exc, request.method, instance)
            return problems.render(errors.DATABASE_UNAVAILABLE(retry_after=5), instance)
        if isinstance(exc, OSError):
            return await _storage_problem(request, exc, instance)
        problems.log.exception("API %s %s failed", request.method, request.path)
        return problems.render(errors.INTERNAL_ERROR(), instance)


async def _storage_problem(request: web.Request, exc: OSError, instance: str) -> web.Response:
    """As the tus endpoint does: storage that fails as a whole is a 503 with Retry-After
    (the operator's to fix); one bad file or a bug stays a logged 500."""
    parts = request.config_dict[ENGINE].parts
    try:
        await parts.io(parts.store.probe)
    except OSError as probe:
        problems.log.error(
            "API %s %s: storage unusable: %s (%s)", request.method, instance, exc, probe
        )
        return problems.render(errors.STORAGE_UNAVAILABLE(), instance)
    problems.log.exception("API %s %s failed", request.method, instance)
    return problems.render(errors.INTERNAL_ERROR(), instance)
