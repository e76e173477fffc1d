"""API test fixtures: the app under aiohttp's test client, staff users and API keys of
every scope, and a client that checks every answer against the OpenAPI document."""

import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.conftest import make_settings
from tuslog.api import openapi
from tuslog.app import create_app
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import User, UserRole
from tuslog.services import apikeys
from tuslog.settings import Settings

DOC = openapi.document()
_REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:tuslog-openapi", DRAFT202012.create_resource(DOC)
)
_TEMPLATES = [
    (re.compile("^" + re.sub(r"{\w+}", "[^/]+", path) + "$"), path) for path in DOC["paths"]
]


def template_of(path: str) -> str | None:
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    return None


def check_against_document(method: str, path: str, status: int, headers: Any, body: bytes) -> None:
    """The answer is one the document describes: a listed status, the listed media type
    and a body that validates against the listed schema."""
    template = template_of(path.split("?")[0])
    assert template is not None, f"{path} is not in the OpenAPI document"
    operation = DOC["paths"][template].get(method.lower())
    if operation is None and method == "HEAD":
        operation = DOC["paths"][template]["get"]
    assert operation is not None, f"{method} {template} is not in the OpenAPI document"
    answer = operation["responses"].get(str(status))
    assert answer is not None, f"{method} {template}: status {status} is not documented"
    content = answer.get("content")
    if not content or status == 304 or method == "HEAD":
        return
    media = headers.get("Content-Type", "").split(";")[0]
    assert media in content, f"{method} {template} {status}: {media} not documented"
    schema = content[media].get("schema", {})
    if media.endswith("json"):
        if "$ref" in schema:
            schema = {"$ref": "urn:tuslog-openapi" + schema["$ref"]}
        jsonschema.Draft202012Validator(schema, registry=_REGISTRY).validate(json.loads(body))


class ApiClient:
    """aiohttp's test client for /api/v1 with a key; every answer is checked against the
    OpenAPI document before the test sees it."""

    def __init__(self, client: TestClient, key: str | None) -> None:
        self.client = client
        self.key = key

    def with_key(self, key: str | None) -> "ApiClient":
        return ApiClient(self.client, key)

    async def request(self, method: str, path: str, **kwargs: Any) -> ClientResponse:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.key is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.key}"
        url = path if path.startswith("/") else f"/api/v1/{path}"
        response = await self.client.request(method, url, headers=headers, **kwargs)
        body = await response.read()
        check_against_document(method, response.url.path, response.status, response.headers, body)
        return response

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("DELETE", path, **kwargs)


@dataclass
class Keys:
    read: str
    write: str
    download: str
    admin: str
    all_but_admin: str


async def add_user(settings: Settings, email: str, role: UserRole = UserRole.ADMIN) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            session.add(User(email=email, password_hash="unused", role=role))
    finally:
        await engine.dispose()


async def make_key(settings: Settings, email: str, *scopes: str, **kwargs: Any) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            issued = await apikeys.create(session, email, scopes=scopes, actor="test", **kwargs)
    finally:
        await engine.dispose()
    return issued.key


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> Settings:
    return make_settings(database_url, tmp_path, api_auth_failure_limit=1000)


@pytest.fixture
async def keys(settings: Settings) -> Keys:
    await add_user(settings, "admin@example.com", UserRole.ADMIN)
    await add_user(settings, "staff@example.com", UserRole.STAFF)
    return Keys(
        read=await make_key(settings, "staff@example.com", "read"),
        write=await make_key(settings, "staff@example.com", "write"),
        download=await make_key(settings, "staff@example.com", "download"),
        admin=await make_key(settings, "admin@example.com", "admin"),
        all_but_admin=await make_key(settings, "staff@example.com", "read", "write", "download"),
    )


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, keys: Keys) -> AsyncIterator[ApiClient]:
    client = await aiohttp_client(create_app(settings))
    yield ApiClient(client, keys.all_but_admin)


async def upload_via_tus(
    api: ApiClient, token: str, data: bytes, *, declare: bool = True, send: int | None = None
) -> str:
    """A real upload through the tus endpoint with an upload token; returns its id."""
    from tests import tus

    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = {"filename": "host1 logs.tgz"}
    if declare:
        meta["sha256"] = hashlib.sha256(data).hexdigest()
    path = await tus.create_path(api.client, auth, len(data), Upload_Metadata=tus.metadata(**meta))
    body = data if send is None else data[:send]
    if body:
        response = await tus.patch(api.client, path, auth, 0, body)
        assert response.status == 204, await response.text()
    return path.rsplit("/", 1)[1]


async def issued_token(api: ApiClient, number: str = "SR-1", **body: Any) -> dict[str, Any]:
    created = await api.post("tickets", json={"number": number})
    assert created.status in (201, 409)
    response = await api.post(f"tickets/{number}/tokens", json=body)
    assert response.status == 201, await response.text()
    found: dict[str, Any] = await response.json()
    return found


def problem_of(body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    """Checks the RFC 9457 shape and the code; returns the problem."""
    assert body["status"] == status and body["code"] == code, body
    assert body["type"] == f"/api/v1/docs#problem-{code}"
    assert body["title"] and body["detail"]
    return body
