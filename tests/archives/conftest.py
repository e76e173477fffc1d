import pytest

from tuslog.archives import Caps


@pytest.fixture
def small_caps() -> Caps:
    """Caps small enough that a test reaches them in milliseconds."""
    return Caps(max_ratio=50, ratio_grace_bytes=1024 * 1024, max_total_bytes=64 * 1024 * 1024)
