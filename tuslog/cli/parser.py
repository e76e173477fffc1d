"""Argument parsing for ``tuslog``: the command tree, each command naming the function that
runs it."""

import argparse
from collections.abc import Callable
from typing import NoReturn

from tuslog import __version__
from tuslog.cli import (
    apikeys,
    backup,
    doctor,
    inspect,
    server,
    tickets,
    tokens,
    uploads,
    users,
    values,
)
from tuslog.cli.output import EXIT_USAGE

DESCRIPTION = """\
tuslog collects diagnostic archives from customers over resumable (tus) uploads.
Staff create a ticket, issue a one-time upload token and send the customer the
printed command. Configuration comes from TUSLOG_* environment variables (see README).

exit codes: 0 done, 1 failed, 2 usage mistake or bad value, 130 interrupted.
"""

SIZES = "sizes: K, M, G, T or KiB…TiB are binary (1024), KB, MB, GB, TB decimal (1000)"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (argparse prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _settings_help() -> str:
    """Every setting, from its one definition (defaults: README, Configuration)."""
    from tuslog.settings import Settings

    lines = ["settings (environment variables; defaults in README, Configuration):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  TUSLOG_{name.upper():<22} {field.description}")
    return "\n".join(lines).replace("`", "")


Command = Callable[..., None]


def _command(
    group: "argparse._SubParsersAction[_Parser]",
    name: str,
    run: Command,
    text: str,
    *,
    json: bool = True,
    epilog: str | None = None,
) -> _Parser:
    parser = group.add_parser(name, help=text, description=text, epilog=epilog)
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)
    return parser


def _yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--yes", "-y", action="store_true", help="do not ask (needed without a terminal)"
    )


def _server(sub: "argparse._SubParsersAction[_Parser]") -> None:
    serve = sub.add_parser(
        "serve",
        help="run the server (migrates the database first)",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="listen address (TUSLOG_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (TUSLOG_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (TUSLOG_WORKERS, default 1)")
    serve.set_defaults(func=server.serve)
    _command(sub, "migrate", server.migrate, "bring the database schema up to date", json=False)
    _command(sub, "storage", uploads.storage, "show the storage: size, free, promised, reserve")
    _ops(sub)


def _ops(sub: "argparse._SubParsersAction[_Parser]") -> None:
    checkup = _command(
        sub,
        "doctor",
        doctor.doctor,
        "check configuration, database, migrations, storage and that rows and files agree",
        epilog="exit codes: 0 healthy (warnings allowed), 1 problems found",
    )
    checkup.add_argument("--fix", action="store_true", help="repair what is safe, say what")
    checkup.add_argument(
        "--deep", action="store_true", help="also re-hash every finished upload (slow)"
    )
    backup.add_commands(sub, _command)


def _tickets(sub: "argparse._SubParsersAction[_Parser]") -> None:
    group = sub.add_parser(
        "ticket", help="create, list, show, resolve, reopen and delete tickets"
    ).add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    create = _command(group, "create", tickets.create, "open a ticket")
    create.add_argument("number", help="help-desk ticket number, e.g. SR-1234 (case ignored)")
    create.add_argument("--title", default="", help="short description")
    create.add_argument("--platform", default="", help="customer platform or product")
    _command(group, "list", tickets.list_, "list tickets")
    for name, run, text in (
        ("show", tickets.show, "show a ticket with its tokens and uploads"),
        ("resolve", tickets.resolve, "mark a ticket resolved"),
        ("reopen", tickets.reopen, "open a resolved ticket again"),
    ):
        _command(group, name, run, text).add_argument("number")
    delete = _command(
        group, "delete", tickets.delete, "delete a ticket, its tokens and its uploads' bytes"
    )
    delete.add_argument("number")
    _yes(delete)


def _tokens(sub: "argparse._SubParsersAction[_Parser]") -> None:
    group = sub.add_parser(
        "token", help="issue, list, update and revoke upload tokens"
    ).add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    issue = _command(
        group, "issue", tokens.issue, "issue a one-time upload token (printed once)", epilog=SIZES
    )
    issue.add_argument("number", help="ticket number")
    issue.add_argument(
        "--uploads", type=values.uploads, help="uploads allowed (TUSLOG_TOKEN_UPLOADS)"
    )
    issue.add_argument(
        "--expires", type=values.lifetime, help="lifetime, e.g. 7d (TUSLOG_TOKEN_TTL)"
    )
    issue.add_argument(
        "--max-bytes", type=values.size, help="byte quota over all uploads, e.g. 50G"
    )
    update = _command(group, "update", tokens.update, "change a token's uploads or lifetime")
    update.add_argument("prefix", help="the token's prefix, e.g. tlu_abcd2345 (or the token)")
    update.add_argument("--uploads", type=values.uploads, help="uploads allowed in all")
    update.add_argument("--expires", type=values.lifetime, help="new lifetime from now, e.g. 3d")
    revoke = _command(group, "revoke", tokens.revoke, "revoke a token; its uploads stop at once")
    revoke.add_argument("prefix", help="the token's prefix, e.g. tlu_abcd2345 (or the token)")
    listing = _command(group, "list", tokens.list_, "list tokens (never the secrets)")
    listing.add_argument("number", nargs="?", help="only this ticket's tokens")


def _uploads(sub: "argparse._SubParsersAction[_Parser]") -> None:
    group = sub.add_parser(
        "upload", help="list, show, download and delete uploads, and look into archives"
    ).add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    listing = _command(group, "list", uploads.list_, "list uploads (--json: also where they are)")
    listing.add_argument("number", nargs="?", help="only this ticket's uploads")
    show = _command(group, "show", uploads.show, "show one upload")
    show.add_argument("id", help="the upload's id (32 hex digits)")
    download = _command(
        group,
        "download",
        uploads.download,
        "download an archive, checking its SHA-256 as it is written",
    )
    download.add_argument("id", help="the upload's id")
    download.add_argument(
        "-o", "--output", help="file to write (default: the upload's file name); - for stdout"
    )
    download.add_argument(
        "-c",
        "--continue",
        dest="resume",
        action="store_true",
        help="resume an interrupted download (FILE.part)",
    )
    download.add_argument(
        "--force",
        action="store_true",
        help="also an unfinished, still-verifying or corrupt upload (what arrived so far)",
    )
    delete = _command(group, "delete", uploads.delete, "delete one upload and its bytes")
    delete.add_argument("id", help="the upload's id")
    _yes(delete)
    _inspect(group)


def _inspect(group: "argparse._SubParsersAction[_Parser]") -> None:
    _inspect_ls(group)
    _inspect_cat(group)
    _inspect_grep(group)
    _inspect_extract(group)


def _inspect_ls(group: "argparse._SubParsersAction[_Parser]") -> None:
    ls = _command(
        group,
        "ls",
        inspect.ls,
        "list the entries of an uploaded archive",
        epilog=(
            "The server lists each finished upload once, in the background. #N is an entry's "
            "number: give it to cat or extract for a name the archive holds twice."
        ),
    )
    ls.add_argument("id", help="the upload's id")
    ls.add_argument("--filter", metavar="TEXT", help="only entries whose path contains TEXT")
    ls.add_argument(
        "--wait",
        action="store_true",
        help="wait until the list is made (made here if no server is making it)",
    )


def _inspect_cat(group: "argparse._SubParsersAction[_Parser]") -> None:
    cat = _command(
        group,
        "cat",
        inspect.cat,
        "show a text entry with line numbers: its first and last 64 KiB, or --lines N",
        epilog=(
            "Compressed entries (syslog.2.gz) are shown decompressed; control characters "
            "and invalid UTF-8 as escapes; binary entries are not shown (use extract)."
        ),
    )
    cat.add_argument("id", help="the upload's id")
    cat.add_argument("path", help="the entry's path as `upload ls` shows it, or #N (entry N)")
    cat.add_argument("--lines", type=inspect.count, metavar="N", help="show N lines (max 5000)")
    cat.add_argument(
        "--from", dest="start", type=inspect.count, metavar="LINE", help="first line to show"
    )


def _inspect_grep(group: "argparse._SubParsersAction[_Parser]") -> None:
    grep = _command(
        group,
        "grep",
        inspect.grep,
        "search the text entries of an archive (RE2 syntax); exit 1 when nothing matches",
        epilog=(
            "Prints path:line:text per matching line (path-line-text for context), as grep -n "
            "does. Compressed entries are searched too, binary ones skipped. A search stops "
            "after TUSLOG_ARCHIVE_SEARCH_TIME_BUDGET or TUSLOG_ARCHIVE_SEARCH_MAX_BYTES and "
            "says how far it got. Exit codes: 0 found, 1 nothing found (or a failure, with a "
            "message), 2 a usage mistake or an unusable pattern."
        ),
    )
    grep.add_argument("id", help="the upload's id")
    grep.add_argument("pattern", help="a regular expression (RE2), or text with --fixed")
    grep.add_argument("-F", "--fixed", action="store_true", help="PATTERN is plain text")
    grep.add_argument("-i", "--ignore-case", action="store_true", help="ignore case")
    grep.add_argument(
        "-C", "--context", type=inspect.context, default=0, metavar="N", help="lines around (0-10)"
    )
    grep.add_argument("--path", metavar="GLOB", help="only entries whose path matches GLOB")
    grep.add_argument(
        "-m", "--max-count", type=inspect.count, default=1000, metavar="N", help="stop after N"
    )


def _inspect_extract(group: "argparse._SubParsersAction[_Parser]") -> None:
    extract = _command(
        group,
        "extract",
        inspect.extract,
        "save one entry of an archive (as its own file name, in this directory)",
        epilog=(
            "The file is named after the entry's last path part, with anything but letters, "
            "digits and ._-+@=,()[] replaced by _; it is never written outside this "
            "directory, and an existing file is never overwritten."
        ),
    )
    extract.add_argument("id", help="the upload's id")
    extract.add_argument("path", help="the entry's path as `upload ls` shows it, or #N")
    extract.add_argument("-o", "--output", help="file to write instead; - for standard output")
    extract.add_argument(
        "--force", action="store_true", help="also from a corrupt upload (its bytes may be damaged)"
    )


def _apikeys(sub: "argparse._SubParsersAction[_Parser]") -> None:
    group = sub.add_parser(
        "apikey", help="create, list and revoke API keys for the REST API"
    ).add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    create = _command(group, "create", apikeys.create, "create an API key (printed once)")
    create.add_argument("--user", required=True, help="the staff user (email) the key acts as")
    create.add_argument(
        "--scopes",
        required=True,
        type=apikeys.scopes,
        help="comma-separated: read, write, download, admin (admin allows everything and "
        "needs an administrator as the owner)",
    )
    create.add_argument(
        "--expires", type=values.lifetime, help="lifetime, e.g. 90d (default: none)"
    )
    create.add_argument("--name", default="", help="what the key is for, e.g. Zendesk")
    listing = _command(group, "list", apikeys.list_, "list API keys (never the keys themselves)")
    listing.add_argument("--user", help="only this user's keys")
    revoke = _command(group, "revoke", apikeys.revoke, "revoke an API key; refused at once")
    revoke.add_argument("prefix", help="the key's prefix, e.g. tlk_abcd2345 (or the key)")


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (its first line) instead of asking",
    )


def _users(sub: "argparse._SubParsersAction[_Parser]") -> None:
    group = sub.add_parser(
        "user",
        help="create, list and deactivate staff users; reset two-factor authentication",
        description=(
            "Staff users of the portal (/staff/). Create the first administrator with "
            "'tuslog user create EMAIL --admin'; administrators can then manage users in "
            "the portal too. Passwords are asked for on the terminal, never taken as "
            "arguments."
        ),
    ).add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    create = _command(
        group,
        "create",
        users.create,
        "create a user (asks for the password); they set up TOTP at the first sign-in",
    )
    create.add_argument("email", help="the user's email address (their sign-in name)")
    create.add_argument("--admin", action="store_true", help="an administrator (manages users)")
    _password_stdin(create)
    _command(group, "list", users.list_, "list users: role, status, two-factor, last sign-in")
    for name, run, text in (
        ("deactivate", users.deactivate, "stop a user from signing in; their sessions end"),
        ("reactivate", users.reactivate, "let a deactivated user sign in again"),
        (
            "reset-2fa",
            users.reset_2fa,
            "forget a user's authenticator and recovery codes (lost phone); they set it up "
            "again at the next sign-in",
        ),
    ):
        _command(group, name, run, text).add_argument("email")
    password = _command(
        group, "set-password", users.set_password, "set a user's password (forgotten password)"
    )
    password.add_argument("email")
    _password_stdin(password)


def build() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tuslog", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"tuslog {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _server(sub)
    _tickets(sub)
    _tokens(sub)
    _uploads(sub)
    _apikeys(sub)
    _users(sub)
    return parser
