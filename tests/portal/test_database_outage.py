"""The portal while its database is out of reach (PostgreSQL restarting, a network cut):
a signed-in page answers 503 with Retry-After and says to retry, logs one line without a
traceback, and works again as soon as the database is back. PostgreSQL only."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.portal.conftest import Account, Browser
from tests.support.outage_proxy import OutageProxy

_PROXIES: dict[str, OutageProxy] = {}


@pytest.fixture
async def database_url(database_url: str) -> AsyncIterator[str]:
    """The test database, reached through a proxy that can take it away."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: an SQLite file does not go away")
    proxy = await OutageProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    _PROXIES[proxied] = proxy
    yield proxied
    del _PROXIES[proxied]
    await proxy.stop()


async def test_portal_pages_answer_503_while_the_database_is_away(
    database_url: str, admin: tuple[Account, Browser], caplog: Any
) -> None:
    _, browser = admin
    proxy = _PROXIES[database_url]
    assert (await browser.get("/staff/tickets")).status == 200
    proxy.down()
    try:
        for path in ("/staff/tickets", "/staff/"):
            page = await browser.get(path)
            assert page.status == 503, (path, page.text[:500])
            assert int(page.response.headers["Retry-After"]) > 0
            assert "cannot reach its database" in page.text
    finally:
        proxy.up()
    assert (await browser.get("/staff/tickets")).status == 200
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text[-2000:]
