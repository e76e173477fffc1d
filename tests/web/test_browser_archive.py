"""Looking inside an archive in a real Chromium against a real `tuslog serve`: a customer
uploads a tar.gz with tuspy; staff open its manifest, go into a folder, filter, preview
an entry, search (the results stream in), and download one entry, byte-identical. Shot
at desktop and phone width (artifacts/screenshots/archive-*.png)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path
from typing import Any

from tusclient import client

from tests.web.conftest import PHONE, Staff, WebServer, screenshot
from tests.web.test_browser_portal import WIDER_THAN_THE_SCREEN, create_user, sign_in_and_enrol
from tuslog.db.models import UserRole

MTIME = 1_700_000_000
APP_LOG = b"".join(
    b"2026-01-0%d 10:00:00 app[42]: %s\n" % (1 + n % 9, b"ERROR disk full" if n % 7 == 0 else b"ok")
    for n in range(60)
)
FILES = {
    "var/log/app/app.log": APP_LOG,
    "var/log/syslog": b"".join(b"Nov  1 12:00:00 host sshd[1]: line %d\n" % n for n in range(400)),
    "var/log/nginx/error.log": b"2026/01/01 [error] upstream timed out <script>x</script>\n",
    "etc/hostname": b"host1\n",
    "etc/os-release": b'NAME="Debian GNU/Linux"\nVERSION_ID="12"\n',
    "bin/tool": b"\x7fELF\x00\x00binary" * 50,
    "notes/invoice\u202etxt.exe": b"not an exe\n",
}


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, content in FILES.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), MTIME
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _upload(server: WebServer, staff: Staff, tmp_path: Path) -> str:
    data = _bundle()
    source = tmp_path / "host1-logs.tar.gz"
    source.write_bytes(data)
    issued = staff.issue()
    tus = client.TusClient(
        f"{server.url}/files/", headers={"Authorization": f"Bearer {issued.token}"}
    )
    metadata = {"filename": source.name, "sha256": hashlib.sha256(data).hexdigest()}
    uploader = tus.uploader(str(source), chunk_size=1 << 20, metadata=metadata)
    uploader.upload()
    return str(uploader.url).rstrip("/").rsplit("/", 1)[1]


def _open_when_listed(page: Any, url: str) -> None:
    """The upload page, once the background job has listed the archive."""
    for _ in range(120):
        page.goto(url)
        if page.get_attribute("#manifest-status", "data-state") == "done":
            return
        time.sleep(0.5)
    raise AssertionError("the archive was not listed within a minute")


def _fits_the_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (page.url, page.evaluate(WIDER_THAN_THE_SCREEN))


def test_look_inside_an_archive_in_a_browser(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    upload_id = _upload(web_server, staff, tmp_path)
    create_user(web_server, "desk@example.com", UserRole.STAFF)
    desk = open_page()
    sign_in_and_enrol(desk, web_server, "desk@example.com", None)
    upload_url = f"{web_server.url}/staff/uploads/{upload_id}"
    _open_when_listed(desk, upload_url)
    assert desk.locator("#manifest-table tr[data-folder]").count() == 4  # bin etc notes var
    screenshot(desk, "archive-upload")

    desk.click("#manifest-table a:has-text('var/')")
    desk.click("#manifest-table a:has-text('log/')")
    assert "var" in desk.inner_text("#folder-crumbs") and "log" in desk.inner_text("#folder-crumbs")
    screenshot(desk, "archive-folder")

    desk.fill("#filter", "*.log")
    desk.press("#filter", "Enter")
    desk.wait_for_url("**q=*.log*")
    assert desk.locator("#manifest-table tr[data-entry]").count() == 2  # app.log, error.log
    screenshot(desk, "archive-filter")

    desk.click("#manifest-table a:has-text('app.log')")
    desk.wait_for_selector("#preview")
    assert "ERROR disk full" in desk.inner_text("#preview")
    assert desk.locator("#preview .code-line").count() == 60
    screenshot(desk, "archive-preview")

    with desk.expect_download() as download_info:
        desk.click("#entry-download")
    download = download_info.value
    assert download.suggested_filename == "app.log"
    saved = tmp_path / "app.log"
    download.save_as(saved)
    assert saved.read_bytes() == FILES["var/log/app/app.log"]

    desk.goto(upload_url)
    desk.click("#search-link")
    desk.fill("#pattern", "error")
    desk.check("#case")
    desk.click("button:has-text('Search')")
    desk.wait_for_selector("#search-end")
    assert desk.locator(".search-hit").count() == 10  # 9 in app.log, 1 in nginx's log
    assert not desk.is_visible("#searching")  # the "searching…" line went at the end
    assert "<script>" in desk.inner_text("#hits")  # shown as text, not run
    screenshot(desk, "archive-search")

    desk.goto(f"{upload_url}/search?pattern=(oops&mode=regex")
    assert "regular expression" in desk.inner_text("#pattern-error")
    screenshot(desk, "archive-search-error")

    _on_a_phone(open_page, web_server, upload_url)


def _on_a_phone(open_page: Any, server: WebServer, upload_url: str) -> None:
    create_user(server, "phone-archive@example.com", UserRole.STAFF)
    phone = open_page(viewport=PHONE)
    sign_in_and_enrol(phone, server, "phone-archive@example.com", None)
    phone.goto(f"{upload_url}?dir=notes")
    assert "\\u202e" in phone.inner_text("#manifest-table")  # the override shown inert
    _fits_the_phone(phone)
    phone.goto(f"{upload_url}?dir=var/log")
    screenshot(phone, "archive-folder")
    _fits_the_phone(phone)
    phone.click("#manifest-table a:has-text('syslog')")
    phone.wait_for_selector("#preview")
    screenshot(phone, "archive-preview")
    _fits_the_phone(phone)
    phone.goto(f"{upload_url}/search?pattern=error&case=ignore")
    phone.wait_for_selector("#search-end")
    screenshot(phone, "archive-search")
    _fits_the_phone(phone)
