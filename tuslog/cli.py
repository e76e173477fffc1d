"""The ``tuslog`` command. Every command that prints data takes ``--json``; failures print
one line on stderr and exit non-zero."""

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog import __version__, errors
from tuslog.cli_db import migrate, with_session
from tuslog.services import tickets, tokens, uploads
from tuslog.settings import Settings, SettingsError, load_settings
from tuslog.storage.filestore import FileStore
from tuslog.storage.locks import UploadLocks
from tuslog.units import format_size, parse_duration, parse_size

ACTOR = "cli"
EXIT_ERROR = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2) if args.json else text())


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
        for line in lines
    )


# --- tickets ------------------------------------------------------------------------------
def _ticket_dict(ticket: Any) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "platform": ticket.platform,
        "status": ticket.status.value,
        "created_at": _iso(ticket.created_at),
    }


def cmd_ticket_create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tickets.create(
            session, args.number, title=args.title, platform=args.platform, actor=ACTOR
        )

    ticket = asyncio.run(with_session(settings, work, write=True))
    _emit(args, _ticket_dict(ticket), lambda: f"created ticket {ticket.number}")


def cmd_ticket_list(args: argparse.Namespace, settings: Settings) -> None:
    found = asyncio.run(with_session(settings, tickets.list_all))
    data = [_ticket_dict(t) for t in found]
    rows = [[t["number"], t["status"], t["platform"], t["title"]] for t in data]
    _emit(args, data, lambda: _table(rows, ["NUMBER", "STATUS", "PLATFORM", "TITLE"]))


def cmd_ticket_resolve(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tickets.resolve(session, args.number, actor=ACTOR)

    ticket = asyncio.run(with_session(settings, work, write=True))
    _emit(args, _ticket_dict(ticket), lambda: f"resolved ticket {ticket.number}")


def cmd_ticket_reopen(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tickets.reopen(session, args.number, actor=ACTOR)

    ticket = asyncio.run(with_session(settings, work, write=True))
    _emit(args, _ticket_dict(ticket), lambda: f"reopened ticket {ticket.number}")


def cmd_ticket_delete(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[str]:
        return await tickets.delete(session, args.number, actor=ACTOR)

    store = FileStore(settings.storage_dir)
    if not store.lock_dir.is_dir():  # not the server's storage: the files would stay
        raise errors.INVALID_VALUE(
            f"{settings.storage_dir.resolve()} (TUSLOG_STORAGE_DIR) is not the server's "
            "upload storage; nothing was deleted. Run this where the server runs."
        )
    upload_ids = asyncio.run(with_session(settings, work, write=True))
    locks = UploadLocks(store.lock_dir, settings.lock_release_timeout)
    missing = [upload_id for upload_id in upload_ids if not store.delete(upload_id)]
    for upload_id in upload_ids:
        locks.discard(upload_id)
    data = {"number": args.number, "deleted_uploads": len(upload_ids), "files_missing": missing}
    if missing:
        print(
            f"tuslog: warning: {len(missing)} upload file(s) were already missing from "
            f"{settings.storage_dir.resolve()}",
            file=sys.stderr,
        )
    _emit(args, data, lambda: f"deleted ticket {args.number} and {len(upload_ids)} upload(s)")


# --- tokens -------------------------------------------------------------------------------
def _token_dict(token: Any, ticket: str) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "ticket": ticket,
        "uses": token.uses,
        "max_uses": token.max_uses,
        "max_bytes": token.max_bytes,
        "expires_at": _iso(token.expires_at),
        "revoked": token.revoked_at is not None,
        "last_used_at": _iso(token.last_used_at),
        "last_used_ip": token.last_used_ip,
    }


_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - recognised, not bound


def _base_url(settings: Settings) -> str:
    """Where customers reach the server: TUSLOG_PUBLIC_URL, else a guess from the listen
    address (a wildcard address is no address: the host's name is used, with a warning)."""
    if settings.public_url:
        return settings.public_url
    host = settings.host
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
        print(
            f"tuslog: warning: TUSLOG_PUBLIC_URL is not set and the server listens on all "
            f"addresses; the commands below guess http://{host}:{settings.port}. Set "
            "TUSLOG_PUBLIC_URL to the address customers reach.",
            file=sys.stderr,
        )
    return _listen_url(host, settings.port)


def uploader_commands(base: str, token: str) -> dict[str, str]:
    return {
        "sh": f"curl -fsSLO {base}/uploader.sh && sh uploader.sh {base} {token} FILE",
        "python": (f"curl -fsSLO {base}/uploader.py && python3 uploader.py {base} {token} FILE"),
    }


def cmd_token_issue(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tokens.IssuedToken:
        return await tokens.issue(
            session,
            args.number,
            uploads=settings.token_uploads if args.uploads is None else args.uploads,
            ttl=settings.token_ttl if args.expires is None else args.expires,
            max_bytes=args.max_bytes,
            actor=ACTOR,
        )

    issued = asyncio.run(with_session(settings, work, write=True))
    data = _token_dict(issued.record, args.number)
    data["token"] = issued.token
    data["commands"] = uploader_commands(_base_url(settings), issued.token)

    def text() -> str:
        return "\n".join(
            [
                f"Upload token for ticket {args.number} (shown once: send it, do not keep it):",
                f"  {issued.token}",
                f"  {data['max_uses']} upload(s), expires {data['expires_at']}"
                + (f", quota {format_size(args.max_bytes)}" if args.max_bytes else ""),
                "",
                "Send the customer one of:",
                f"  {data['commands']['sh']}",
                f"  {data['commands']['python']}",
            ]
        )

    _emit(args, data, text)


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tokens.revoke(session, args.prefix, actor=ACTOR)

    token = asyncio.run(with_session(settings, work, write=True))
    _emit(args, {"prefix": token.prefix, "revoked": True}, lambda: f"revoked {token.prefix}")


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await tokens.list_for(session, args.number)

    data = [_token_dict(t, n) for t, n in asyncio.run(with_session(settings, work))]
    rows = [
        [
            d["prefix"],
            d["ticket"],
            f"{d['uses']}/{d['max_uses']}",
            d["expires_at"] or "",
            "revoked" if d["revoked"] else "",
        ]
        for d in data
    ]
    _emit(args, data, lambda: _table(rows, ["PREFIX", "TICKET", "USES", "EXPIRES", ""]))


# --- uploads ------------------------------------------------------------------------------
def _upload_dict(upload: Any, ticket: str) -> dict[str, Any]:
    return {
        "id": upload.id,
        "ticket": ticket,
        "filename": upload.filename,
        "length": upload.length,
        "offset": upload.offset,
        "state": upload.shown_state,
        "sha256": upload.sha256,
        "declared_sha256": upload.declared_sha256,
        "concat": upload.concat,
        "client_ip": upload.client_ip,
        "created_at": _iso(upload.created_at),
        "completed_at": _iso(upload.completed_at),
        "expires_at": _iso(upload.expires_at),
    }


def _progress(offset: int, length: int | None) -> str:
    total = format_size(length) if length is not None else "?"
    return f"{format_size(offset)}/{total}"


def cmd_upload_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await uploads.list_for(session, args.number)

    data = [_upload_dict(u, n) for u, n in asyncio.run(with_session(settings, work))]
    rows = [
        [
            d["id"],
            d["ticket"],
            d["state"],
            _progress(d["offset"], d["length"]),
            d["sha256"] or "",
            d["filename"],
        ]
        for d in data
    ]
    header = ["ID", "TICKET", "STATE", "RECEIVED", "SHA256", "FILENAME"]
    _emit(args, data, lambda: _table(rows, header))


# --- server -------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(migrate(settings))
    print("database schema is up to date")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from tuslog import serve

    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    settings = load_settings(**overrides)
    serve.configure_logging(settings.log_level)
    cmd_migrate(args, settings)
    try:
        FileStore(settings.storage_dir).prepare()
    except OSError as exc:
        raise errors.INVALID_VALUE(
            f"Cannot use {settings.storage_dir} (TUSLOG_STORAGE_DIR): {exc.strerror or exc}"
        ) from exc
    if settings.workers > 1:
        sys.exit(serve.supervise(settings, overrides))
    banner = f"tuslog {__version__} serving on {_listen_url(settings.host, settings.port)}"
    try:
        serve.run_worker(settings, reuse_port=False, announce=banner)
    except serve.ListenError as exc:
        raise errors.INVALID_VALUE(str(exc)) from exc


def _listen_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _positive_size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(value: str) -> Any:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from tuslog.cli_parser import build

    return build(sys.modules[__name__], _positive_size, _duration)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        args.func(args, settings)
    except SettingsError as exc:
        print(f"tuslog: {exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except errors.TuslogError as exc:
        print(f"tuslog: {exc.message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        print(f"tuslog: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
