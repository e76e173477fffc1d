"""`tuslog user …` as an operator runs it, and what a fresh install says at start: how to
create the first administrator, and that TOTP secrets are stored in the clear until
TUSLOG_TOTP_KEYS is set. The first administrator is made by a real process; the other
commands run in this process (starting Python and importing everything costs seconds
per call on a busy machine)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import free_port, server_env, start_server
from tests.portal.conftest import PASSWORD, Account, People
from tuslog.cli import main
from tuslog.settings import Settings


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


Tuslog = Callable[..., Awaitable[Done]]


def tuslog_process(settings: Settings, *args: str, stdin: str | None = None) -> Done:
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", *args],
        env=server_env(settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def tuslog(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Tuslog:
    """``await tuslog(*args, stdin=None)``: ``tuslog`` in this process, in a thread (the
    command runs an event loop of its own), with the test's TUSLOG_* settings."""
    for name, value in server_env(settings).items():
        if name.startswith("TUSLOG_"):
            monkeypatch.setenv(name, value)

    def run(args: tuple[str, ...], stdin: str | None) -> Done:
        out, err = io.StringIO(), io.StringIO()
        code: int | str | None = 0
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            mock.patch.object(sys, "stdin", io.StringIO(stdin or "")),
        ):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
        return Done(int(code or 0), out.getvalue(), err.getvalue())

    async def call(*args: str, stdin: str | None = None) -> Done:
        return await asyncio.to_thread(run, args, stdin)

    return call


async def test_the_first_admin_from_the_command_line_signs_in(
    people: People, tuslog: Tuslog
) -> None:
    made = await asyncio.to_thread(
        tuslog_process,
        people.settings,
        "user",
        "create",
        "Root@Example.com",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created admin root@example.com" in made.stdout and "/staff/" in made.stdout
    listed = json.loads((await tuslog("user", "list", "--json")).stdout)
    assert listed == [
        {
            "email": "root@example.com",
            "role": "admin",
            "active": True,
            "two_factor": False,
            "recovery_codes_left": 0,
            "created_at": listed[0]["created_at"],
            "last_sign_in_at": None,
        }
    ]
    account = Account("root@example.com")
    browser = await people.sign_in(account)
    assert (await browser.get("/staff/users")).status == 200
    text = (await tuslog("user", "list")).stdout
    assert "root@example.com  admin  active  on (10 codes)" in text

    reset = await tuslog("user", "reset-2fa", "root@example.com")
    assert reset.returncode == 0 and "two-factor authentication reset" in reset.stdout
    assert (await browser.get("/staff/")).location == "/staff/signin"
    again = await people.browser()
    assert (await people.password_step(again, account)).location == "/staff/signin/enrol"


async def test_bad_input_and_refusals(people: People, tuslog: Tuslog) -> None:
    create = ("user", "create", "a@example.com", "--password-stdin")
    cases = [
        (create, "short\n", 2, "password refused: Use at least 12"),
        (("user", "create", "a@example.com"), "", 2, "no terminal to ask for the password"),
        (("user", "create", "not an email", "--password-stdin"), PASSWORD, 2, "name@example"),
        (create, "\n", 2, "no password on standard input"),
        (("user", "deactivate", "ghost@example.com"), None, 1, "No user ghost@example.com."),
        (("user", "set-password", "ghost@example.com"), None, 1, "No user ghost@example.com."),
    ]
    for args, stdin, code, message in cases:
        done = await tuslog(*args, stdin=stdin)
        assert done.returncode == code and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert (await tuslog(*create, "--admin", stdin=PASSWORD)).returncode == 0
    duplicate = await tuslog("user", "create", "A@example.com", "--password-stdin", stdin=PASSWORD)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    last = await tuslog("user", "deactivate", "a@example.com")
    assert last.returncode == 1 and "last active administrator" in last.stderr


async def test_deactivate_reactivate_and_set_password(people: People, tuslog: Tuslog) -> None:
    await people.create("admin@example.com", admin=True)
    account = await people.create("bob@example.com")
    browser = await people.sign_in(account)
    assert (await tuslog("user", "deactivate", "bob@example.com")).returncode == 0
    assert (await browser.get("/staff/")).location == "/staff/signin"
    assert (await tuslog("user", "reactivate", "bob@example.com")).returncode == 0
    new = "marble owl 61 ferry lights"
    done = await tuslog("user", "set-password", "bob@example.com", "--password-stdin", stdin=new)
    assert done.returncode == 0 and "new password set for bob@example.com" in done.stdout
    account.password = new
    await people.sign_in(account, await people.browser())


def test_a_fresh_install_says_how_to_make_the_first_admin(
    settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "first.log"
    start_server(server_env(settings), free_port(), log_path).stop()
    first = log_path.read_text()
    assert "TOTP secrets are stored unencrypted; set TUSLOG_TOTP_KEYS" in first
    assert "create the first one with `tuslog user create EMAIL --admin`" in first
    created = tuslog_process(
        settings, "user", "create", "op@example.com", "--admin", "--password-stdin", stdin=PASSWORD
    )
    assert created.returncode == 0
    keyed = server_env(settings, TUSLOG_TOTP_KEYS="k" * 40)
    log_path = tmp_path / "second.log"
    start_server(keyed, free_port(), log_path).stop()
    second = log_path.read_text()
    assert "no active administrator" not in second and "TOTP secrets are stored" not in second
