"""What the customer is told when the token is refused (401) or the server answers
something else than success, and how the page retries (Retry-After, connection resets).

Answers other than the token's are injected at the browser (Playwright's routing) in front
of a real server: the server itself is tested for them elsewhere; here the question is what
the page does with them."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import PHONE, Issued, Staff, WebServer, make_file, screenshot
from tuslog.db.models import utcnow
from tuslog.web.messages import CATALOGUES

EN = CATALOGUES["en"]
KIB = 1024


def refused_token(kind: str, staff: Staff) -> Issued:
    if kind == "unknown":
        return Issued("tlu_abcdefgh_" + "A" * 43, "tlu_abcdefgh", "none")
    if kind == "revoked":
        issued = staff.issue()
        staff.revoke(issued)
        return issued
    issued = staff.issue(ttl=timedelta(milliseconds=300))
    deadline = time.monotonic() + 10
    while staff.token(issued).expires_at >= utcnow():  # bounded: it lives 0.3 s
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return issued


@pytest.mark.parametrize("kind", ["revoked", "expired", "unknown"])
def test_refused_token_says_so(
    kind: str, web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = refused_token(kind, staff)
    token = issued.token
    source = make_file(tmp_path / "logs.tar.gz", 256 * KIB)
    shots = [(None, "error")] if kind == "revoked" else [(None, None)]
    if kind == "revoked":
        shots.append((PHONE, "error"))
    for viewport, name in shots:
        page = open_page(viewport=viewport)
        page.goto(f"{web_server.url}/upload#{token}")
        page.set_input_files("#file", str(source))
        page.click("#start")
        page.wait_for_selector("#error-panel:not([hidden])")
        assert page.inner_text("#error-text") == EN["js.error.token"]
        assert page.get_attribute("#error-panel", "data-kind") == "token"
        assert page.is_visible("#error-token") and not page.is_visible("#error-retry")
        assert page.is_visible("#upload-form")  # the customer can fix it right there
        if name:
            screenshot(page, name)
        page.click("#error-token")
        assert page.is_visible("#token-field") and not page.is_visible("#error-panel")
        assert page.evaluate("document.activeElement.id") == "token"
    if kind != "unknown":
        assert staff.uploads(issued) == []
        assert staff.token(issued).uses == 0


def test_malformed_token_is_caught_before_any_request(
    web_server: WebServer, open_page: Any, tmp_path: Path
) -> None:
    page = open_page()
    sent: list[str] = []
    page.on(
        "request", lambda request: sent.append(request.url) if "/files" in request.url else None
    )
    page.goto(f"{web_server.url}/upload")
    page.fill("#token", "tlu_abcd 1234 not a token")
    page.set_input_files("#file", str(make_file(tmp_path / "a.log", KIB)))
    page.click("#start")
    assert page.inner_text("#token-error") == EN["js.token.format"]
    assert page.evaluate("document.activeElement.id") == "token"
    assert "is-invalid" in (page.get_attribute("#token", "class") or "")
    page.fill("#token", "")
    page.click("#start")
    assert page.inner_text("#token-error") == EN["js.token.missing"]
    assert sent == []


def _fail_first(page: Any, method: str, answer: dict[str, Any] | None) -> list[int]:
    """Answer the first `method` request to /files/ with `answer` (None: reset the
    connection); let every other request through to the server. Returns a counter."""
    hits = [0]

    def handle(route: Any) -> None:
        if route.request.method == method and hits[0] == 0:
            hits[0] += 1
            if answer is None:
                route.abort("connectionreset")
            else:
                route.fulfill(**answer)
        else:
            route.continue_()

    page.route("**/files/**", handle)
    return hits


@pytest.mark.parametrize("status", [423, 429, 503])
def test_retry_after_is_honoured(
    status: int, web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    token = staff.issue().token
    page = open_page(viewport=PHONE if status == 503 else None)
    hits = _fail_first(
        page, "PATCH", {"status": status, "headers": {"Retry-After": "7"}, "body": "busy\n"}
    )
    page.goto(f"{web_server.url}/upload#{token}")
    page.set_input_files("#file", str(make_file(tmp_path / "logs.tar.gz", 512 * KIB)))
    page.click("#start")
    page.wait_for_selector('#status[data-kind="retrying"]')
    # 7 s as the server asked, not the 1 s the page waits after a first failure.
    assert page.inner_text("#status").startswith("The server is busy. Retrying in 7 s")
    assert "(attempt 1 of 10)" in page.inner_text("#status")
    if status == 503:
        screenshot(page, "retrying")
    page.click("#retry-now")  # the customer need not wait
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert hits == [1]
    assert page.get_attribute("#receipt-panel", "data-state") == "verified"


def test_connection_reset_is_retried(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    token = issued.token
    page = open_page()
    hits = _fail_first(page, "PATCH", None)
    page.goto(f"{web_server.url}/upload#{token}")
    page.set_input_files("#file", str(make_file(tmp_path / "logs.tar.gz", 2 * 1024 * KIB)))
    page.click("#start")
    page.wait_for_function(  # one check, in the page: the retry comes a second later
        """() => {
            const status = document.getElementById("status");
            return status.dataset.kind === "retrying"
                && status.textContent.startsWith("Connection lost. Retrying in");
        }"""
    )
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert hits == [1]
    [upload] = staff.uploads(issued)
    assert upload.state == "verified"
    assert staff.token(issued).uses == 1


ANSWERS = {
    403: ("js.error.owner", "#error-token"),
    413: ("js.error.too_large", None),
    507: ("js.error.no_space", "#error-retry"),
    500: ("js.error.server", "#error-retry"),
}


@pytest.mark.parametrize("status", sorted(ANSWERS))
def test_creation_refused(
    status: int, web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    token = staff.issue().token
    page = open_page()
    # Every POST is refused. A 500 is retried first (Retry-After: 0 makes that quick):
    # after 10 retries the page gives up and names the status.
    hits = [0]

    def refuse(route: Any) -> None:
        if route.request.method != "POST":
            return route.continue_()
        hits[0] += 1
        route.fulfill(status=status, body="refused\n", headers={"Retry-After": "0"})

    page.route("**/files/**", refuse)
    page.goto(f"{web_server.url}/upload#{token}")
    page.set_input_files("#file", str(make_file(tmp_path / "logs.tar.gz", KIB)))
    page.click("#start")
    page.wait_for_selector("#error-panel:not([hidden])")
    key, button = ANSWERS[status]
    assert page.inner_text("#error-text") == EN[key].replace("{status}", str(status))
    if button:
        assert page.is_visible(button)
    assert hits[0] == (11 if status == 500 else 1)


def test_expired_upload_can_be_started_again(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    token = issued.token
    page = open_page()
    hits = _fail_first(page, "PATCH", {"status": 410, "body": "This upload expired.\n"})
    page.goto(f"{web_server.url}/upload#{token}")
    page.set_input_files("#file", str(make_file(tmp_path / "logs.tar.gz", 64 * KIB)))
    page.click("#start")
    page.wait_for_selector("#error-panel:not([hidden])")
    assert page.inner_text("#error-text") == EN["js.error.gone"]
    page.click("#error-restart")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert hits == [1]
    # The server still had the upload: asked again for the same file, it gave it back.
    assert len(staff.uploads(issued)) == 1
    assert staff.token(issued).uses == 1
