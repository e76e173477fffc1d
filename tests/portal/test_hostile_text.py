"""Hostile text in every field that reaches a portal page (ticket number, title and
platform, a customer's file name, a browser's User-Agent, search and filter values,
messages that quote what was typed) is shown as text: no markup, no script, no event
handler, no javascript: link, no template evaluation, and bidirectional overrides made
visible instead of reordering what staff read."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import quote

from tests.portal.conftest import Account, Browser, People, issue_token, tus_upload

NUMBER = "<script>alert(1)</script>"
TITLE = '"><img src=x onerror=alert(2)> {{ 7*7 }} {% raw %} javascript:alert(3) \u202egpj.exe'
PLATFORM = "'onmouseover='alert(4)' x=\u2066"
FILENAME = '<svg onload=alert(5)>"\u202egpj.exe'
AGENT = "<script>alert(6)</script> \u202e"
RAW = ("<script>alert", "<img src=x", "<svg onload", "\u202e", "\u2066")


class Structure(HTMLParser):
    """What the browser would build: any script without src, handler or javascript: link."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("img", "svg", "iframe", "object", "embed", "style"):
            self.problems.append(f"<{tag}>")  # the portal's pages here have none
        if tag == "script" and not values.get("src"):
            self.problems.append("inline <script>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if value and value.strip().lower().startswith(("javascript:", "data:text")):
                self.problems.append(f"{name}={value}")


def assert_inert(text: str, where: str) -> None:
    for raw in RAW:
        assert raw not in text, (where, raw)
    assert "{{ 7*7 }}" not in text or "49" not in text.split("{{ 7*7 }}")[0][-5:]
    structure = Structure()
    structure.feed(text)
    assert not structure.problems, (where, structure.problems)


async def test_hostile_text_is_inert_everywhere(
    people: People, staff: tuple[Account, Browser]
) -> None:
    account, browser = staff
    created = await browser.post(
        "/staff/tickets/new", {"number": NUMBER, "title": TITLE, "platform": PLATFORM}
    )
    assert created.status == 303
    ticket_url = f"/staff/tickets/{quote(NUMBER, safe='')}"
    assert created.location.startswith(ticket_url)
    script_link = "javascript:alert(7)"
    assert (await browser.post("/staff/tickets/new", {"number": script_link})).status == 303
    token = await issue_token(browser, NUMBER)
    issued = browser.last
    assert issued is not None
    await tus_upload(browser.client, token, b"x" * 100, filename=FILENAME)
    other = await issue_token(browser, NUMBER, uploads="1")
    receiving = await tus_upload(browser.client, other, b"y" * 100, filename=FILENAME, send=10)

    # A second session whose browser sends a hostile User-Agent.
    second = await people.browser()
    second.client.session.headers["User-Agent"] = AGENT
    await people.sign_in(account, second)

    pages = {"token shown once": issued}
    for path in (
        "/staff/",
        "/staff/tickets",
        f"/staff/tickets?q={quote(NUMBER)}",
        f"/staff/tickets?q={quote(TITLE)}&platform={quote(PLATFORM)}",
        ticket_url,
        f"{ticket_url}/edit",
        f"{ticket_url}/delete",
        "/staff/uploads",
        f"/staff/uploads/{receiving}/delete",
        "/staff/audit",
        f"/staff/audit?subject={quote(NUMBER)}&actor={quote(TITLE)}",
        "/staff/profile",
        f"/staff/tickets/{quote(NUMBER + 'x', safe='')}",  # 404 quoting the number
        f"/staff/signin?next={quote('/staff/' + NUMBER)}",
    ):
        page = await browser.get(path)
        assert page.status in (200, 303, 404), path
        pages[path] = page
    for where, page in pages.items():
        assert_inert(page.text, where)

    # The texts are there, as text (escaped), with the overrides made visible.
    ticket = pages[ticket_url].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ticket
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt; {{ 7*7 }} {% raw %}" in ticket
    assert "\ufffdgpj.exe" in ticket  # U+202E shown as a replacement character
    assert "<bdi>&lt;svg onload=alert(5)&gt;&#34;\ufffdgpj.exe</bdi>" in ticket
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in pages["/staff/profile"].text
    assert 'value="&#34;&gt;&lt;img' in pages[f"{ticket_url}/edit"].text

    listing = pages["/staff/tickets"].text
    assert 'href="/staff/tickets/javascript%3Aalert%287%29"' in listing  # a path, never a URL

    activity = await browser.client.get("/staff/activity.json")
    data = json.loads(await activity.text())
    [row] = data["uploads"]
    assert (
        row["filename"] == '<svg onload=alert(5)>"\ufffdgpj.exe'
    )  # JSON; the page uses textContent
    assert row["ticket_url"] == ticket_url
