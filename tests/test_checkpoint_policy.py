"""When a long body is synced and its offset recorded (tuslog.uploads.offsets): by bytes,
by time once a little has arrived, and rarely for a client that trickles."""

import pytest

from tuslog.uploads.offsets import CheckpointPolicy

MIB = 1024 * 1024
POLICY = CheckpointPolicy(every_bytes=64 * MIB, every_seconds=2.0)


@pytest.mark.parametrize(
    ("pending", "seconds", "due"),
    [
        (64 * MIB, 0.0, True),  # enough bytes: at once
        (64 * MIB - 1, 0.0, False),
        (CheckpointPolicy.SMALL, 2.0, True),  # a normal client: every two seconds
        (CheckpointPolicy.SMALL, 1.9, False),
        (6, 2.0, False),  # six bytes in two seconds: not worth a sync and a write
        (6, 59.9, False),
        (6, 60.0, True),  # …but never more than a minute of a slow client at risk
        (0, 600.0, False),  # nothing new
    ],
)
def test_when_a_checkpoint_is_due(pending: int, seconds: float, due: bool) -> None:
    covered = 10 * MIB
    assert POLICY.due(covered + pending, covered, seconds) is due


def test_a_longer_interval_is_kept_for_slow_clients_too() -> None:
    policy = CheckpointPolicy(every_bytes=64 * MIB, every_seconds=300.0)
    assert not policy.due(6, 0, 120.0)
    assert policy.due(6, 0, 300.0)
