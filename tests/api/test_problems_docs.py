"""problem+json for every code of the catalogue, for unknown routes and methods; the
OpenAPI document and the reference page generated from the operations."""

import json

import jsonschema
import pytest

from tests.api.conftest import DOC, ApiClient, problem_of
from tuslog import errors
from tuslog.api import problems
from tuslog.api.app import OPERATIONS


@pytest.mark.parametrize("code", sorted(errors.CATALOGUE))
def test_every_catalogue_entry_renders_as_a_problem(code: str) -> None:
    definition = errors.CATALOGUE[code]
    response = problems.render(definition(), "/api/v1/x")
    assert response.status == definition.status
    assert response.content_type == "application/problem+json"
    assert response.text is not None
    body = json.loads(response.text)
    schema = {"$ref": "#/components/schemas/Problem", "components": DOC["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)
    problem_of(body, definition.status, code)
    for name, value in definition.headers.items():
        assert response.headers[name] == value
    if definition.retry_after is not None:
        assert response.headers["Retry-After"] == str(definition.retry_after)


async def test_unknown_routes_and_methods_are_problems(api: ApiClient) -> None:
    missing = await api.client.get(
        "/api/v1/nothing-here", headers={"Authorization": f"Bearer {api.key}"}
    )
    problem_of(await missing.json(), 404, "not_found")
    wrong = await api.client.put("/api/v1/tickets", headers={"Authorization": f"Bearer {api.key}"})
    body = problem_of(await wrong.json(), 405, "method_not_allowed")
    assert "GET" in wrong.headers["Allow"] and body["instance"] == "/api/v1/tickets"


def test_the_document_covers_every_operation_once() -> None:
    assert DOC["openapi"] == "3.1.0"
    ids = [op["operationId"] for methods in DOC["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids)) == len(OPERATIONS)
    for operation in OPERATIONS:
        spec = DOC["paths"]["/api/v1" + operation.path][operation.method.lower()]
        assert spec.get("x-scope") == operation.scope
        if operation.body is not None:
            body = DOC["components"]["schemas"][operation.body.__name__]
            assert body["additionalProperties"] is False  # unknown fields are refused


async def test_the_reference_page(api: ApiClient) -> None:
    response = await api.with_key(None).get("docs")
    page = await response.text()
    assert response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "sha256-" in csp
    assert "<script" not in page and "http://" not in page.replace("http://127.0.0.1", "")
    for operation in OPERATIONS:
        assert f"{operation.method}</span> /api/v1{operation.path}" in page
    for code in errors.CATALOGUE:
        assert f'id="problem-{code}"' in page
    for event in ("upload.completed", "storage.low", "webhook-signature"):
        assert event in page


async def test_audit_events_over_the_api(api: ApiClient, keys: object) -> None:
    from tests.api.conftest import issued_token

    await issued_token(api, "SR-5")
    await api.post("tickets/SR-5/resolve")
    admin = api.with_key(keys.admin)  # type: ignore[attr-defined]
    page = await (await admin.get("audit-events", params={"limit": 2, "total": "true"})).json()
    assert len(page["items"]) == 2 and page["total"] >= 3 and page["next_cursor"]
    rest = await (await admin.get("audit-events", params={"cursor": page["next_cursor"]})).json()
    ids = [e["id"] for e in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    resolved = await (
        await admin.get("audit-events?action=ticket.resolved,ticket.created&subject=SR-5")
    ).json()
    assert [e["action"] for e in resolved["items"]] == ["ticket.resolved", "ticket.created"]
    assert resolved["items"][0]["actor"].startswith("staff@example.com (API key tlk_")
    assert resolved["items"][0]["at"].endswith("Z")
    mine = await (
        await admin.get("audit-events", params={"actor": resolved["items"][0]["actor"]})
    ).json()
    assert {e["action"] for e in mine["items"]} >= {
        "ticket.created",
        "token.issued",
        "ticket.resolved",
    }
    problem_of(
        await (
            await admin.get("audit-events?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z")
        ).json(),
        422,
        "invalid_value",
    )
