"""The upload page in a real Chromium against a real `tuslog serve`: a 64 MiB upload that
survives two cut connections and a page reload, the receipt, and keyboard use."""

from __future__ import annotations

import filecmp
import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.cut_proxy import CutProxy
from tests.web.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    Staff,
    WebServer,
    make_file,
    screenshot,
    watch_page,
)

MIB = 1024 * 1024
BIG = 64 * MIB
CUT_AFTER = 20 * MIB  # client→server bytes on one connection before the proxy cuts it
UPLINK = 16 * MIB  # bytes/s: Chromium's own throttle, so the test can act mid-way


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def server_offset(server: WebServer, upload_id: str, token: str) -> int:
    """The server's own answer (HEAD waits for a cut PATCH to record what it kept)."""
    response = requests.head(
        f"{server.url}/files/{upload_id}",
        headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


class TusTraffic:
    """The browser's tus traffic in order: ("PATCH", Upload-Offset sent), ("HEAD", None),
    ("POST", None) for requests, and ("HEAD answer", Upload-Offset) for HEAD answers."""

    def __init__(self, page: Any) -> None:
        self.events: list[tuple[str, int | None]] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        if "/files/" in request.url:
            offset = request.headers.get("upload-offset")
            self.events.append((request.method, int(offset) if offset else None))

    def _response(self, response: Any) -> None:
        if "/files/" in response.url and response.request.method == "HEAD":
            offset = response.headers.get("upload-offset")
            self.events.append(("HEAD answer", int(offset) if offset else None))

    def mark(self) -> int:
        return len(self.events)


def throttle_uplink(page: Any, bytes_per_second: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def test_resumes_after_cut_connections_and_a_reload(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    token = issued.token
    source = make_file(tmp_path / "host1 logs 2026.tar.gz", BIG)
    expected = sha256_of(source)
    with CutProxy(web_server.port, cut_after=CUT_AFTER, cuts=2) as proxy:
        log_mark = web_server.log_mark()
        page = open_page()
        throttle_uplink(page, UPLINK)
        traffic = TusTraffic(page)
        page.goto(f"{proxy.url}/upload#{token}")
        assert "#" not in page.url and token not in page.url  # out of the address bar
        assert page.is_visible("#token-summary") and not page.is_visible("#token-field")
        page.set_input_files("#file", str(source))
        page.click("#start")

        # Half-way (the first cut is behind us), the customer reloads the page.
        page.wait_for_function(
            "() => Number(document.getElementById('progressbar').ariaValueNow) >= 50"
        )
        assert proxy.cut_records  # the first cut is behind us (the second may be too)
        screenshot(page, "uploading")
        page.reload()
        upload_id = staff.uploads(issued)[0].id
        kept = server_offset(web_server, upload_id, token)
        assert CUT_AFTER // 2 < kept < BIG  # at least what reached it before the cut

        assert page.is_visible("#token-summary")  # the tab kept the token, not the URL
        stored_state = page.evaluate("() => JSON.stringify(localStorage)")
        assert f"tuslog.upload.v1:{issued.prefix}:" in stored_state
        assert token.split("_", 2)[2] not in stored_state  # never the token's secret part
        assert "host1 logs 2026.tar.gz" in page.inner_text("#pending")
        repicked = traffic.mark()
        page.set_input_files("#file", str(source))
        assert page.inner_text("#start") == "Continue upload"
        page.click("#start")
        page.wait_for_selector("#receipt-panel:not([hidden])", timeout=120_000)
        screenshot(page, "done")

    # After the reload: HEAD (found again from localStorage, not created again), the
    # server's offset, and the first PATCH carries on from exactly there.
    after = traffic.events[repicked:]
    assert after[0] == ("HEAD", None) and after[1][0] == "HEAD answer", after[:3]
    resumed_at = after[1][1]
    assert resumed_at is not None and resumed_at >= kept > 0
    assert after[2] == ("PATCH", resumed_at), after[:3]
    assert all(method != "POST" for method, _ in after)
    assert len(proxy.cut_records) == 2  # both cuts happened, and the upload survived them
    # The server's log: one creation in all, PATCHes only on that upload.
    log = web_server.log_since(log_mark)
    assert log.count('"POST /files/" 201') == 1
    assert log.count(f'"HEAD /files/{upload_id}" 200') >= 2  # the test's and the page's

    assert page.get_attribute("#receipt-panel", "data-state") == "verified"
    assert page.inner_text("#receipt-sha256") == expected
    assert page.inner_text("#receipt-ticket") == issued.ticket
    [upload] = staff.uploads(issued)
    assert upload.id == upload_id and upload.state == "verified" and upload.offset == BIG
    assert upload.sha256 == upload.declared_sha256 == expected
    assert staff.token(issued).uses == 1
    stored = Path(web_server.settings.storage_dir) / upload_id[:2] / upload_id
    assert filecmp.cmp(stored, source, shallow=False)


def test_receipt_and_keyboard_only_use(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue(uploads=2)
    token, ticket = issued.token, issued.ticket
    source = make_file(tmp_path / "small.log", 3 * MIB + 17)
    page = open_page()
    # Listening from the start turns on Chromium's file chooser interception before any
    # key is pressed (turned on only by expect_file_chooser, it may come too late).
    page.on("filechooser", lambda chooser: None)
    page.goto(f"{web_server.url}/upload")
    screenshot(page, "idle")

    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(10):  # then the languages, then the token field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "token":
            break
    page.keyboard.type(token)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(source))
    assert "small.log" in page.inner_text("#file-info")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "start"
    page.keyboard.press("Enter")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "receipt-panel"

    assert page.inner_text("#receipt-file") == "small.log"
    assert "3,145,745 bytes" in page.inner_text("#receipt-size")
    assert page.inner_text("#receipt-sha256") == sha256_of(source)
    assert page.inner_text("#receipt-ticket") == ticket
    assert page.inner_text("#receipt-finished")
    assert page.inner_text("#receipt-check").startswith("Verified")
    assert page.inner_text("#announcer") == "Upload complete"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#copy-receipt")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f"sha256:   {sha256_of(source)}" in copied and f"ticket:   {ticket}" in copied
    assert "server:   verified" in copied

    # The same file again: the receipt again, without a new upload or token use.
    page.click("#upload-again")
    page.set_input_files("#file", str(source))
    page.click("#start")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    assert len(staff.uploads(issued)) == 1
    assert staff.token(issued).uses == 1


def test_dropped_file_uploads(web_server: WebServer, staff: Staff, open_page: Any) -> None:
    issued = staff.issue()
    page = open_page()
    page.goto(f"{web_server.url}/upload#{issued.token}")
    transfer = page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped bytes\\n".repeat(1000)], "dropped.txt",
                                    {type: "text/plain"}));
            return data;
        }"""
    )
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    assert "is-dragover" in (page.get_attribute("#drop-zone", "class") or "")
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    assert "dropped.txt" in page.inner_text("#file-info")
    page.click("#start")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    [upload] = staff.uploads(issued)
    assert upload.filename == "dropped.txt" and upload.state == "verified"
    assert upload.length == len("dropped bytes\n") * 1000


def test_pause_and_resume_on_a_phone(
    web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    issued = staff.issue()
    source = make_file(tmp_path / "phone logs.zip", 24 * MIB)
    page = open_page(viewport=PHONE)
    throttle_uplink(page, 8 * MIB)
    page.goto(f"{web_server.url}/upload#{issued.token}")
    screenshot(page, "idle")
    assert not page.is_visible(".drop-zone-title")  # nothing to drag on a touch screen
    page.set_input_files("#file", str(source))
    page.click("#start")
    page.wait_for_function(
        "() => Number(document.getElementById('progressbar').ariaValueNow) >= 20"
    )
    page.wait_for_function("() => document.getElementById('progress-rate').textContent !== ''")
    assert "left" in page.inner_text("#progress-rate")  # speed and time left
    screenshot(page, "uploading")
    page.click("#pause")
    page.wait_for_selector('#status[data-kind="paused"]')
    assert page.inner_text("#pause") == "Resume"
    assert page.inner_text("#announcer").startswith("Paused.")
    screenshot(page, "paused")
    paused_at = server_offset(web_server, staff.uploads(issued)[0].id, issued.token)
    assert 0 < paused_at < 24 * MIB  # what arrived before the pause is kept
    page.click("#pause")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    screenshot(page, "done")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    [upload] = staff.uploads(issued)
    assert upload.state == "verified" and upload.sha256 == sha256_of(source)
    assert staff.token(issued).uses == 1


@pytest.mark.parametrize("verdict", ["verified", "corrupt"])
def test_receipt_waits_while_the_server_verifies(
    verdict: str, web_server: WebServer, staff: Staff, open_page: Any, tmp_path: Path
) -> None:
    """The last PATCH's answer says "verifying" (as when the last bytes reach another
    worker, or after a restart): the page polls HEAD until the verdict. Here the real
    server's answers are rewritten on their way to the page (a "corrupt" verdict too:
    the file the test sends never is)."""
    issued = staff.issue()
    source = make_file(tmp_path / "logs.tar.gz", 300_000)
    page = open_page()
    heads = [0]

    def rewrite(route: Any) -> None:
        response = route.fetch()
        headers = dict(response.headers)
        if route.request.method == "HEAD":
            heads[0] += 1
        if route.request.method == "PATCH" or heads[0] == 1:  # the first look: not yet
            headers["tuslog-upload-state"] = "verifying"
            headers.pop("tuslog-sha256", None)
        elif route.request.method == "HEAD" and verdict == "corrupt":
            headers["tuslog-upload-state"] = "corrupt"
        route.fulfill(response=response, headers=headers)

    page.route("**/files/**", rewrite)
    page.goto(f"{web_server.url}/upload#{issued.token}")
    page.set_input_files("#file", str(source))
    page.click("#start")
    page.wait_for_selector('#status[data-kind="verifying"]', state="attached")
    if verdict == "verified":
        page.wait_for_selector("#receipt-panel:not([hidden])")
        assert page.inner_text("#receipt-sha256") == sha256_of(source)
    else:
        page.wait_for_selector("#error-panel:not([hidden])")
        assert page.get_attribute("#error-panel", "data-kind") == "corrupt"
        assert page.inner_text("#error-text").startswith("The server received a file whose")
    assert heads[0] == 2


def test_resumes_after_a_browser_restart(
    web_server: WebServer, staff: Staff, playwright: Any, tmp_path: Path
) -> None:
    """Paused, the browser closed; a new browser on the same profile, the link again, the
    same file: the upload carries on from what the server has, with no new creation."""
    issued = staff.issue()
    source = make_file(tmp_path / "restart.tar.gz", 24 * MIB)
    profile = tmp_path / "profile"
    watches = []
    offsets = []
    for run in ("before", "after"):
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport=DESKTOP
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            watches.append(watch_page(page))
            throttle_uplink(page, 8 * MIB)
            traffic = TusTraffic(page)
            page.goto(f"{web_server.url}/upload#{issued.token}")
            if run == "after":
                assert "restart.tar.gz" in page.inner_text("#pending")
            page.set_input_files("#file", str(source))
            page.click("#start")
            if run == "before":
                page.wait_for_function(
                    "() => Number(document.getElementById('progressbar').ariaValueNow) >= 30"
                )
                page.click("#pause")
                page.wait_for_selector('#status[data-kind="paused"]')
                upload_id = staff.uploads(issued)[0].id
                offsets.append(server_offset(web_server, upload_id, issued.token))
            else:
                page.wait_for_selector("#receipt-panel:not([hidden])")
                assert traffic.events[0] == ("HEAD", None)
                assert traffic.events[1] == ("HEAD answer", offsets[0])
                assert traffic.events[2] == ("PATCH", offsets[0])
                assert all(method != "POST" for method, _ in traffic.events)
        finally:
            context.close()
    assert 0 < offsets[0] < 24 * MIB
    [upload] = staff.uploads(issued)
    assert upload.state == "verified" and upload.sha256 == sha256_of(source)
    assert staff.token(issued).uses == 1
    assert not [problem for watch in watches for problem in watch.problems]


def test_a_name_the_server_would_refuse_is_made_acceptable(
    web_server: WebServer, staff: Staff, open_page: Any
) -> None:
    """Browsers allow names that tus metadata here does not (control characters, more than
    255 bytes): the page shortens them in the middle and keeps the extension."""
    issued = staff.issue()
    page = open_page()
    page.goto(f"{web_server.url}/upload#{issued.token}")
    name = "log\u0007s " + "ü" * 200 + ".tar.gz"
    transfer = page.evaluate_handle(
        """(name) => {
            const data = new DataTransfer();
            data.items.add(new File(["x".repeat(5000)], name));
            return data;
        }""",
        name,
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    page.click("#start")
    page.wait_for_selector("#receipt-panel:not([hidden])")
    [upload] = staff.uploads(issued)
    assert upload.filename.startswith("log_s üü") and upload.filename.endswith("….tar.gz")
    assert len(upload.filename.encode()) <= 255
    assert page.inner_text("#receipt-file") == name  # the customer's own name on the receipt
