"""Helper for CLI tests: one real finished upload through the app's own services."""

import asyncio
import hashlib
from pathlib import Path

from tuslog.db.engine import create_engine, session_factory
from tuslog.db.models import Upload, UploadState
from tuslog.services import tickets, tokens
from tuslog.settings import Settings
from tuslog.storage.filestore import FileStore


def make_upload(settings: Settings, number: str) -> Path:
    async def work() -> Path:
        engine = create_engine(settings.database_url)
        store = FileStore(settings.storage_dir)
        store.prepare()
        try:
            async with session_factory(engine).begin() as session:
                ticket = await tickets.get(session, number)
                issued = await tokens.issue(
                    session, number, uploads=1, ttl=settings.token_ttl, max_bytes=None, actor="t"
                )
                upload_id = "ab" * 16
                store.create(upload_id)
                session.add(
                    Upload(
                        id=upload_id,
                        ticket_id=ticket.id,
                        token_id=issued.record.id,
                        length=0,
                        state=UploadState.COMPLETE,
                        sha256=hashlib.sha256(b"").hexdigest(),
                    )
                )
            return store.path(upload_id)
        finally:
            await engine.dispose()

    return asyncio.run(work())
