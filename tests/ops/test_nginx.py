"""The shipped nginx configuration (deploy/nginx.conf), for real, in front of
`tuslog serve --workers 2`: uploads stream through (a cut connection keeps what reached
the server), the customers' uploaders work through it, the real client address reaches
the audit log and the access log, and forged X-Forwarded-For headers are ignored.

Only what a test machine needs differs from the shipped file, each substitution checked:
loopback ports, a self-signed certificate, and ``proxy_bind 127.0.0.3`` so that nginx
reaches tuslog from an address of its own (clients come from 127.0.0.1)."""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from tests import tus
from tests.conftest import LiveServer, free_port, issue_token, server_env, start_server
from tests.support.cut_proxy import CutProxy
from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import AuditEvent
from tuslog.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
    pytest.mark.skipif(
        shutil.which("nginx") is None or shutil.which("openssl") is None,
        reason="nginx or openssl is not installed (.ci/run installs nginx)",
    ),
]
ROOT = Path(__file__).resolve().parents[2]
PROXY_ADDRESS = "127.0.0.3"
PASS = "        proxy_pass http://tuslog;\n"


@dataclass
class Proxied:
    tuslog: LiveServer
    url: str  # https://127.0.0.1:PORT through nginx
    port: int
    logs: Path


def _site(tuslog_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in (
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{tuslog_port};"),
        ("    listen 443 ssl;\n", f"    listen 127.0.0.1:{https_port} ssl;\n"),
        ("    listen [::]:443 ssl;\n", ""),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen [::]:80;\n", ""),
        ("/etc/ssl/certs/logs.example.com.pem", str(cert)),
        ("/etc/ssl/private/logs.example.com.key", str(key)),
        (
            "        proxy_pass http://tuslog;\n",
            f"        proxy_pass http://tuslog;\n        proxy_bind {PROXY_ADDRESS};\n",
        ),
    ):
        assert site.count(old) == 1, f"deploy/nginx.conf changed shape: {old!r}"
        site = site.replace(old, new)
    return site


def _start_nginx(directory: Path, site: str) -> subprocess.Popen[bytes]:
    (directory / "site.conf").write_text(site)
    (directory / "nginx.conf").write_text(
        f"""user root;
worker_processes 2;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
}}
"""
    )
    check = subprocess.run(
        ["nginx", "-t", "-p", str(directory), "-c", str(directory / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    return subprocess.Popen(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nginx did not listen")


@pytest.fixture
def proxied(settings: Settings, tmp_path: Path) -> Iterator[Proxied]:
    directory = tmp_path / "nginx"
    directory.mkdir()
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        capture_output=True,
        check=True,
    )
    env = server_env(
        settings,
        TUSLOG_TRUSTED_PROXIES=f"{PROXY_ADDRESS}/32",
        TUSLOG_LOG_FORMAT="json",
        TUSLOG_CHECKPOINT_SECONDS="0.2",
    )
    tuslog = start_server(env, free_port(), tmp_path / "tuslog.log", "--workers", "2")
    https_port = free_port()
    nginx = _start_nginx(directory, _site(tuslog.port, https_port, free_port(), cert, key))
    try:
        _wait_for_port(https_port, nginx)
        yield Proxied(tuslog, f"https://127.0.0.1:{https_port}", https_port, tmp_path)
    finally:
        nginx.terminate()
        nginx.wait(timeout=20)
        tuslog.stop()


def _audit(settings: Settings, action: str) -> list[AuditEvent]:
    async def query() -> list[AuditEvent]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
                return list(rows)
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _access(proxied: Proxied) -> list[dict[str, object]]:
    lines = (proxied.logs / "tuslog.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [entry for entry in entries if entry.get("logger") == "tuslog.access"]


def _patch_raw(port: int, path: str, token: str, data: bytes, sent: int) -> None:
    """Send a PATCH for ``data`` over TLS and stop after ``sent`` body bytes (the cut
    proxy in between resets the connection anyway)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: {tus.OCTET}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(head)
            for start in range(0, sent, 64 * 1024):
                sock.sendall(data[start : min(start + 64 * 1024, sent)])
            time.sleep(1)
    except OSError:
        pass  # the proxy cut it: what the test is about


def test_a_cut_connection_keeps_what_reached_tuslog(proxied: Proxied, settings: Settings) -> None:
    """With request buffering on, nginx would hold the body and tuslog would have nothing
    when the connection drops; the shipped configuration streams it."""
    token = asyncio.run(issue_token(settings))
    auth = {"Authorization": f"Bearer {token.token}", "Tus-Resumable": "1.0.0"}
    data = os.urandom(12 * 1024 * 1024)
    created = requests.post(
        f"{proxied.url}/files/",
        headers={**auth, "Upload-Length": str(len(data))},
        verify=False,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(proxied.url)  # X-Forwarded-Proto/Host believed
    with CutProxy(proxied.port, cut_after=6 * 1024 * 1024) as cut:
        _patch_raw(cut.port, tus.path_of(location), token.token, data, 8 * 1024 * 1024)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        head = requests.head(location, headers=auth, verify=False, timeout=10)
        offset = int(head.headers["Upload-Offset"])
        if offset > 0:
            break
        time.sleep(0.2)
    assert 0 < offset <= 6 * 1024 * 1024, offset
    resumed = requests.patch(
        location,
        data=data[offset:],
        headers={**auth, "Upload-Offset": str(offset), "Content-Type": tus.OCTET},
        verify=False,
        timeout=60,
    )
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["Upload-Offset"] == str(len(data))
    cut_patch = [e for e in _access(proxied) if e["method"] == "PATCH" and e["status"] == 499]
    assert cut_patch and cut_patch[0]["bytes_kept"] == offset


@pytest.mark.parametrize("kind", ["sh", "python"])
def test_the_uploaders_work_through_nginx(
    proxied: Proxied, settings: Settings, tmp_path: Path, kind: str
) -> None:
    token = asyncio.run(issue_token(settings))
    archive = tmp_path / "logs.tar.gz"
    archive.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    script = ROOT / "scripts" / ("uploader.sh" if kind == "sh" else "uploader.py")
    command = ["sh", str(script)] if kind == "sh" else [sys.executable, str(script)]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    done = subprocess.run(
        [*command, "--insecure", "--chunk-size", "1M", proxied.url, token.token, str(archive)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout


def test_the_real_client_reaches_the_audit_and_access_logs(
    proxied: Proxied, settings: Settings
) -> None:
    token = asyncio.run(issue_token(settings))
    auth = {"Authorization": f"Bearer {token.token}", "Tus-Resumable": "1.0.0"}
    created = requests.post(
        f"{proxied.url}/files/",
        headers={**auth, "Upload-Length": "3", "X-Forwarded-For": "203.0.113.66"},
        verify=False,
        timeout=10,
    )
    assert created.status_code == 201
    request_id = created.headers["X-Request-Id"]
    assert len(request_id) == 32  # nginx's $request_id, passed on and echoed by tuslog
    (event,) = _audit(settings, "upload.created")
    assert event.client_ip == "127.0.0.1"  # the client, not nginx (127.0.0.3), not forged
    (entry,) = [e for e in _access(proxied) if e["request_id"] == request_id]
    assert (entry["client_ip"], entry["status"]) == ("127.0.0.1", 201)


def test_forged_forwarded_for_straight_to_tuslog_is_ignored(
    proxied: Proxied, settings: Settings
) -> None:
    """127.0.0.1 is no trusted proxy here (only nginx's 127.0.0.3 is)."""
    token = asyncio.run(issue_token(settings))
    created = requests.post(
        f"{proxied.tuslog.url}/files/",
        headers={
            "Authorization": f"Bearer {token.token}",
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "3",
            "X-Forwarded-For": "203.0.113.66",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
        timeout=10,
    )
    assert created.status_code == 201
    # Straight to tuslog from an untrusted peer: the forged host is not believed, the
    # Location stays relative.
    assert created.headers["Location"].startswith("/files/")
    (event,) = _audit(settings, "upload.created")
    assert event.client_ip == "127.0.0.1"
    entries = [e for e in _access(proxied) if e["request_id"] == created.headers["X-Request-Id"]]
    assert [e["client_ip"] for e in entries] == ["127.0.0.1"]
