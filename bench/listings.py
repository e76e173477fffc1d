# ruff: noqa: E501 - SQL and a table of measurements read better unwrapped
"""Time the shared listings on PostgreSQL at the sizes the portal and the API must handle:
100,000 tickets, 300,000 uploads and 1,000,000 audit events (filled with generate_series
in a throwaway database), through the service functions themselves.

    python bench/listings.py postgresql+asyncpg://postgres@127.0.0.1:5432/postgres [--repeat 15]

Prints the median and the slowest of ``--repeat`` runs per query, in milliseconds, and
the plan of each query's first page (EXPLAIN ANALYZE) with ``--plans``.
"""

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tuslog.db.engine import create_engine, session_factory
from tuslog.db.migrate import upgrade
from tuslog.db.models import TicketStatus
from tuslog.services import audit, tickets
from tuslog.services.paging import encode
from tuslog.uploads import records

FILL = [
    """INSERT INTO tickets (number, number_key, title, platform, status, created_at, updated_at)
    SELECT 'SR-' || n, 'sr-' || n,
           (ARRAY['Backup fails nightly', 'Login slow', 'Disk full on node', 'Crash at start'])[n % 4 + 1] || ' ' || md5(n::text),
           (ARRAY['Linux', 'Windows', 'macOS', 'AIX', 'Solaris'])[n % 5 + 1],
           CASE WHEN n % 3 = 0 THEN 'resolved' ELSE 'open' END,
           timestamptz '2024-01-01' + n * interval '10 minutes', now()
    FROM generate_series(1, 100000) n""",
    """INSERT INTO uploads (id, ticket_id, metadata_raw, filename, length, "offset", state, created_at, updated_at)
    SELECT md5(n::text), n % 100000 + 1, '', 'logs-' || n || '.tgz', 1000, 1000,
           (ARRAY['receiving', 'complete', 'verified', 'corrupt', 'expired', 'deleted'])[n % 6 + 1],
           timestamptz '2024-01-01' + n * interval '3 minutes', now()
    FROM generate_series(1, 300000) n""",
    """INSERT INTO audit_events (at, actor, action, subject, client_ip, details)
    SELECT timestamptz '2024-01-01' + n * interval '1 minute',
           (ARRAY['cli', 'alice@example.com', 'janitor', 'server', 'token:tlu_abcdefgh'])[n % 5 + 1],
           (ARRAY['upload.created', 'upload.completed', 'ticket.created', 'token.issued',
                  'upload.downloaded', 'upload.deleted', 'signin.password', 'ticket.resolved'])[n % 8 + 1],
           'SR-' || (n % 100000), '192.0.2.' || (n % 250), '{}'
    FROM generate_series(1, 1000000) n""",
    "UPDATE audit_events SET action = 'storage.low' WHERE id % 50000 = 0",
    "ANALYZE",
]


async def _measure(name: str, run: Callable[[], Awaitable[Any]], repeat: int) -> None:
    await run()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await run()
        times.append((time.perf_counter() - start) * 1000)
    print(f"{name:<58} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    name = f"tuslog_bench_{secrets.token_hex(4)}"
    admin = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        target = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        for statement in FILL:
            await target.execute(statement)
        await target.close()
        sessions = session_factory(engine)
        deep: dict[str, str | None] = {}

        async def page(
            kind: str, filters: Any = None, cursor_key: str | None = None, total: bool = False
        ) -> Any:
            async with sessions() as session:
                cursor = deep.get(cursor_key) if cursor_key else None
                if kind == "tickets":
                    result: Any = await tickets.search(
                        session, filters or tickets.TicketFilter(), cursor=cursor, with_total=total
                    )
                elif kind == "uploads":
                    result = await records.search(
                        session, filters or records.UploadFilter(), cursor=cursor, with_total=total
                    )
                else:
                    result = await audit.events(
                        session, filters or audit.AuditFilter(), cursor=cursor, with_total=total
                    )
                return result

        # Cursors deep into each listing, made from a row's sort key (rows are evenly spaced).
        base = datetime(2024, 1, 1, tzinfo=UTC)
        deep["tickets"] = encode(base + timedelta(minutes=10 * 50000), 50000)
        deep["audit"] = encode(base + timedelta(minutes=500000), 500000)
        deep["uploads"] = encode(base + timedelta(minutes=3 * 150000), "f" * 32)
        r = args.repeat
        await _measure("tickets: first page", lambda: page("tickets"), r)
        await _measure(
            "tickets: page at row 50,000", lambda: page("tickets", cursor_key="tickets"), r
        )
        await _measure("tickets: first page + total", lambda: page("tickets", total=True), r)
        await _measure(
            "tickets: status=resolved",
            lambda: page("tickets", tickets.TicketFilter(status=TicketStatus.RESOLVED)),
            r,
        )
        await _measure(
            "tickets: platform=aix, deep",
            lambda: page("tickets", tickets.TicketFilter(platform="aix"), "tickets"),
            r,
        )
        await _measure(
            "tickets: text 'disk full'",
            lambda: page("tickets", tickets.TicketFilter(text="disk full")),
            r,
        )
        await _measure(
            "tickets: text rare (md5 fragment)",
            lambda: page("tickets", tickets.TicketFilter(text="c4ca4238a0")),
            r,
        )
        await _measure(
            "tickets: number=SR-77777",
            lambda: page("tickets", tickets.TicketFilter(number="sr-77777")),
            r,
        )
        await _measure(
            "tickets: created range (1 week)",
            lambda: page(
                "tickets",
                tickets.TicketFilter(
                    created_from=base + timedelta(days=300), created_to=base + timedelta(days=307)
                ),
            ),
            r,
        )
        await _measure("uploads: first page", lambda: page("uploads"), r)
        await _measure(
            "uploads: page at row 150,000", lambda: page("uploads", cursor_key="uploads"), r
        )
        await _measure(
            "uploads: state=verifying",
            lambda: page("uploads", records.UploadFilter(states=["verifying"])),
            r,
        )
        await _measure(
            "uploads: one ticket", lambda: page("uploads", records.UploadFilter(ticket_id=4242)), r
        )
        await _measure("audit: first page", lambda: page("audit"), r)
        await _measure("audit: page at row 500,000", lambda: page("audit", cursor_key="audit"), r)
        await _measure(
            "audit: action=upload.deleted",
            lambda: page("audit", audit.AuditFilter(actions=["upload.deleted"])),
            r,
        )
        await _measure(
            "audit: action=storage.low (rare)",
            lambda: page("audit", audit.AuditFilter(actions=["storage.low"])),
            r,
        )
        await _measure(
            "audit: two actions",
            lambda: page("audit", audit.AuditFilter(actions=["upload.deleted", "ticket.resolved"])),
            r,
        )
        await _measure(
            "audit: actor, deep",
            lambda: page("audit", audit.AuditFilter(actor="janitor"), "audit"),
            r,
        )
        await _measure(
            "audit: subject=SR-4242", lambda: page("audit", audit.AuditFilter(subject="SR-4242")), r
        )
        await _measure(
            "audit: one day",
            lambda: page(
                "audit",
                audit.AuditFilter(
                    since=base + timedelta(days=200), until=base + timedelta(days=201)
                ),
            ),
            r,
        )
        await _measure(
            "audit: action + total",
            lambda: page("audit", audit.AuditFilter(actions=["upload.deleted"]), total=True),
            r,
        )
    finally:
        await engine.dispose()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
