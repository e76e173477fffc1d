"""What the uploads hold and are owed, from the database (the disk's own figures come
from the ``Store``; ``tuslog.uploads`` puts both together)."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.db.models import GONE_STATES, Upload, UploadState


async def promised_bytes(session: AsyncSession) -> int:
    """Bytes still owed to unfinished uploads of known length: admission keeps them free."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Upload.length - Upload.offset), 0)).where(
            Upload.state == UploadState.RECEIVING, Upload.length.is_not(None)
        )
    )
    return int(total or 0)


async def stored_bytes(session: AsyncSession) -> tuple[int, int]:
    """How many uploads have bytes on disk, and how many bytes they hold."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Upload.offset), 0)).where(
                Upload.state.not_in(GONE_STATES)
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)
