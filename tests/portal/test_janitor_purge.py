"""The janitor's pass also deletes portal sessions that can no longer be used and sign-in
failure counters whose window is over (tuslog.services.sessions.purge_expired and
tuslog.services.throttle.purge, run by tuslog.uploads.janitor)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import sessions
from tests.test_cli_support import _running
from tuslog.db.models import FailureCounter, SessionStage, StaffSession, User, utcnow
from tuslog.settings import Settings


async def test_a_janitor_pass_purges_dead_sessions_and_old_counters(
    settings: Settings, assertion_db: None
) -> None:
    now = utcnow()
    async with sessions(settings).begin() as session:
        user = User(email="old@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        for selector, stage, created, seen in (
            ("pending-old", SessionStage.PENDING, now - timedelta(hours=1), now),
            ("pending-new", SessionStage.PENDING, now, now),
            ("idle", SessionStage.SIGNED_IN, now - timedelta(hours=2), now - timedelta(hours=1)),
            ("live", SessionStage.SIGNED_IN, now - timedelta(hours=2), now),
        ):
            session.add(
                StaffSession(
                    selector=selector,
                    verifier_hash="0" * 64,
                    user_id=user.id,
                    stage=stage,
                    csrf_secret="c",
                    created_at=created,
                    signed_in_at=created if stage is SessionStage.SIGNED_IN else None,
                    last_seen_at=seen,
                )
            )
        session.add(FailureCounter(key="a" * 64, window_start=now - timedelta(hours=1), attempts=3))
        session.add(FailureCounter(key="b" * 64, window_start=now, attempts=3))
    async for engine in _running(settings):
        await engine.janitor.sweep()
    async with sessions(settings)() as session:
        left = set(await session.scalars(select(StaffSession.selector)))
        counters = await session.scalar(select(func.count()).select_from(FailureCounter))
    assert left == {"pending-new", "live"}
    assert counters == 1
