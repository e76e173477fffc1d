"""``tuslog user …``: create, list, deactivate, reactivate staff users, reset their
two-factor authentication, and set a password. This is how the first administrator is
made (``tuslog user create EMAIL --admin``); after that, administrators also manage
users in the portal.

Passwords never come from the command line (where ``ps`` and the shell history would
keep them): they are asked for twice on a terminal, or read from standard input with
``--password-stdin`` (its first line)."""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.cli import runtime
from tuslog.cli.output import EXIT_USAGE, CommandError, emit, iso, table
from tuslog.db.models import User, UserRole
from tuslog.services import accounts
from tuslog.settings import Settings

ACTOR = "cli"
PORTAL_PATH = "/staff/"


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("no password on standard input (its first line)", EXIT_USAGE)
        return password
    if not sys.stdin.isatty():
        raise CommandError(
            "no terminal to ask for the password; pipe it in with --password-stdin", EXIT_USAGE
        )
    first = getpass.getpass("Password (12+ characters, hard to guess): ")
    if getpass.getpass("Password again: ") != first:
        raise CommandError("the two passwords differ; nothing was changed", EXIT_USAGE)
    return first


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    try:
        return asyncio.run(runtime.with_session(settings, work, write=True))
    except errors.TuslogError as exc:
        if exc.code == errors.WEAK_PASSWORD.code:  # a bad value: exit 2, as for sizes
            raise CommandError(f"password refused: {exc.message}", EXIT_USAGE) from None
        raise


def user_dict(summary: accounts.UserSummary) -> dict[str, Any]:
    return {
        "email": summary.email,
        "role": summary.role.value,
        "active": summary.active,
        "two_factor": summary.two_factor,
        "recovery_codes_left": summary.recovery_codes_left,
        "created_at": iso(summary.created_at),
        "last_sign_in_at": iso(summary.last_sign_in_at),
    }


def create(args: argparse.Namespace, settings: Settings) -> None:
    accounts.normalise_email(args.email)  # a bad address before asking for a password
    password = _read_password(args)
    role = UserRole.ADMIN if args.admin else UserRole.STAFF

    async def work(session: AsyncSession) -> User:
        return await accounts.create_user(session, args.email, password, role=role, actor=ACTOR)

    user = _run(settings, work)
    data = {"email": user.email, "role": user.role.value, "active": True, "two_factor": False}
    emit(
        args,
        data,
        lambda: (
            f"created {user.role.value} {user.email}; at the first sign-in in the portal "
            f"({PORTAL_PATH}) they set up an authenticator app"
        ),
    )


def list_(args: argparse.Namespace, settings: Settings) -> None:
    found = asyncio.run(runtime.with_session(settings, accounts.list_users))
    data = [user_dict(summary) for summary in found]
    rows = [
        [
            d["email"],
            d["role"],
            "active" if d["active"] else "deactivated",
            f"on ({d['recovery_codes_left']} codes)" if d["two_factor"] else "not set up",
            d["last_sign_in_at"] or "never",
        ]
        for d in data
    ]
    emit(args, data, lambda: table(rows, ["EMAIL", "ROLE", "STATUS", "2FA", "LAST SIGN-IN"]))


def _change(
    args: argparse.Namespace,
    settings: Settings,
    change: Callable[..., Awaitable[User]],
    said: str,
) -> None:
    async def work(session: AsyncSession) -> User:
        return await change(session, args.email, actor=ACTOR)

    user = _run(settings, work)
    emit(args, {"email": user.email, "active": user.is_active}, lambda: f"{said} {user.email}")


def deactivate(args: argparse.Namespace, settings: Settings) -> None:
    _change(args, settings, accounts.deactivate, "deactivated (sessions ended):")


def reactivate(args: argparse.Namespace, settings: Settings) -> None:
    _change(args, settings, accounts.reactivate, "reactivated")


def reset_2fa(args: argparse.Namespace, settings: Settings) -> None:
    _change(
        args,
        settings,
        accounts.reset_second_factor,
        "two-factor authentication reset (sets it up again at the next sign-in):",
    )


def set_password(args: argparse.Namespace, settings: Settings) -> None:
    async def find(session: AsyncSession) -> User:
        return await accounts.get_user(session, args.email)

    asyncio.run(runtime.with_session(settings, find))  # unknown user: before the prompt
    password = _read_password(args)

    async def work(session: AsyncSession) -> User:
        return await accounts.set_password(session, args.email, password, actor=ACTOR)

    user = _run(settings, work)
    emit(
        args,
        {"email": user.email, "password_set": True},
        lambda: f"new password set for {user.email}; their sessions ended",
    )
