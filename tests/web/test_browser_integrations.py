"""API keys and webhooks in a real Chromium against a real `tuslog serve`: an administrator
makes an API key (shown once, copied with the button, then working against /api/v1),
adds a webhook endpoint with an event filter, and sees both pages at desktop and phone
width without sideways scrolling (artifacts/screenshots/portal-apikey*.png,
portal-webhook*.png)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests import dbs
from tests.conftest import free_port, make_settings, server_env, start_server
from tests.web.conftest import PHONE, WebServer, _in_thread, screenshot
from tests.web.test_browser_portal import WIDER_THAN_THE_SCREEN, create_user, sign_in_and_enrol
from tuslog.db.models import UserRole


@pytest.fixture(scope="module")
def web_server(
    postgres: dbs.PostgresDatabases | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebServer]:
    """As tests/web/conftest.py's, with loopback webhooks allowed (no DNS needed)."""
    tmp = tmp_path_factory.mktemp("web")
    url = _in_thread(postgres.new() if postgres is not None else dbs.new_sqlite(tmp))
    settings = make_settings(url, tmp)
    env = server_env(settings, TUSLOG_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    server = start_server(env, free_port(), tmp / "server.log")
    yield WebServer(server, settings)
    server.stop()


def api_get(server: WebServer, key: str, path: str) -> int:
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        json.load(answer)
        return int(answer.status)


def fits_the_phone(page: Any, path: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (path, page.evaluate(WIDER_THAN_THE_SCREEN))


def test_api_key_and_webhook_in_a_browser(web_server: WebServer, open_page: Any) -> None:
    create_user(web_server, "admin@example.com", UserRole.ADMIN)
    desk = open_page()
    desk.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in_and_enrol(desk, web_server, "admin@example.com", None)

    desk.click("nav >> text=API keys")
    desk.wait_for_url("**/staff/api-keys")
    assert "No API keys yet." in desk.inner_text("main")
    desk.fill("#name", "Help-desk connector")
    desk.check("#scope-write")
    desk.fill("#expires", "30d")
    screenshot(desk, "portal-apikeys-new")
    desk.click("button:has-text('Make key')")
    desk.wait_for_selector("#api-key-value")
    key = desk.inner_text("#api-key-value").strip()
    assert key.startswith("tlk_")
    desk.click("button:has-text('Copy key')")
    assert desk.evaluate("navigator.clipboard.readText()") == key
    screenshot(desk, "portal-apikey-issued")
    assert api_get(web_server, key, "tickets") == 200
    desk.click("text=Back to API keys")
    assert key not in desk.content() and key[:12] in desk.inner_text("#key-table")
    screenshot(desk, "portal-apikeys")

    desk.click("nav >> text=Webhooks")
    desk.wait_for_url("**/staff/webhooks")
    desk.click("text=Add the first endpoint")
    desk.fill("#url", "http://127.0.0.1:9/tuslog-events")
    desk.fill("#description", "Help-desk connector")
    desk.check("#event-upload-verified")
    desk.check("#event-ticket-resolved")
    screenshot(desk, "portal-webhook-new")
    desk.click("button:has-text('Add endpoint')")
    desk.wait_for_selector("#webhook-secret")
    assert desk.inner_text("#webhook-secret").startswith("whsec_")
    screenshot(desk, "portal-webhook-secret")
    desk.click("text=Go to the endpoint")
    assert "No deliveries yet." in desk.inner_text("main")
    endpoint_path = desk.url.removeprefix(web_server.url)
    screenshot(desk, "portal-webhook")

    create_user(web_server, "phone-admin@example.com", UserRole.ADMIN)
    phone = open_page(viewport=PHONE)
    sign_in_and_enrol(phone, web_server, "phone-admin@example.com", None)
    for path, name in (
        ("/staff/api-keys", "portal-apikeys"),
        ("/staff/webhooks", "portal-webhooks"),
        (endpoint_path, "portal-webhook"),
        (f"{endpoint_path}/edit", "portal-webhook-edit"),
    ):
        phone.goto(f"{web_server.url}{path}")
        screenshot(phone, name)
        fits_the_phone(phone, path)
