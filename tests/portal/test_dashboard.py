"""The dashboard: uploads in progress with progress that moves without a reload (the JSON
endpoint the page polls), deferred lengths, recently finished uploads, open tickets, and
the storage bar with its warning and danger thresholds (a nearly full disk is faked at
the Store seam)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes import FaultyStore
from tests.portal.conftest import Account, Browser, PeopleFactory, issue_token, tus_upload
from tuslog.storage.store import Space

GIB = 1024**3


async def activity(browser: Browser) -> dict:  # type: ignore[type-arg]
    response = await browser.client.get("/staff/activity.json")
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    return json.loads(await response.text())  # type: ignore[no-any-return]


async def test_an_empty_dashboard_says_what_to_do(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    page = await browser.get("/staff/")
    assert "No upload is in progress." in page.text
    assert "Open a ticket and issue an upload token" in page.text
    assert 'id="open-tickets">0<' in page.text
    data = await activity(browser)
    assert data["uploads"] == [] and data["storage"]["level"] == "ok"


async def test_progress_moves_without_a_reload(staff: tuple[Account, Browser]) -> None:
    _, browser = staff
    token = await issue_token(browser, "SR-LIVE", uploads="3")
    data = b"z" * 400_000
    upload_id = await tus_upload(browser.client, token, data, filename="live.tgz", send=100_000)
    page = await browser.get("/staff/")
    assert f'data-upload="{upload_id}"' in page.text and "live.tgz" in page.text
    assert 'aria-valuenow="25"' in page.text and 'id="open-tickets">1<' in page.text
    [row] = (await activity(browser))["uploads"]
    assert (row["offset"], row["length"], row["percent"]) == (100_000, 400_000, 25)
    assert row["ticket"] == "SR-LIVE" and row["ticket_url"] == "/staff/tickets/SR-LIVE"
    patch = await browser.client.patch(
        f"/files/{upload_id}",
        data=data[100_000:300_000],
        headers={
            "Tus-Resumable": "1.0.0",
            "Authorization": f"Bearer {token}",
            "Upload-Offset": "100000",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert patch.status == 204
    [row] = (await activity(browser))["uploads"]
    assert (row["offset"], row["percent"]) == (300_000, 75)

    deferred = await browser.client.post(
        "/files/",
        data=b"q" * 5000,
        headers={
            "Tus-Resumable": "1.0.0",
            "Authorization": f"Bearer {token}",
            "Upload-Defer-Length": "1",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert deferred.status == 201
    rows = (await activity(browser))["uploads"]
    unknown = [row for row in rows if row["length"] is None]
    assert len(unknown) == 1 and unknown[0]["percent"] is None and unknown[0]["offset"] == 5000
    page = await browser.get("/staff/")
    assert "received; size unknown until finished" in page.text

    finished = await tus_upload(browser.client, token, b"done" * 100, filename="done.log")
    page = await browser.get("/staff/")
    active, recent = page.text.split('id="recent-title"')
    assert "done.log" in recent and ">complete</span>" in recent
    assert "done.log" not in active and finished not in active


async def _storage(
    make_people: PeopleFactory, tmp_path: Path, used: int, promised_free: int = 0
) -> tuple[dict, str]:  # type: ignore[type-arg]
    store = FaultyStore(tmp_path / "uploads")
    store.intercept(
        "space", lambda _real: Space(total=100 * GIB, used=used * GIB, free=(100 - used) * GIB)
    )
    people = await make_people(store=store, storage_warning_percent=70, storage_danger_percent=85)
    browser = await people.sign_in(await people.create(f"s{used}@example.com"))
    page = await browser.get("/staff/")
    return (await activity(browser))["storage"], page.text


async def test_storage_levels(make_people: PeopleFactory, tmp_path: Path) -> None:
    storage, page = await _storage(make_people, tmp_path, used=50)
    assert storage["level"] == "ok" and storage["committed_percent"] == 50
    assert 'id="storage-alert"' not in page and 'data-level="ok"' in page
    assert storage["text"]["used"] == "50.0 GiB" and storage["segments"]["used"] == 50

    storage, page = await _storage(make_people, tmp_path, used=75)
    assert storage["level"] == "warning"
    assert "The storage is filling up." in page and 'data-level="warning"' in page

    storage, page = await _storage(make_people, tmp_path, used=90)
    assert storage["level"] == "danger"
    assert "The storage is almost full: new uploads may be refused." in page
    assert 'role="alert" id="storage-alert"' in page


async def test_promised_bytes_count_towards_the_thresholds(
    make_people: PeopleFactory, tmp_path: Path
) -> None:
    store = FaultyStore(tmp_path / "uploads")
    store.intercept("space", lambda _real: Space(total=10 * GIB, used=6 * GIB, free=4 * GIB))
    people = await make_people(store=store, max_upload_size=10 * GIB)
    browser = await people.sign_in(await people.create("promise@example.com"))
    token = await issue_token(browser, "SR-BIG")
    response = await browser.client.post(
        "/files/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Authorization": f"Bearer {token}",
            "Upload-Length": str(3 * GIB),
        },
    )
    assert response.status == 201
    storage = (await activity(browser))["storage"]
    assert storage["promised"] == 3 * GIB and storage["committed_percent"] == 90
    assert storage["level"] == "danger"  # 6 GiB used + 3 GiB promised of 10 GiB
    assert storage["segments"] == {"used": 60, "promised": 30, "reserve": 0}
