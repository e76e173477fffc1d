"""Keyset ("cursor") pagination for the listings (tickets, uploads, audit events), shared by
the REST API and the portal.

A listing is ordered by a timestamp and an id, newest first; a page ends with a cursor
that names the last row's sort key, and the next page starts strictly after it. Unlike
OFFSET, a page costs the same at row 100,000 as at row 0 (an index walk), and rows
created or deleted meanwhile never make a page repeat or skip a row. The cursor is
opaque to callers (URL-safe base64 of the key); a cursor that does not decode is an
INVALID_VALUE naming the parameter.
"""

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from tuslog import errors

T = TypeVar("T")
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the schema
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: ``items``; ``next_cursor`` (None on the last page); ``total`` (the number
    of rows matching the filters, counted only when asked for: it costs a scan)."""

    items: list[T]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True)
class Position:
    """Where a page starts: after the row with this timestamp and id."""

    at: datetime
    id: int | str


def encode(at: datetime, row_id: int | str) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None, id_type: type[int] | type[str]) -> Position | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(row_id, id_type) or isinstance(row_id, bool):
            raise ValueError("bad cursor")
        at = at.astimezone(UTC)
        if isinstance(row_id, int) and not 0 <= row_id <= MAX_ID:
            raise ValueError("bad cursor")
        if isinstance(row_id, str) and len(row_id) > 64:
            raise ValueError("bad cursor")
    except (ValueError, TypeError, UnicodeError, OverflowError):
        raise errors.INVALID_VALUE(
            "cursor: not a cursor of this listing; pass next_cursor from the previous page "
            "unchanged, or leave it out for the first page."
        ) from None
    return Position(at, row_id)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.INVALID_VALUE(f"limit: must be 1 to {MAX_LIMIT}, not {limit}.")
    return limit


def like_pattern(text: str) -> str:
    """``%text%`` for LIKE with its wildcards escaped (``\\`` is the escape character)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def check_range(start: datetime | None, end: datetime | None, name: str) -> None:
    for moment in (start, end):
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise errors.INVALID_VALUE(f"{name}: give a time zone (e.g. Z for UTC).")
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise errors.INVALID_VALUE(f"{name}: {moment.isoformat()} is out of range.") from None
    if start is not None and end is not None and start > end:
        raise errors.INVALID_VALUE(f"{name}: the range's start is after its end.")


async def fetch(
    session: AsyncSession,
    query: Select[Any],
    conditions: Sequence[ColumnElement[bool]],
    order: tuple[InstrumentedAttribute[datetime], InstrumentedAttribute[Any]],
    *,
    after: Position | None,
    limit: int,
    with_total: bool,
    ascending: bool = False,
) -> tuple[list[Any], str | None, int | None]:
    """Run ``query`` (selecting the ordered entity first) filtered by ``conditions``,
    newest first by ``order`` (timestamp, id) after ``after`` (``ascending``: oldest
    first): the rows of one page, the cursor of the next page (None on the last) and,
    with ``with_total``, the count."""
    at_column, id_column = order
    filtered = query.where(*conditions)
    page_query = filtered
    if after is not None:
        # A row-value comparison: both databases walk the (timestamp, id) index from it.
        key = tuple_(at_column, id_column)
        position = (after.at, after.id)
        page_query = page_query.where(key > position if ascending else key < position)
    ordering = (
        (at_column.asc(), id_column.asc()) if ascending else (at_column.desc(), id_column.desc())
    )
    page_query = page_query.order_by(*ordering).limit(limit + 1)
    rows = list((await session.execute(page_query)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode(getattr(last, at_column.key), getattr(last, id_column.key))
    total = None
    if with_total:
        counted = select(func.count()).select_from(filtered.order_by(None).subquery())
        total = int(await session.scalar(counted) or 0)
    return rows, next_cursor, total
