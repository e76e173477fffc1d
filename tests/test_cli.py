"""The `tuslog` command, run as a real process: JSON output, one-line failures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import data_path, lock_files
from tests.test_cli_support import make_tokens, make_upload
from tuslog.settings import Settings


def cli_env(settings: Settings, **extra_env: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env["TUSLOG_DATABASE_URL"] = settings.database_url
    env["TUSLOG_STORAGE_DIR"] = str(settings.storage_dir)
    env["TUSLOG_PUBLIC_URL"] = "https://logs.example.com"
    env["TUSLOG_MIN_FREE_SPACE"] = str(settings.min_free_space)
    env.update(extra_env)
    return env


def run(
    settings: Settings, *args: str, check: bool = True, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = cli_env(settings, **extra_env)
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
        "sh uploader.sh https://logs.example.com - FILE"  # the uploader asks for the token
    )
    assert issued["commands"]["sh_with_token"].endswith(
        f"sh uploader.sh https://logs.example.com {token} FILE"
    )
    assert issued["commands"]["browser"] == f"https://logs.example.com/upload#{token}"

    listed = json.loads(run(settings, "token", "list", "SR-42", "--json").stdout)
    assert [t["prefix"] for t in listed] == [issued["prefix"]]
    assert token not in run(settings, "token", "list").stdout

    revoked = json.loads(run(settings, "token", "revoke", issued["prefix"], "--json").stdout)
    assert revoked == {"prefix": issued["prefix"], "revoked": True, "already": False}
    again = run(settings, "token", "revoke", issued["prefix"])
    assert again.stdout.startswith(f"{issued['prefix']} was already revoked (")
    assert "nothing changed" in again.stdout
    listed = json.loads(run(settings, "token", "list", "--json").stdout)[0]
    assert (listed["revoked"], listed["status"]) == (True, "revoked")

    assert json.loads(run(settings, "upload", "list", "SR-42", "--json").stdout) == []
    resolved = json.loads(run(settings, "ticket", "resolve", "SR-42", "--json").stdout)
    assert resolved["status"] == "resolved"
    tickets = json.loads(run(settings, "ticket", "list", "--json").stdout)
    assert [(t["number"], t["status"]) for t in tickets] == [("SR-42", "resolved")]


def test_ticket_delete_removes_every_archive_and_keeps_tombstones(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-7")
    finished = make_upload(settings, "SR-7")
    unfinished = make_upload(settings, "SR-7", received=100)
    paths = [data_path(settings.storage_dir, u.id) for u in (finished, unfinished)]
    assert all(p.exists() for p in paths)

    refused = run(settings, "ticket", "delete", "SR-7", check=False)  # no terminal to ask
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    assert all(p.exists() for p in paths)

    done = json.loads(run(settings, "ticket", "delete", "sr-7", "--yes", "--json").stdout)
    assert done == {"number": "SR-7", "deleted_uploads": 2, "bytes": 12000 + 100}
    assert not any(p.exists() for p in paths)
    assert lock_files(settings.storage_dir) == []
    assert json.loads(run(settings, "ticket", "list", "--json").stdout) == []
    shown = json.loads(run(settings, "upload", "show", finished.id, "--json").stdout)
    assert (shown["state"], shown["ticket"], shown["location"]) == ("deleted", "", None)


def test_ticket_delete_checks_the_storage(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-8")
    upload = make_upload(settings, "SR-8")
    elsewhere = run(
        settings, "ticket", "delete", "SR-8", "--yes", check=False, TUSLOG_STORAGE_DIR="x/y"
    )
    assert elsewhere.returncode == 2
    assert "(TUSLOG_STORAGE_DIR) is not the server's upload storage; nothing was changed" in (
        elsewhere.stderr
    )
    assert data_path(settings.storage_dir, upload.id).exists()
    assert "SR-8" in run(settings, "ticket", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ticket", "resolve", "NOPE"), "No ticket NOPE."),
        (("token", "issue", "NOPE"), "No ticket NOPE."),
        (("token", "revoke", "tlu_zzzzzzzz"), "No upload token with prefix tlu_zzzzzzzz."),
        (("token", "list", "NOPE"), "No ticket NOPE."),
        (("upload", "list", "NOPE"), "No ticket NOPE."),
        (("upload", "show", "ab" * 16), "No upload abab"),
        (("token", "update", "tlu_zzzzzzzz", "--uploads", "2"), "No upload token with prefix"),
    ],
)
def test_failures_print_one_line_and_exit_1(
    settings: Settings, args: tuple[str, ...], message: str
) -> None:
    run(settings, "ticket", "create", "SR-9")
    done = run(settings, *args, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("tuslog: " + message), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ticket", "create", "has space"), "Ticket number must be"),
        (("token", "issue", "SR-9", "--uploads", "0"), "'0': a token allows 1 to 1000000 uploads"),
        (("token", "issue", "SR-9", "--uploads", "many"), "'many' is not a whole number"),
        (("token", "issue", "SR-9", "--expires", "0s"), "a lifetime must be positive"),
        (("token", "issue", "SR-9", "--expires", "-1d"), "'-1d': a lifetime must be positive"),
        (("token", "issue", "SR-9", "--expires", "99999999w"), "is too long"),
        (("token", "issue", "SR-9", "--expires", "99999999999d"), "is too long"),
        (("token", "issue", "SR-9", "--expires", "7x"), "invalid duration '7x'"),
        (("token", "issue", "SR-9", "--max-bytes", "99999999999T"), "is too large"),
        (("token", "issue", "SR-9", "--max-bytes", "-5G"), "a size must be positive"),
        (("token", "issue", "SR-9", "--max-bytes", "5 lbs"), "invalid size '5 lbs'"),
        (("token", "update", "tlu_zzzzzzzz"), "say what to change"),
        (("upload", "delete", "ab" * 16), "No upload"),
    ],
)
def test_bad_values_print_one_line_and_exit_2(
    settings: Settings, args: tuple[str, ...], message: str
) -> None:
    run(settings, "ticket", "create", "SR-9")
    done = run(settings, *args, check=False)
    expected = 1 if message == "No upload" else 2  # not a bad value: nothing there
    assert done.returncode == expected, done.stderr
    assert message in done.stderr and done.stderr.startswith("tuslog"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_ticket_numbers_ignore_case(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-1", "--title", "first")
    for number in ("SR-1", "sr-1", " Sr-1 "):
        done = run(settings, "ticket", "create", number, check=False)
        assert (done.returncode, done.stderr) == (
            1,
            "tuslog: Ticket SR-1 already exists (ticket numbers ignore case).\n",
        )
    shown = json.loads(run(settings, "ticket", "show", "sr-1", "--json").stdout)
    assert (shown["number"], shown["title"]) == ("SR-1", "first")
    issued = json.loads(run(settings, "token", "issue", "sr-1", "--json").stdout)
    assert issued["ticket"] == "SR-1"


def test_bad_setting(settings: Settings) -> None:
    bad = run(settings, "ticket", "list", check=False, TUSLOG_PORT="nope")
    assert bad.returncode == 1 and "TUSLOG_PORT" in bad.stderr


COMMANDS = [
    ("ticket", "create"),
    ("ticket", "list"),
    ("ticket", "show"),
    ("ticket", "resolve"),
    ("ticket", "reopen"),
    ("ticket", "delete"),
    ("token", "issue"),
    ("token", "list"),
    ("token", "update"),
    ("token", "revoke"),
    ("upload", "list"),
    ("upload", "show"),
    ("upload", "download"),
    ("upload", "delete"),
    ("storage",),
]


def test_help_explains_commands(settings: Settings) -> None:
    out = run(settings, "--help").stdout
    for command in ("serve", "migrate", "storage", "ticket", "token", "upload"):
        assert command in out
    for command in COMMANDS:
        assert "--json" in run(settings, *command, "--help").stdout, command
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


def test_sizes_say_which_unit_they_mean(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-2")
    decimal = run(settings, "token", "issue", "SR-2", "--max-bytes", "50GB")
    assert "quota 50000000000 bytes (46.6 GiB)" in decimal.stdout
    binary = json.loads(
        run(settings, "token", "issue", "SR-2", "--max-bytes", "50G", "--json").stdout
    )
    assert binary["max_bytes"] == 50 * 1024**3
    issue_help = " ".join(run(settings, "token", "issue", "--help").stdout.split())
    assert "KB, MB, GB, TB decimal (1000)" in issue_help


def test_token_update(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-4")
    make_upload(settings, "SR-4")  # its own token, used once
    prefix = json.loads(run(settings, "token", "list", "SR-4", "--json").stdout)[0]["prefix"]
    updated = json.loads(
        run(
            settings, "token", "update", prefix, "--uploads", "3", "--expires", "1d", "--json"
        ).stdout
    )
    assert (updated["uses"], updated["max_uses"], updated["status"]) == (1, 3, "active")
    fewer = run(settings, "token", "update", prefix, "--uploads", "0", check=False)
    assert fewer.returncode == 2 and "1 to 1000000" in fewer.stderr
    run(settings, "token", "revoke", prefix)
    revoked = run(settings, "token", "update", prefix, "--uploads", "5", check=False)
    assert revoked.returncode == 2 and "is revoked; issue a new token" in revoked.stderr


def test_a_closed_pipe_is_not_an_error_message(settings: Settings) -> None:
    run(settings, "ticket", "create", "SR-10")
    make_tokens(settings, "SR-10", 400)  # more JSON than a pipe holds
    env = cli_env(settings)
    done = subprocess.run(
        f"{sys.executable} -m tuslog token list --json | head -c 10",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "[\n  {\n    "
    assert done.stderr == ""


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
    prefix = "_".join(token.split("_")[:2])
    assert revoked.stdout.strip() == f"revoked {prefix}; its uploads stop at once"
    assert token not in revoked.stdout

    upload = make_upload(settings, "SR-5", filename="host 1 logs.tgz")
    listed = json.loads(run(settings, "upload", "list", "SR-5", "--json").stdout)
    assert listed[0]["sha256"] and listed[0]["sha256"] in run(settings, "upload", "list").stdout
    assert listed[0]["filename"] == "host 1 logs.tgz"
    assert listed[0]["location"] == str(data_path(settings.storage_dir, upload.id).resolve())


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
