"""A full scenario at DEBUG level, then everything the logs captured is searched for every
secret used: upload tokens (also sent in places they do not belong), passwords, TOTP
secrets and codes, recovery codes, session ids, the metrics token."""

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import tus
from tests.accounts.conftest import PASSWORD, Clock, enrolled, pending_session
from tests.conftest import free_port, server_env, start_server
from tuslog.db.engine import create_engine, session_factory
from tuslog.logs import config as log_config
from tuslog.logs import events
from tuslog.services import sessions, signin, totp
from tuslog.services.auth_context import Auth
from tuslog.settings import Settings

pytestmark = pytest.mark.slow
METRICS_TOKEN = "m3tr1cs-" + "k" * 30


@pytest.fixture
def debug_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    log_config.configure("DEBUG", "json")
    events.install()
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _server_scenario(settings: Settings, tmp_path: Path) -> tuple[list[str], str]:
    """Uploads, mistakes and a revocation against `tuslog serve --workers 2`; returns the
    secrets used and everything the server logged."""
    env = server_env(
        settings,
        TUSLOG_LOG_LEVEL="DEBUG",
        TUSLOG_LOG_FORMAT="json",
        TUSLOG_METRICS_TOKEN=METRICS_TOKEN,
    )
    log_path = tmp_path / "server.log"
    server = start_server(env, free_port(), log_path, "--workers", "2")
    try:
        _cli(env, "ticket", "create", "SR-9")
        issued = json.loads(_cli(env, "token", "issue", "SR-9", "--uploads", "2", "--json"))
        token = issued["token"]
        auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        created = requests.post(
            f"{server.url}/files/", headers={**auth, "Upload-Length": "11"}, timeout=10
        )
        location = server.url + created.headers["Location"]  # relative: no public URL
        requests.patch(
            location,
            data=b"hello world",
            headers={**auth, "Upload-Offset": "0", "Content-Type": tus.OCTET},
            timeout=10,
        ).raise_for_status()
        # Where a token does not belong: a query string, a wrong scheme, a garbage header.
        requests.head(f"{location}?token={token}", headers=auth, timeout=10)
        requests.head(location, headers={"Authorization": f"Basic {token}"}, timeout=10)
        requests.get(f"{server.url}/nope/{token}", timeout=10)
        requests.post(
            f"{server.url}/files/",
            headers={"Authorization": f"Bearer {token}x", "Tus-Resumable": "1.0.0"},
            timeout=10,
        )
        requests.get(
            f"{server.url}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
        _cli(env, "token", "revoke", token)
        requests.head(location, headers=auth, timeout=10)
    finally:
        server.stop()
    return [token, token.split("_", 2)[2], METRICS_TOKEN], log_path.read_text()


async def _staff_scenario(settings: Settings) -> list[str]:
    """Enrolment, sign-in with a TOTP code and with a recovery code, a wrong password:
    the secrets involved."""
    engine = create_engine(settings.database_url)
    try:
        clock = Clock()
        auth = Auth(session_factory(engine), settings, clock)
        staff = await enrolled(auth, clock)
        accepted = await signin.password_step(auth, staff.email, PASSWORD, client_ip="192.0.2.9")
        pending = await sessions.resolve(auth, accepted.token)
        code = totp.code_at(staff.secret or "", clock.now)
        signed_in = await signin.second_factor(auth, pending, code, client_ip="192.0.2.9")
        clock.advance(60)
        pending_again = await pending_session(auth, staff)
        recovery = staff.recovery_codes[0]
        again = await signin.second_factor(auth, pending_again, recovery, client_ip="192.0.2.9")
        with pytest.raises(Exception):  # noqa: B017 - any refusal; the log is what counts
            await signin.password_step(auth, staff.email, "wrong " + PASSWORD, client_ip=None)
    finally:
        await engine.dispose()
    secrets = [PASSWORD, staff.secret or "", code, recovery, *staff.recovery_codes]
    assert pending is not None
    tokens = [staff.token, accepted.token, signed_in.token, again.token]
    tokens += [pending.csrf_token, pending_again.csrf_token, pending_again.selector]
    secrets += [t for t in tokens if t]
    return [s for s in secrets if s]


def test_no_secret_reaches_any_log(
    settings: Settings, tmp_path: Path, debug_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets, server_log = _server_scenario(settings, tmp_path)
    secrets += asyncio.run(_staff_scenario(settings))
    captured = capsys.readouterr()
    logged = server_log + captured.err + captured.out
    assert '"tuslog.access"' in server_log and '"upload.completed"' in server_log
    assert "signin" in captured.err  # the staff scenario was logged
    for secret in secrets:
        assert secret not in logged, f"a secret of {len(secret)} characters was logged"
        if len(secret) >= 12:
            assert secret[-12:] not in logged
