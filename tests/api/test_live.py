"""Against real `tuslog serve` processes: the README's curl walk-through for integrators,
run literally; webhooks written while the server was down are delivered after it starts;
the `tuslog apikey` commands."""

import asyncio
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import standardwebhooks

from tests.api.conftest import add_user
from tests.api.receiver import Receiver
from tests.conftest import LiveServer, free_port, server_env, start_server
from tuslog.db.models import UserRole
from tuslog.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def integrator_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## For integrators", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def _server(settings: Settings, tmp_path: Path, **env: str) -> LiveServer:
    merged = {
        "TUSLOG_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TUSLOG_WEBHOOK_RETRY_BASE": "1",
        **env,
    }
    return start_server(server_env(settings, **merged), free_port(), tmp_path / "server.log")


def _key(server: LiveServer, email: str, scopes: str) -> str:
    created = json.loads(
        server.cli("apikey", "create", "--user", email, "--scopes", scopes, "--json")
    )
    key: str = created["key"]
    return key


@pytest.mark.slow
def test_readme_lifecycle_runs_literally(
    settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    asyncio.run(add_user(settings, "alice@example.com", UserRole.ADMIN))
    server = _server(settings, tmp_path)
    try:
        env = {
            **os.environ,
            "TUSLOG": server.url,
            "KEY": _key(server, "alice@example.com", "read,write,download"),
            "ADMIN_KEY": _key(server, "alice@example.com", "admin"),
            "HOOK_URL": receiver.url,
        }
        work = tmp_path / "desk"
        work.mkdir()
        archive = os.urandom(300_000)
        (work / "host1-logs.tar.gz").write_bytes(archive)
        blocks = integrator_blocks()
        assert len(blocks) >= 6
        script = "set -euo pipefail\n" + "\n".join(blocks)
        done = subprocess.run(
            ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (work / "archive.tar.gz").read_bytes() == archive
        assert "archive.tar.gz: OK" in done.stdout and done.stdout.rstrip().endswith("resolved")
        got = receiver.wait_for(2)
        assert [r.event["type"] for r in got] == ["upload.completed", "ticket.resolved"]
        completed = got[0].event["data"]
        assert completed["ticket"] == "SR-1234"
        assert completed["upload"]["sha256"] == hashlib.sha256(archive).hexdigest()
        secret = (work / "webhook-secret").read_text().strip()
        for delivery in got:
            standardwebhooks.Webhook(secret).verify(delivery.body, delivery.headers)
    finally:
        server.stop()


@pytest.mark.slow
def test_events_written_while_the_server_is_down_are_delivered_after_it_starts(
    settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    asyncio.run(add_user(settings, "alice@example.com", UserRole.ADMIN))
    server = _server(settings, tmp_path)
    admin = _key(server, "alice@example.com", "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    hook = requests.post(
        f"{server.url}/api/v1/webhooks",
        json={"url": receiver.url, "events": ["ticket.resolved"]},
        headers=headers,
        timeout=30,
    )
    assert hook.status_code == 201, hook.text
    server.cli("ticket", "create", "SR-9")
    server.kill()  # no clean stop: the outbox must not depend on one
    server.cli("ticket", "resolve", "SR-9")  # the CLI writes the event; nobody sends it yet
    assert receiver.attempts == 0
    restarted = start_server(server.env, free_port(), tmp_path / "server2.log")
    try:
        (delivered,) = receiver.wait_for(1)
        assert (
            delivered.event["type"] == "ticket.resolved"
            and delivered.event["data"]["ticket"] == "SR-9"
        )
        standardwebhooks.Webhook(hook.json()["secret"]).verify(delivered.body, delivered.headers)
    finally:
        restarted.stop()


@pytest.mark.slow
def test_apikey_commands(settings: Settings, tmp_path: Path) -> None:
    asyncio.run(add_user(settings, "bob@example.com", UserRole.STAFF))
    server = _server(settings, tmp_path)
    try:
        created = json.loads(
            server.cli(
                "apikey",
                "create",
                "--user",
                "BOB@example.com",
                "--scopes",
                "read",
                "--expires",
                "30d",
                "--name",
                "Jira",
                "--json",
            )
        )
        key = created["key"]
        assert key.startswith(created["prefix"] + "_") and created["scopes"] == ["read"]
        assert (
            requests.get(
                f"{server.url}/api/v1/tickets",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).status_code
            == 200
        )
        listing = server.cli("apikey", "list")
        assert created["prefix"] in listing and key not in listing and "bob@example.com" in listing
        assert "revoked" in server.cli("apikey", "revoke", created["prefix"])
        assert (
            requests.get(
                f"{server.url}/api/v1/tickets",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).status_code
            == 401
        )
        for bad in (
            ["--scopes", "root"],
            ["--scopes", "admin"],
            ["--scopes", "read", "--expires", "-1d"],
        ):
            done = subprocess.run(
                [*_tuslog(), "apikey", "create", "--user", "bob@example.com", *bad],
                env=server.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 2 and "Traceback" not in done.stderr, (bad, done.stderr)
        missing = subprocess.run(
            [*_tuslog(), "apikey", "create", "--user", "nobody@example.com", "--scopes", "read"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode == 1 and "nobody@example.com" in missing.stderr
    finally:
        server.stop()


def _tuslog() -> list[str]:
    import sys

    return [sys.executable, "-m", "tuslog"]
