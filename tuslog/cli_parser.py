"""Argument parsing for ``tuslog``, kept apart from what the commands do."""

import argparse
from collections.abc import Callable
from types import ModuleType
from typing import Any, NoReturn

from tuslog import __version__

DESCRIPTION = """\
tuslog collects diagnostic archives from customers over resumable (tus) uploads.
Staff create a ticket, issue a one-time upload token and send the customer the
printed command. Configuration comes from TUSLOG_* environment variables (see README).
"""


EXIT_USAGE = 2


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


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def build(
    commands: ModuleType, size: Callable[[str], int], duration: Callable[[str], Any]
) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tuslog", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"tuslog {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the server (migrates the database first)",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="listen address (TUSLOG_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (TUSLOG_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (TUSLOG_WORKERS, default 1)")
    serve.set_defaults(func=commands.cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=commands.cmd_migrate)

    ticket = sub.add_parser("ticket", help="create, list, resolve, reopen and delete tickets")
    ticket_sub = ticket.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = ticket_sub.add_parser("create", help="open a ticket")
    create.add_argument("number", help="help-desk ticket number, e.g. SR-1234")
    create.add_argument("--title", default="", help="short description")
    create.add_argument("--platform", default="", help="customer platform or product")
    _json(create)
    create.set_defaults(func=commands.cmd_ticket_create)
    listing = ticket_sub.add_parser("list", help="list tickets")
    _json(listing)
    listing.set_defaults(func=commands.cmd_ticket_list)
    resolve = ticket_sub.add_parser("resolve", help="mark a ticket resolved")
    resolve.add_argument("number")
    _json(resolve)
    resolve.set_defaults(func=commands.cmd_ticket_resolve)
    reopen = ticket_sub.add_parser("reopen", help="open a resolved ticket again")
    reopen.add_argument("number")
    _json(reopen)
    reopen.set_defaults(func=commands.cmd_ticket_reopen)
    delete = ticket_sub.add_parser("delete", help="delete a ticket, its tokens and its files")
    delete.add_argument("number")
    _json(delete)
    delete.set_defaults(func=commands.cmd_ticket_delete)

    token = sub.add_parser("token", help="issue, list and revoke upload tokens")
    token_sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = token_sub.add_parser("issue", help="issue a one-time upload token (printed once)")
    issue.add_argument("number", help="ticket number")
    issue.add_argument("--uploads", type=int, help="uploads allowed (TUSLOG_TOKEN_UPLOADS)")
    issue.add_argument("--expires", type=duration, help="lifetime, e.g. 7d (TUSLOG_TOKEN_TTL)")
    issue.add_argument("--max-bytes", type=size, help="byte quota over all uploads, e.g. 50G")
    _json(issue)
    issue.set_defaults(func=commands.cmd_token_issue)
    revoke = token_sub.add_parser("revoke", help="revoke a token; its uploads stop at once")
    revoke.add_argument("prefix", help="the token's prefix, e.g. tlu_abcd2345 (or the token)")
    _json(revoke)
    revoke.set_defaults(func=commands.cmd_token_revoke)
    token_list = token_sub.add_parser("list", help="list tokens (never the secrets)")
    token_list.add_argument("number", nargs="?", help="only this ticket's tokens")
    _json(token_list)
    token_list.set_defaults(func=commands.cmd_token_list)

    upload = sub.add_parser("upload", help="list uploads")
    upload_sub = upload.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload_list = upload_sub.add_parser("list", help="list uploads")
    upload_list.add_argument("number", nargs="?", help="only this ticket's uploads")
    _json(upload_list)
    upload_list.set_defaults(func=commands.cmd_upload_list)
    return parser
