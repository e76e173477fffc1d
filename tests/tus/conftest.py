"""Settings for the tus tests (a small Tus-Max-Size, one browser origin) and an engine for
their own queries.
"""

from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.tus.table import MAX, ORIGIN
from tuslog.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A small Tus-Max-Size (so 413 is cheap to reach) and one browser origin."""
    return make_settings(database_url, tmp_path, max_upload_size=MAX, cors_origins=[ORIGIN])


@pytest.fixture(autouse=True)
async def _engine(assertion_db: None) -> None:
    """The assertions' own queries go through ``sessions(settings)``."""
