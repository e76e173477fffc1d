"""Operational log lines that the engine asks for in one call: what an operator must hear
about and a client's answer alone would not tell (the client gets its 503 either way)."""

import logging
from typing import TYPE_CHECKING

from tuslog.uploads.source import Stop

if TYPE_CHECKING:
    from tuslog.uploads.parts import Parts

log = logging.getLogger("tuslog.storage")


async def stopped(parts: "Parts", upload_id: str, stop: Stop | None, offset: int) -> None:
    """A body stopped before its end. A full disk is the operator's to fix: one warning
    (repeats are throttled, ``tuslog.logs.repeats``) with the upload and the free bytes."""
    if stop is not Stop.DISK_FULL:
        return
    try:
        free: int | str = await parts.free_space()
    except OSError as exc:
        free = f"unknown ({exc.strerror or exc})"
    log.warning(
        "storage full while receiving upload %s: %d bytes kept, %s bytes free; the client "
        "was told to retry (503)",
        upload_id,
        offset,
        free,
        extra={"upload_id": upload_id, "offset": offset, "free_bytes": free},
    )
