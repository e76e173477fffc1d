"""``tuslog apikey …``: create, list and revoke API keys for integrators (REST API v1).

On the server, for bootstrap and automation; staff signed in with both factors make
their own keys in the portal. The key is printed once and stored only as a hash."""

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import errors
from tuslog.cli import runtime
from tuslog.cli.output import emit, iso, table
from tuslog.db.models import ApiKey, utcnow
from tuslog.services import apikeys
from tuslog.settings import Settings

ACTOR = "cli"


def key_dict(record: ApiKey, owner: str) -> dict[str, Any]:
    return {
        "prefix": record.prefix,
        "name": record.name,
        "owner": owner,
        "scopes": record.scopes.split(),
        "status": apikeys.key_status(record, utcnow()),
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso(record.revoked_at),
        "last_used_at": iso(record.last_used_at),
        "last_used_ip": record.last_used_ip,
    }


def scopes(value: str) -> list[str]:
    """``read,write`` (commas or spaces); checked here so a typo is exit 2."""
    names = value.replace(",", " ").split()
    try:
        apikeys.parse_scopes(names)
    except errors.TuslogError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return names


def create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> apikeys.IssuedKey:
        return await apikeys.create(
            session, args.user, scopes=args.scopes, name=args.name, ttl=args.expires, actor=ACTOR
        )

    issued: apikeys.IssuedKey = asyncio.run(runtime.with_session(settings, work, write=True))
    data = key_dict(issued.record, issued.owner)
    data["key"] = issued.key

    def text() -> str:
        expiry = data["expires_at"] or "never (until revoked)"
        return "\n".join(
            [
                f"API key for {issued.owner} (shown once: store it in your integration now):",
                f"  {issued.key}",
                f"  scopes {', '.join(data['scopes'])}; expires {expiry}",
                "",
                "Use it as:  Authorization: Bearer <key>   (see /api/v1/docs)",
            ]
        )

    emit(args, data, text)


def list_(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[ApiKey, str]]:
        return await apikeys.list_keys(session, args.user)

    data = [key_dict(k, o) for k, o in asyncio.run(runtime.with_session(settings, work))]
    rows = [
        [d["prefix"], d["owner"], ",".join(d["scopes"]), d["status"], d["last_used_at"] or "-"]
        for d in data
    ]
    emit(args, data, lambda: table(rows, ["PREFIX", "OWNER", "SCOPES", "STATUS", "LAST USED"]))


def revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tuple[ApiKey, bool]:
        return await apikeys.revoke(session, args.prefix, actor=ACTOR)

    record, already = asyncio.run(runtime.with_session(settings, work, write=True))
    data = {"prefix": record.prefix, "revoked": True, "already": already}
    text = (
        f"{record.prefix} was already revoked ({iso(record.revoked_at)}); nothing changed"
        if already
        else f"revoked {record.prefix}; it is refused from now on"
    )
    emit(args, data, lambda: text)
