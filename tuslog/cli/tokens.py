"""``tuslog token …``: issue, list, update and revoke upload tokens."""

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.cli import runtime
from tuslog.cli.output import emit, iso, table
from tuslog.cli.values import describe_size
from tuslog.db.models import UploadToken, utcnow
from tuslog.http.client import configured_base_url
from tuslog.http.uploaders import commands_for
from tuslog.services import tokens
from tuslog.settings import Settings

ACTOR = "cli"


def token_status(token: UploadToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= utcnow():
        return "expired"
    if token.uses >= token.max_uses:
        return "used up"
    return "active"


def token_dict(token: UploadToken, ticket: str) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "ticket": ticket,
        "status": token_status(token),
        "uses": token.uses,
        "max_uses": token.max_uses,
        "max_bytes": token.max_bytes,
        "expires_at": iso(token.expires_at),
        "revoked": token.revoked_at is not None,
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
        "last_used_ip": token.last_used_ip,
    }


def issue(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tokens.IssuedToken:
        return await tokens.issue(
            session,
            args.number,
            uploads=settings.token_uploads if args.uploads is None else args.uploads,
            ttl=settings.token_ttl if args.expires is None else args.expires,
            max_bytes=args.max_bytes,
            actor=ACTOR,
        )

    issued = asyncio.run(runtime.with_session(settings, work, write=True))
    number = issued.ticket
    data = token_dict(issued.record, number)
    data["token"] = issued.token
    data["commands"] = commands_for(configured_base_url(settings), issued.token)

    def text() -> str:
        quota = f", quota {describe_size(args.max_bytes)}" if args.max_bytes else ""
        commands = data["commands"]
        return "\n".join(
            [
                f"Upload token for ticket {number} (shown once: send it, do not keep it):",
                f"  {issued.token}",
                f"  {data['max_uses']} upload(s), expires {data['expires_at']}{quota}",
                "",
                "Send the customer one of these (the uploader asks for the token; FILE may",
                "also be a directory):",
                f"  {commands['sh']}",
                f"  {commands['python']}",
                "or, with the token saved in token.txt (also to pipe data in:",
                f"{commands['sh_stdin']}):",
                f"  {commands['sh_token_file']}",
                f"  {commands['python_token_file']}",
                "or the link to the browser upload page:",
                f"  {commands['browser']}",
            ]
        )

    emit(args, data, text)


def revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tokens.Revoked:
        return await tokens.revoke(session, args.prefix, actor=ACTOR)

    revoked = asyncio.run(runtime.with_session(settings, work, write=True))
    record = revoked.record
    data = {"prefix": record.prefix, "revoked": True, "already": revoked.already}
    if revoked.already:
        text = f"{record.prefix} was already revoked ({iso(record.revoked_at)}); nothing changed"
    else:
        text = f"revoked {record.prefix}; its uploads stop at once"
    emit(args, data, lambda: text)


def update(args: argparse.Namespace, settings: Settings) -> None:
    if args.uploads is None and args.expires is None:
        raise argparse.ArgumentTypeError("say what to change: --uploads N and/or --expires D")

    async def work(session: AsyncSession) -> tuple[UploadToken, str]:
        record = await tokens.update(
            session, args.prefix, uploads=args.uploads, ttl=args.expires, actor=ACTOR
        )
        return record, await tokens.ticket_number(session, record)

    record, number = asyncio.run(runtime.with_session(settings, work, write=True))
    data = token_dict(record, number)
    emit(
        args,
        data,
        lambda: (
            f"{record.prefix}: {record.uses}/{record.max_uses} upload(s) used, "
            f"expires {data['expires_at']}"
        ),
    )


def list_(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[UploadToken, str]]:
        return await tokens.list_for(session, args.number)

    data = [token_dict(t, n) for t, n in asyncio.run(runtime.with_session(settings, work))]
    rows = [
        [d["prefix"], d["ticket"], f"{d['uses']}/{d['max_uses']}", d["expires_at"], d["status"]]
        for d in data
    ]
    emit(args, data, lambda: table(rows, ["PREFIX", "TICKET", "USES", "EXPIRES", "STATUS"]))
