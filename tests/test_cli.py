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
    lock = settings.storage_dir / ".locks" / f"{upload_path.name}.lock"
    lock.touch()
    done = json.loads(run(settings, "ticket", "delete", "SR-7", "--json").stdout)
    assert done == {"number": "SR-7", "deleted_uploads": 1, "files_missing": []}
    assert not upload_path.exists() and not lock.exists()
    assert json.loads(run(settings, "ticket", "list", "--json").stdout) == []


def test_ticket_delete_checks_the_storage_and_reports_missing_files(
    settings: Settings, tmp_path: Path
) -> None:
    run(settings, "ticket", "create", "SR-8")
    from tests.test_cli_support import make_upload

    upload_path = make_upload(settings, "SR-8")
    elsewhere = run(settings, "ticket", "delete", "SR-8", check=False, TUSLOG_STORAGE_DIR="x/y")
    assert elsewhere.returncode == 1
    assert "(TUSLOG_STORAGE_DIR) is not the server's upload storage; nothing was deleted" in (
        elsewhere.stderr
    )
    assert upload_path.exists() and "SR-8" in run(settings, "ticket", "list").stdout

    upload_path.unlink()  # lost some other way: the deletion goes on and says so
    done = run(settings, "ticket", "delete", "SR-8", "--json")
    assert json.loads(done.stdout)["files_missing"] == [upload_path.name]
    assert "1 upload file(s) were already missing" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ticket", "resolve", "NOPE"), "No ticket NOPE."),
        (("token", "issue", "NOPE"), "No ticket NOPE."),
        (("token", "revoke", "tlu_zzzzzzzz"), "No upload token with prefix tlu_zzzzzzzz."),
        (("ticket", "create", "has space"), "Ticket number must be"),
        (("token", "list", "NOPE"), "No ticket NOPE."),
        (("upload", "list", "NOPE"), "No ticket NOPE."),
        (("token", "issue", "SR-9", "--uploads", "0"), "A token allows 1 to 1000000 uploads"),
        (("token", "issue", "SR-9", "--expires", "0s"), "A token's lifetime must be positive"),
        (("token", "issue", "SR-9", "--expires", "99999999w"), "A token's lifetime must be"),
        (("token", "issue", "SR-9", "--max-bytes", "99999999999T"), "A token's byte quota"),
    ],
)
def test_failures_print_one_line_and_exit_nonzero(
    settings: Settings, args: tuple[str, ...], message: str
) -> None:
    run(settings, "ticket", "create", "SR-9")
    done = run(settings, *args, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("tuslog: " + message), done.stderr
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
    serve_help = run(settings, "serve", "--help").stdout
    for name in Settings.model_fields:
        assert f"TUSLOG_{name.upper()} " in serve_help


def test_titles_stay_on_one_line(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-3", "--title", "VPN\ndrops\x1b[2J  nightly")
    listed = json.loads(run(settings, "ticket", "list", "--json").stdout)
    assert listed[0]["title"] == "VPN drops [2J nightly"


def test_usage_mistakes_are_one_line(settings: Settings) -> None:
    done = run(settings, "token", "issue", "SR-1", "--expires", "7x", check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "invalid duration '7x'" in done.stderr and "see tuslog token issue --help" in done.stderr


def test_staff_commands_never_create_a_database(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "tuslog.sqlite3"
    url = f"sqlite+aiosqlite:///{missing}"
    done = run(settings, "ticket", "create", "SR-1", check=False, TUSLOG_DATABASE_URL=url)
    assert done.returncode == 1
    assert done.stderr.startswith(f"tuslog: No database at {missing} (TUSLOG_DATABASE_URL).")
    assert not missing.exists() and not missing.parent.exists()
    bad = run(settings, "ticket", "list", check=False, TUSLOG_DATABASE_URL="mysql://x")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "TUSLOG_DATABASE_URL" in bad.stderr and "sqlite+aiosqlite" in bad.stderr


def test_reopen_revoke_by_token_and_sha256_in_the_list(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-5")
    run(settings, "ticket", "resolve", "SR-5")
    refused = run(settings, "token", "issue", "SR-5", check=False)
    assert "tuslog ticket reopen SR-5" in refused.stderr
    assert json.loads(run(settings, "ticket", "reopen", "SR-5", "--json").stdout)["status"] == (
        "open"
    )
    token = json.loads(run(settings, "token", "issue", "SR-5", "--json").stdout)["token"]
    revoked = run(settings, "token", "revoke", token)  # the whole token pasted
    assert revoked.stdout.strip() == "revoked " + "_".join(token.split("_")[:2])
    assert token not in revoked.stdout

    from tests.test_cli_support import make_upload

    make_upload(settings, "SR-5")
    listed = json.loads(run(settings, "upload", "list", "SR-5", "--json").stdout)
    assert listed[0]["sha256"] and listed[0]["sha256"] in run(settings, "upload", "list").stdout


def test_printed_commands_carry_a_reachable_address(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-6")
    ipv6 = run(
        settings, "token", "issue", "SR-6", "--json", TUSLOG_PUBLIC_URL="", TUSLOG_HOST="::1"
    )
    assert "sh uploader.sh http://[::1]:8080 " in json.loads(ipv6.stdout)["commands"]["sh"]
    wildcard = run(settings, "token", "issue", "SR-6", TUSLOG_PUBLIC_URL="", TUSLOG_HOST="0.0.0.0")
    assert "http://0.0.0.0" not in wildcard.stdout
    assert "Set TUSLOG_PUBLIC_URL" in wildcard.stderr


def test_serve_on_a_busy_port_says_so(settings: Settings) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        done = run(settings, "serve", "--port", port, check=False)
    assert done.returncode == 1
    assert f"tuslog: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving on" not in done.stdout and "Traceback" not in done.stderr, done.stderr
