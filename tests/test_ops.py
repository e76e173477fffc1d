"""/healthz and /readyz, and the headers every response carries."""

from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from tests.fakes import FaultyStore
from tuslog.app import create_app


async def test_healthz_and_readyz_ok(client: Any) -> None:
    health = await client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"status": "ok"})
    assert ready.headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in ready.headers


async def test_readyz_names_low_free_space(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, min_free_space="1000T")
    client = await aiohttp_client(create_app(settings))
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 503
    assert body["status"] == "unavailable"
    assert [p.split(":")[0] for p in body["problems"]] == ["free space"]


async def test_readyz_names_unwritable_storage(
    aiohttp_client: Any, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    store = FaultyStore(settings.storage_dir)
    store.fail("probe", OSError(30, "Read-only file system"))
    client = await aiohttp_client(create_app(settings, store=store))
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["problems"] == ["storage: not writable (Read-only file system)"]


async def test_readyz_names_unreachable_database(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere", tmp_path)
    client = await aiohttp_client(create_app(settings))
    ready = await client.get("/readyz")
    assert ready.status == 503
    problems = (await ready.json())["problems"]
    assert len(problems) == 1 and problems[0].startswith("database: ")
    assert (await client.get("/healthz")).status == 200


async def test_uploader_scripts_are_served(client: Any) -> None:
    root = Path(__file__).resolve().parent.parent / "scripts"
    for name in ("uploader.sh", "uploader.py"):
        response = await client.get(f"/{name}")
        if not (root / name).exists():
            assert response.status == 404
            continue
        assert response.status == 200
        assert await response.read() == (root / name).read_bytes()
        assert name in response.headers["Content-Disposition"]
