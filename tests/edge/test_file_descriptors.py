"""A worker that runs out of file descriptors (a low `ulimit -n`, many customers at once)
answers the overflow with a clear, retryable 503 — never a 500, never "storage unusable"
— and serves everyone again once the crowd has gone."""

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests import tus
from tests.conftest import free_port, issue_token, server_env, start_server
from tuslog.settings import Settings

OPEN_FILES = 160  # with what a worker needs for itself: room for about 30 requests


async def _hold_patch(url: str, auth: dict[str, str]) -> tuple[int, str]:
    """A PATCH whose body never comes, kept open until the test ends; or its early answer."""
    host, port = url.rsplit("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.rsplit("//", 1)[1].split("/", 1)[1]
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError as exc:
        return 0, type(exc).__name__
    writer.write(tus.raw_patch_head(path, auth, 0, Content_Length=1000))
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(4096), 4)
    except TimeoutError:
        return -1, ""  # still open: it was taken
    except OSError as exc:
        return 0, type(exc).__name__
    finally:
        writer.close()
    if not answer:
        return 0, "closed"
    return int(answer.split()[1]), answer.decode("latin-1")


async def test_out_of_descriptors_is_a_clear_503_and_recovers(
    settings: Settings, tmp_path: Path
) -> None:
    env = server_env(settings, TUSLOG_LOCK_RELEASE_TIMEOUT="1")
    server = start_server(env, free_port(), tmp_path / "server.log", open_files=OPEN_FILES)
    try:
        issued = await issue_token(settings, uploads=100)
        async with aiohttp.ClientSession() as http:
            urls = []
            for _ in range(80):
                headers = {**issued.auth, "Upload-Length": "1000"}
                async with http.post(f"{server.url}/files/", headers=headers) as created:
                    assert created.status == 201, await created.text()
                    urls.append(server.url + created.headers["Location"])
            answers = await asyncio.gather(*(_hold_patch(url, issued.auth) for url in urls))
            statuses = [status for status, _ in answers]
            assert 500 not in statuses, [text for status, text in answers if status == 500][:1]
            busy = [text for status, text in answers if status == 503]
            assert busy, statuses  # some were too many for this worker
            assert all("Retry-After:" in text for text in busy)
            assert statuses.count(-1) >= 10  # and the others were taken
            # The crowd has gone: once the worker has seen them leave, all are served again.
            status = 0
            for _ in range(100):
                async with http.head(urls[0], headers=issued.auth) as head:
                    status = head.status
                if status == 200:
                    break
                assert status == 503
                await asyncio.sleep(0.2)
            assert status == 200
            assert (await tus_patch(http, urls[0], issued.auth)).status == 204
        log = (tmp_path / "server.log").read_text()
        assert "storage unusable" not in log and "Traceback" not in log
    finally:
        server.stop()


async def tus_patch(http: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> Any:
    headers = {**auth, "Upload-Offset": "0", "Content-Type": tus.OCTET}
    async with http.patch(url, data=b"x" * 1000, headers=headers) as answer:
        return answer
