"""The shared listing services (tickets.search, listing.search, audit.events): filters,
keyset pagination that neither repeats nor skips rows, totals, and bad input."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import sessions
from tuslog import errors
from tuslog.db.models import (
    AuditEvent,
    Ticket,
    TicketStatus,
    Upload,
    UploadState,
)
from tuslog.services import audit, paging, tickets
from tuslog.settings import Settings
from tuslog.uploads import listing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(
    settings: Settings, assertion_db: None
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    yield sessions(settings)


async def _tickets(db: async_sessionmaker[AsyncSession], count: int) -> list[Ticket]:
    """``count`` tickets; every three share one created_at (ties are broken by id)."""
    made = []
    async with db.begin() as session:
        for n in range(count):
            ticket = Ticket(
                number=f"SR-{n}",
                number_key=f"sr-{n}",
                title=f"Backup {'fails' if n % 2 else 'slow'} #{n}",
                platform="Linux" if n % 3 else "Windows",
                status=TicketStatus.RESOLVED if n % 4 == 0 else TicketStatus.OPEN,
                created_at=T0 + timedelta(minutes=n // 3),
            )
            session.add(ticket)
            made.append(ticket)
    return made


def _newest_first(found: list[Ticket]) -> list[str]:
    return [t.number for t in sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)]


async def _walk(db: async_sessionmaker[AsyncSession], limit: int, **filters: object) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        async with db() as session:
            page = await tickets.search(
                session,
                tickets.TicketFilter(**filters),
                limit=limit,
                cursor=cursor,  # type: ignore[arg-type]
            )
        assert len(page.items) <= limit
        seen += [t.number for t in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_ticket_pages_cover_every_ticket_once_in_order(
    db: async_sessionmaker[AsyncSession],
) -> None:
    made = await _tickets(db, 20)
    for limit in (1, 3, 7, 20, 200):
        assert await _walk(db, limit) == _newest_first(made), limit


async def test_ticket_pages_do_not_shift_when_tickets_are_added_or_removed(
    db: async_sessionmaker[AsyncSession],
) -> None:
    made = await _tickets(db, 9)
    async with db() as session:
        first = await tickets.search(session, limit=4)
    async with db.begin() as session:
        session.add(Ticket(number="NEW", number_key="new", created_at=T0 + timedelta(days=1)))
        removed = await session.get(Ticket, first.items[-1].id)
        await session.delete(removed)
    async with db() as session:
        second = await tickets.search(session, limit=10, cursor=first.next_cursor)
    expected = _newest_first(made)
    assert [t.number for t in first.items] == expected[:4]
    assert [t.number for t in second.items] == expected[4:]
    assert second.next_cursor is None


async def test_ticket_filters(db: async_sessionmaker[AsyncSession]) -> None:
    made = await _tickets(db, 12)

    def expect(keep: object) -> list[str]:
        return _newest_first([t for t in made if keep(t)])  # type: ignore[operator]

    cases: list[tuple[dict[str, object], object]] = [
        ({"status": TicketStatus.RESOLVED}, lambda t: t.status is TicketStatus.RESOLVED),
        ({"platform": "linux"}, lambda t: t.platform == "Linux"),
        ({"number": "sr-7"}, lambda t: t.number == "SR-7"),
        ({"text": "FAILS"}, lambda t: "fails" in t.title),
        ({"text": "#1"}, lambda t: "#1" in t.title),
        ({"text": "windows"}, lambda t: t.platform == "Windows"),
        ({"text": "sr-1"}, lambda t: t.number.startswith("SR-1")),
        (
            {"created_from": T0 + timedelta(minutes=1), "created_to": T0 + timedelta(minutes=3)},
            lambda t: T0 + timedelta(minutes=1) <= t.created_at < T0 + timedelta(minutes=3),
        ),
        (
            {"status": TicketStatus.OPEN, "platform": "Windows"},
            lambda t: t.status is TicketStatus.OPEN and t.platform == "Windows",
        ),
    ]
    for filters, keep in cases:
        assert await _walk(db, 5, **filters) == expect(keep), filters


async def test_ticket_text_search_takes_wildcards_literally(
    db: async_sessionmaker[AsyncSession],
) -> None:
    async with db.begin() as session:
        for number, title in (
            ("A-1", "100% full"),
            ("A-2", "100 full"),
            ("A-3", "a_b"),
            ("A-4", "axb"),
        ):
            await tickets.create(session, number, title=title, actor="test")
    assert await _walk(db, 10, text="100%") == ["A-1"]
    assert await _walk(db, 10, text="a_b") == ["A-3"]
    assert await _walk(db, 10, text="%") == ["A-1"]


async def test_ticket_totals_count_the_filter_not_the_page(
    db: async_sessionmaker[AsyncSession],
) -> None:
    made = await _tickets(db, 10)
    async with db() as session:
        page = await tickets.search(
            session, tickets.TicketFilter(platform="Linux"), limit=2, with_total=True
        )
        plain = await tickets.search(session, limit=2)
    assert page.total == sum(t.platform == "Linux" for t in made)
    assert len(page.items) == 2 and plain.total is None


@pytest.mark.parametrize(
    "cursor", ["x", "!!!", "W10", paging.encode(T0, 1)[:-3], "eyJhIjoxfQ", "WyIyMDI2LTAxLTAxIiwxXQ"]
)
async def test_a_bad_cursor_is_an_invalid_value(
    db: async_sessionmaker[AsyncSession], cursor: str
) -> None:
    async with db() as session:
        with pytest.raises(errors.TuslogError) as raised:
            await tickets.search(session, cursor=cursor)
    assert raised.value.code == "invalid_value" and "cursor" in raised.value.message


async def test_limits_and_ranges_are_checked(db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as session:
        for limit in (0, -1, paging.MAX_LIMIT + 1):
            with pytest.raises(errors.TuslogError, match="limit"):
                await tickets.search(session, limit=limit)
        with pytest.raises(errors.TuslogError, match="start is after"):
            await tickets.search(
                session, tickets.TicketFilter(created_from=T0, created_to=T0 - timedelta(seconds=1))
            )
        with pytest.raises(errors.TuslogError, match="time zone"):
            await tickets.search(session, tickets.TicketFilter(created_from=datetime(2026, 1, 1)))


async def _uploads(db: async_sessionmaker[AsyncSession]) -> dict[str, Upload]:
    await _tickets(db, 2)
    specs = [
        ("receiving", UploadState.RECEIVING, None, "SR-0"),
        ("verifying", UploadState.COMPLETE, None, "SR-0"),
        ("complete", UploadState.COMPLETE, "ab" * 32, "SR-1"),
        ("verified", UploadState.VERIFIED, "cd" * 32, "SR-1"),
        ("deleted", UploadState.DELETED, None, None),
    ]
    made: dict[str, Upload] = {}
    async with db.begin() as session:
        numbers = {t.number: t.id for t in (await tickets.search(session)).items}
        for n, (name, state, sha256, number) in enumerate(specs):
            upload = Upload(
                id=f"{n:032x}",
                ticket_id=numbers[number] if number else None,
                state=state,
                sha256=sha256,
                length=10,
                offset=10,
                created_at=T0 + timedelta(seconds=n // 2),
            )
            session.add(upload)
            made[name] = upload
    return made


async def test_upload_search_by_shown_state_ticket_and_time(
    db: async_sessionmaker[AsyncSession],
) -> None:
    made = await _uploads(db)
    async with db() as session:
        sr1 = await tickets.get(session, "SR-1")

        async def ids(**filters: object) -> list[str]:
            page = await listing.search(session, listing.UploadFilter(**filters), limit=200)  # type: ignore[arg-type]
            return [upload.id for upload, _ in page.items]

        assert await ids(states=["verifying"]) == [made["verifying"].id]
        assert await ids(states=["complete"]) == [made["complete"].id]
        assert await ids(states=["complete", "verified"]) == [
            made["verified"].id,
            made["complete"].id,
        ]
        assert await ids(ticket_id=sr1.id) == [made["verified"].id, made["complete"].id]
        assert await ids(created_from=T0 + timedelta(seconds=2)) == [made["deleted"].id]
        everything = await listing.search(session, limit=2, with_total=True)
        rest = await listing.search(session, limit=200, cursor=everything.next_cursor)
        with pytest.raises(errors.TuslogError, match="state"):
            await ids(states=["finished"])
    assert everything.total == 5
    listed = everything.items + rest.items
    assert [u.id for u, _ in listed] == [
        made[n].id for n in ("deleted", "verified", "complete", "verifying", "receiving")
    ]
    assert listed[0][1] == "" and listed[1][1] == "SR-1"  # a tombstone without its ticket


async def test_audit_events_filters_and_pages(db: async_sessionmaker[AsyncSession]) -> None:
    async with db.begin() as session:
        for n in range(12):
            session.add(
                AuditEvent(
                    at=T0 + timedelta(seconds=n // 4),
                    actor="alice@example.com" if n % 2 else "cli",
                    action=("upload.deleted", "ticket.created", "token.issued")[n % 3],
                    subject=f"S-{n % 4}",
                    client_ip="192.0.2.1" if n < 6 else None,
                    details={"n": n},
                )
            )

    async def walk(limit: int, **filters: object) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            async with db() as session:
                page = await audit.events(
                    session, audit.AuditFilter(**filters), limit=limit, cursor=cursor
                )  # type: ignore[arg-type]
            seen += [event.details["n"] for event in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    newest_first = sorted(range(12), key=lambda n: (n // 4, n), reverse=True)
    assert await walk(5) == newest_first
    assert await walk(2, actions=["upload.deleted"]) == [n for n in newest_first if n % 3 == 0]
    assert await walk(2, actions=["upload.deleted", "token.issued"]) == [
        n for n in newest_first if n % 3 != 1
    ]
    assert await walk(3, actor="cli") == [n for n in newest_first if n % 2 == 0]
    assert await walk(3, subject="S-1") == [n for n in newest_first if n % 4 == 1]
    assert await walk(3, client_ip="192.0.2.1") == [n for n in newest_first if n < 6]
    assert await walk(3, since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=2)) == [
        7,
        6,
        5,
        4,
    ]
    async with db() as session:
        counted = await audit.events(
            session, audit.AuditFilter(actor="cli"), limit=1, with_total=True
        )
    assert counted.total == 6
