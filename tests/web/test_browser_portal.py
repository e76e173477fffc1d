"""The staff portal in a real Chromium against a real `tuslog serve`, the whole story:
an administrator signs in with the keyboard and enrols TOTP (the code computed from the
secret the page shows), creates a ticket and issues a token; the customer uploads 56 MiB
on /upload#token through a proxy that cuts the connection, reloads the page half-way and
finishes, verified; the staff dashboard shows the upload move without a reload; the file
downloaded from the ticket page is byte-identical; deleting the ticket takes the bytes
off the disk. Every portal page is shot at desktop and phone width
(artifacts/screenshots/portal-*.png)."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path
from typing import Any

import pyotp

from tests.support.cut_proxy import CutProxy
from tests.web.conftest import PHONE, WebServer, _in_thread, make_file, screenshot
from tests.web.test_browser_upload import sha256_of, throttle_uplink
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import UserRole
from tuslog.services import accounts

MIB = 1024 * 1024
SIZE = 56 * MIB
PASSWORD = "violet kettle 47 harbour"


# Elements that reach beyond the viewport's right edge: which one makes a page scroll.
WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map((e) => e.tagName + "." + e.className + "#" + e.id).slice(0, 5)"""


def create_user(server: WebServer, email: str, role: UserRole) -> None:
    async def work() -> None:
        engine = create_engine(server.settings.database_url)
        try:
            async with session_factory(engine).begin() as session:
                await accounts.create_user(session, email, PASSWORD, role=role, actor="test")
        finally:
            await engine.dispose()

    _in_thread(work())


def sign_in_and_enrol(page: Any, server: WebServer, email: str, shots: str | None) -> list[str]:
    """Password with the keyboard, then TOTP enrolment; returns the recovery codes."""
    page.goto(f"{server.url}/staff/")
    assert page.url.endswith("/staff/signin")
    assert page.evaluate("document.activeElement.id") == "email"  # autofocus
    if shots:
        screenshot(page, f"{shots}-signin")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/signin/enrol")
    secret = page.get_attribute("#totp-secret", "data-secret")
    assert secret and re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert page.is_visible(".qr svg")
    if shots:
        screenshot(page, f"{shots}-enrol")
    assert page.evaluate("document.activeElement.id") == "code"
    page.keyboard.type(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_selector("#recovery-codes")
    codes = [item.strip() for item in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10
    if shots:
        screenshot(page, f"{shots}-recovery-codes")
    page.click("text=I have saved them: continue")
    page.wait_for_url("**/staff/")
    return codes


def test_the_whole_story_in_a_browser(
    web_server: WebServer, open_page: Any, tmp_path: Path
) -> None:
    create_user(web_server, "admin@example.com", UserRole.ADMIN)
    desk = open_page()
    sign_in_and_enrol(desk, web_server, "admin@example.com", "portal")
    assert "No upload is in progress." in desk.inner_text("#active-uploads")
    screenshot(desk, "portal-dashboard-empty")

    desk.click("text=New ticket")
    desk.fill("#number", "SR-2026")
    desk.fill("#title", "Backup fails every night after the upgrade")
    desk.fill("#platform", "Linux")
    screenshot(desk, "portal-ticket-new")
    desk.click("button:has-text('Create ticket')")
    desk.wait_for_url("**/staff/tickets/SR-2026?done=ticket-created")
    screenshot(desk, "portal-ticket-empty")
    desk.fill("#uploads", "1")
    desk.fill("#expires", "1d")
    desk.click("button:has-text('Issue token')")
    token = desk.inner_text("#token-value").strip()
    assert token.startswith("tlu_")
    link = desk.inner_text("#command-browser").strip()
    assert link == f"{web_server.url}/upload#{token}"
    screenshot(desk, "portal-token")

    # The staff member watches the dashboard; the customer uploads.
    desk.goto(f"{web_server.url}/staff/")
    desk.evaluate("window.stillTheSamePage = true")
    source = make_file(tmp_path / "host1 logs.tar.gz", SIZE)
    with CutProxy(web_server.port, cut_after=20 * MIB, cuts=1) as proxy:
        customer = open_page()
        throttle_uplink(customer, 12 * MIB)
        customer.goto(link.replace(web_server.url, proxy.url))
        customer.set_input_files("#file", str(source))
        customer.click("#start")
        desk.wait_for_selector("#active-table tr[data-upload]")  # appeared by itself
        customer.wait_for_function(
            "() => Number(document.getElementById('progressbar').ariaValueNow) >= 50"
        )
        desk.wait_for_function(
            "() => /MiB\\/s|KiB\\/s/.test(document.querySelector('[data-cell=speed]').textContent)"
        )
        assert desk.evaluate("window.stillTheSamePage") is True  # no reload
        screenshot(desk, "portal-dashboard-live")
        assert proxy.cut_records  # the connection was cut before half-way
        customer.reload()
        customer.set_input_files("#file", str(source))
        assert customer.inner_text("#start") == "Continue upload"
        customer.click("#start")
        customer.wait_for_selector("#receipt-panel:not([hidden])", timeout=180_000)
    assert customer.get_attribute("#receipt-panel", "data-state") == "verified"
    desk.wait_for_selector("#active-empty:not([hidden])")  # gone from "in progress"

    desk.goto(f"{web_server.url}/staff/tickets/SR-2026")
    row = desk.locator("#upload-table tbody tr").first
    upload_id = row.get_attribute("data-upload")
    assert "verified" in row.inner_text() and sha256_of(source) in row.inner_text()
    screenshot(desk, "portal-ticket")
    with desk.expect_download() as download_info:
        row.locator("text=Download").click()
    download = download_info.value
    assert download.suggested_filename == "host1 logs.tar.gz"
    saved = tmp_path / "downloaded.bin"
    download.save_as(saved)
    assert filecmp.cmp(saved, source, shallow=False)

    _phone_pages(open_page, web_server)
    _desktop_pages(desk, web_server)
    desk.goto(f"{web_server.url}/staff/audit?subject={upload_id}&action=upload.downloaded")
    assert "admin@example.com" in desk.inner_text("#audit-table")

    stored = Path(web_server.settings.storage_dir) / str(upload_id)[:2] / str(upload_id)
    assert stored.exists()
    desk.goto(f"{web_server.url}/staff/tickets/SR-2026")
    desk.click("text=Delete…")
    summary = desk.inner_text("#delete-summary")
    assert summary == "1 archive (56.0 MiB, 58,720,256 bytes)"
    screenshot(desk, "portal-ticket-delete")
    desk.click("button:has-text('and the ticket')")
    desk.wait_for_url("**/staff/tickets?done=ticket-deleted")
    assert "Ticket deleted" in desk.inner_text(".alert-success")
    assert not stored.exists()  # the bytes are off the disk


def _desktop_pages(page: Any, server: WebServer) -> None:
    for path, name in (
        ("/staff/tickets", "portal-tickets"),
        ("/staff/uploads", "portal-uploads"),
        ("/staff/audit", "portal-audit"),
        ("/staff/users", "portal-users"),
        ("/staff/profile", "portal-profile"),
    ):
        page.goto(f"{server.url}{path}")
        screenshot(page, name)
    page.goto(f"{server.url}/staff/audit?subject=SR-2026")
    assert "ticket.created" in page.inner_text("#audit-table")


def _phone_pages(open_page: Any, server: WebServer) -> None:
    create_user(server, "phone@example.com", UserRole.STAFF)
    phone = open_page(viewport=PHONE)
    sign_in_and_enrol(phone, server, "phone@example.com", "portal")
    screenshot(phone, "portal-dashboard")
    assert phone.is_visible(".navbar-toggler") and not phone.is_visible("#portal-nav")
    phone.click(".navbar-toggler")
    phone.wait_for_selector("#portal-nav.show")
    screenshot(phone, "portal-menu")
    for path, name in (
        ("/staff/tickets", "portal-tickets"),
        ("/staff/tickets/SR-2026", "portal-ticket"),
        ("/staff/uploads", "portal-uploads"),
        ("/staff/audit", "portal-audit"),
        ("/staff/profile", "portal-profile"),
    ):
        phone.goto(f"{server.url}{path}")
        screenshot(phone, name)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, phone.evaluate(WIDER_THAN_THE_SCREEN))
