"""What the server stored, as the tus tests read it: upload rows and token uses (through
their own queries, ``sessions(settings)``), and the data files on disk.
"""

from typing import Any

from sqlalchemy import select

from tests.conftest import sessions
from tests.fakes import data_path
from tuslog.db.models import Upload, UploadToken
from tuslog.settings import Settings
from tuslog.uploads import records


async def db_uploads(settings: Settings) -> dict[str, Upload]:
    async with sessions(settings)() as session:
        rows = await records.list_for(session, None)
    return {upload.id: upload for upload, _ in rows}


async def db_token(settings: Settings, prefix: str) -> UploadToken:
    async with sessions(settings)() as session:
        token = await session.scalar(select(UploadToken).where(UploadToken.prefix == prefix))
    assert token is not None
    return token


async def db_execute(settings: Settings, statement: Any) -> None:
    async with sessions(settings).begin() as session:
        await session.execute(statement)


def data_of(settings: Settings, upload_id: str) -> bytes | None:
    path = data_path(settings.storage_dir, upload_id)
    return path.read_bytes() if path.exists() else None


def data_files(settings: Settings) -> dict[str, bytes]:
    root = settings.storage_dir
    if not root.exists():
        return {}
    return {
        path.name: path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".locks" not in path.relative_to(root).parts
    }


def upload_id_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


async def stored(settings: Settings, prefix: str) -> tuple[dict[str, Upload], int]:
    """Upload rows (through the service) and the token's used attempts."""
    return await db_uploads(settings), (await db_token(settings, prefix)).uses
