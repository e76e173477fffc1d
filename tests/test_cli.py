"""The `tuslog` command, run as a real process: JSON output, one-line failures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuslog.settings import Settings


def run(
    settings: Settings, *args: str, check: bool = True, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env["TUSLOG_DATABASE_URL"] = settings.database_url
    env["TUSLOG_STORAGE_DIR"] = str(settings.storage_dir)
    env["TUSLOG_PUBLIC_URL"] = "https://logs.example.com"
    env.update(extra_env)
    done = subprocess.run(
        [sys.executable, "-m", "tuslog", *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_ticket_token_upload_lifecycle(settings: Settings) -> None:
    created = json.loads(
        run(settings, "ticket", "create", "SR-42", "--title", "VPN", "--json").stdout
    )
    assert created["number"] == "SR-42" and created["status"] == "open"

    issued = json.loads(
        run(
            settings,
            "token",
            "issue",
            "SR-42",
            "--uploads",
            "3",
            "--expires",
            "2d",
            "--max-bytes",
            "5G",
            "--json",
        ).stdout
    )
    token = issued["token"]
    assert token.startswith(issued["prefix"] + "_") and len(token) > 50
    assert issued["max_uses"] == 3 and issued["max_bytes"] == 5 * 1024**3
    assert issued["commands"]["sh"] == (
        "curl -fsSLO https://logs.example.com/uploader.sh && "
        f"sh uploader.sh https://logs.example.com {token} FILE"
    )

    listed = json.loads(run(settings, "token", "list", "SR-42", "--json").stdout)
    assert [t["prefix"] for t in listed] == [issued["prefix"]]
    assert token not in run(settings, "token", "list").stdout

    revoked = json.loads(run(settings, "token", "revoke", issued["prefix"], "--json").stdout)
    assert revoked == {"prefix": issued["prefix"], "revoked": True}
    assert json.loads(run(settings, "token", "list", "--json").stdout)[0]["revoked"] is True

    assert json.loads(run(settings, "upload", "list", "SR-42", "--json").stdout) == []
    resolved = json.loads(run(settings, "ticket", "resolve", "SR-42", "--json").stdout)
    assert resolved["status"] == "resolved"
    tickets = json.loads(run(settings, "ticket", "list", "--json").stdout)
    assert [(t["number"], t["status"]) for t in tickets] == [("SR-42", "resolved")]


def test_ticket_delete_removes_files(settings: Settings, tmp_path: Path) -> None:
    run(settings, "ticket", "create", "SR-7")
    from tests.test_cli_support import make_upload

    upload_path = make_upload(settings, "SR-7")
    assert upload_path.exists()
    done = json.loads(run(settings, "ticket", "delete", "SR-7", "--json").stdout)
    assert done == {"number": "SR-7", "deleted_uploads": 1}
    assert not upload_path.exists()
    assert json.loads(run(settings, "ticket", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ticket", "resolve", "NOPE"), "No ticket NOPE."),
        (("token", "issue", "NOPE"), "No ticket NOPE."),
        (("token", "revoke", "tlu_zzzzzzzz"), "No upload token with prefix tlu_zzzzzzzz."),
        (("ticket", "create", "has space"), "Ticket number must be"),
    ],
)
def test_failures_print_one_line_and_exit_nonzero(
    settings: Settings, args: tuple[str, ...], message: str
) -> None:
    done = run(settings, *args, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("tuslog: " + message)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_duplicate_ticket_and_bad_setting(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-1")
    done = run(settings, "ticket", "create", "SR-1", check=False)
    assert (done.returncode, done.stderr) == (1, "tuslog: Ticket SR-1 already exists.\n")
    bad = run(settings, "ticket", "list", check=False, TUSLOG_PORT="nope")
    assert bad.returncode == 1 and "TUSLOG_PORT" in bad.stderr


def test_help_explains_commands(settings: Settings) -> None:
    out = run(settings, "--help").stdout
    for command in ("serve", "migrate", "ticket", "token", "upload"):
        assert command in out
    issue_help = run(settings, "token", "issue", "--help").stdout
    assert "--max-bytes" in issue_help and "--expires" in issue_help
