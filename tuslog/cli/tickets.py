"""``tuslog ticket …``: create, list, show, resolve, reopen and delete tickets."""

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.cli import runtime
from tuslog.cli.output import confirm, emit, iso, table
from tuslog.cli.tokens import token_dict
from tuslog.cli.uploads import upload_dict, upload_rows
from tuslog.db.models import Ticket
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.units import format_size
from tuslog.uploads import records

ACTOR = "cli"


def ticket_dict(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "platform": ticket.platform,
        "status": ticket.status.value,
        "created_at": iso(ticket.created_at),
    }


def create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Ticket:
        return await tickets.create(
            session, args.number, title=args.title, platform=args.platform, actor=ACTOR
        )

    ticket = asyncio.run(runtime.with_session(settings, work, write=True))
    emit(args, ticket_dict(ticket), lambda: f"created ticket {ticket.number}")


def list_(args: argparse.Namespace, settings: Settings) -> None:
    found = asyncio.run(runtime.with_session(settings, tickets.list_all))
    data = [ticket_dict(t) for t in found]
    rows = [[t["number"], t["status"], t["platform"], t["title"]] for t in data]
    emit(args, data, lambda: table(rows, ["NUMBER", "STATUS", "PLATFORM", "TITLE"]))


def show(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> dict[str, Any]:
        ticket = await tickets.get(session, args.number)
        data = ticket_dict(ticket)
        data["tokens"] = [token_dict(t, n) for t, n in await tokens.list_for(session, args.number)]
        uploads = await records.list_for(session, ticket.id)
        data["uploads"] = [upload_dict(u, n) for u, n in uploads]
        return data

    data = asyncio.run(runtime.with_session(settings, work))

    def text() -> str:
        lines = [
            f"ticket   {data['number']} ({data['status']})",
            f"title    {data['title']}",
            f"platform {data['platform']}",
            f"created  {data['created_at']}",
            "",
            "tokens:",
        ]
        token_rows = [
            [t["prefix"], f"{t['uses']}/{t['max_uses']}", t["expires_at"] or "", t["status"]]
            for t in data["tokens"]
        ]
        lines.append(table(token_rows, ["PREFIX", "USES", "EXPIRES", "STATUS"]))
        lines += ["", "uploads:", upload_rows(data["uploads"])]
        return "\n".join(lines)

    emit(args, data, text)


def resolve(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Ticket:
        return await tickets.resolve(session, args.number, actor=ACTOR)

    ticket = asyncio.run(runtime.with_session(settings, work, write=True))
    emit(args, ticket_dict(ticket), lambda: f"resolved ticket {ticket.number}")


def reopen(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Ticket:
        return await tickets.reopen(session, args.number, actor=ACTOR)

    ticket = asyncio.run(runtime.with_session(settings, work, write=True))
    emit(args, ticket_dict(ticket), lambda: f"reopened ticket {ticket.number}")


def delete(args: argparse.Namespace, settings: Settings) -> None:
    async def summary(session: AsyncSession) -> tuple[str, int, int]:
        ticket = await tickets.get(session, args.number)
        return (ticket.number, *await tickets.upload_summary(session, ticket.id))

    number, count, size = asyncio.run(runtime.with_session(settings, summary))
    confirm(
        args,
        f"Delete ticket {number}, its tokens and {count} upload(s) ({format_size(size)})?",
    )

    async def work() -> Any:
        async with runtime.engine(settings) as engine:
            return await engine.ending.delete_ticket(number, ACTOR, None)

    deleted = asyncio.run(work())
    data = {"number": deleted.number, "deleted_uploads": deleted.uploads, "bytes": deleted.bytes}
    emit(
        args,
        data,
        lambda: (
            f"deleted ticket {deleted.number} and {deleted.uploads} upload(s) "
            f"({format_size(deleted.bytes)})"
        ),
    )
