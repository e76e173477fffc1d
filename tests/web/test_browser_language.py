"""The page in the customer's language: the browser's (Accept-Language, built from
navigator.languages) or the one picked on the page, which keeps the token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.web.conftest import PHONE, Staff, WebServer, make_file, screenshot
from tuslog.web.messages import CATALOGUES

DE, FR = CATALOGUES["de"], CATALOGUES["fr"]


def test_german_browser_gets_german(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    staff.revoke(issued)
    page = open_page(locale="de-DE")
    assert page.evaluate("navigator.languages")[0] == "de-DE"
    response = page.goto(f"{web_server.url}/upload#{issued.token}")
    assert response.headers["content-language"] == "de"
    assert page.get_attribute("html", "lang") == "de"
    assert page.inner_text("h1") == DE["upload.title"]
    assert page.title().startswith(DE["upload.title"])
    assert page.get_attribute("[aria-current=page]", "hreflang") == "de"
    screenshot(page, "idle-de")
    page.set_input_files("#file", str(make_file(tmp_path / "protokolle.tar.gz", 4096)))
    assert "protokolle.tar.gz" in page.inner_text("#file-info")
    page.click("#start")
    page.wait_for_selector("#error-panel:not([hidden])")
    assert page.inner_text("#error-panel h2") == DE["js.error.title"]
    assert page.inner_text("#error-text") == DE["js.error.token"]
    screenshot(page, "error-de")


def test_language_switch_keeps_the_token(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    page = open_page(viewport=PHONE, locale="en-GB")
    page.goto(f"{web_server.url}/upload#{issued.token}")
    assert page.get_attribute("html", "lang") == "en"
    sent_urls: list[str] = []
    page.on("request", lambda request: sent_urls.append(request.url))
    page.click("a[hreflang=fr]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "fr"
    assert page.url.endswith("/upload?lang=fr")  # the token left the address bar again
    assert all(issued.token not in url for url in sent_urls)  # and never went anywhere
    assert page.is_visible("#token-summary")
    assert issued.prefix in page.inner_text("#token-summary")
    page.set_input_files("#file", str(make_file(tmp_path / "journaux.tar.gz", 100_000)))
    page.click("#start")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert page.inner_text("#receipt-title").strip().endswith(FR["js.receipt.title"])
    assert page.inner_text("#receipt-check") == FR["js.receipt.verified"]
    assert "100 000 octets" in page.inner_text("#receipt-size").replace("\u202f", " ")
    screenshot(page, "done-fr")
