"""Failure limits: per account and per client address, in the database, and not raced by
concurrent attempts (each reserves its place before it is checked)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.accounts.conftest import (
    PASSWORD,
    Clock,
    CountingHasher,
    WorkerFactory,
    audit_actions,
    create,
    enrolled,
    outcomes,
    pending_session,
)
from tuslog import errors
from tuslog.db.models import FailureCounter
from tuslog.services import signin, throttle, totp
from tuslog.services.auth_context import Auth

WRONG = "definitely not the password"


@pytest.mark.parametrize("spread", [1, 2], ids=["one worker", "two workers"])
async def test_concurrent_wrong_passwords_check_at_most_the_limit(
    worker: WorkerFactory, clock: Clock, hasher: CountingHasher, spread: int
) -> None:
    workers = [worker(signin_failure_limit=5) for _ in range(spread)]
    await create(workers[0])
    hasher.verified = 0
    results = await outcomes(
        [
            signin.password_step(
                workers[i % spread], "alice@example.com", WRONG, client_ip=f"198.51.100.{i}"
            )
            for i in range(30)
        ]
    )
    assert sorted(results) == ["invalid_credentials"] * 5 + ["sign_in_locked"] * 25
    assert hasher.verified == 5  # only the reserved attempts were checked at all
    # Now even the right password waits for the window to pass.
    with pytest.raises(errors.TuslogError) as caught:
        await signin.password_step(workers[0], "alice@example.com", PASSWORD, client_ip=None)
    assert caught.value.code == "sign_in_locked" and caught.value.status == 429
    assert caught.value.retry_after == 15 * 60
    assert "15 minutes" in caught.value.message
    clock.advance(timedelta(minutes=14))
    with pytest.raises(errors.TuslogError) as caught:
        await signin.password_step(workers[0], "alice@example.com", PASSWORD, client_ip=None)
    assert caught.value.retry_after == 60
    clock.advance(timedelta(minutes=1))
    assert await signin.password_step(workers[0], "alice@example.com", PASSWORD, client_ip=None)
    failed = await audit_actions(workers[0], "signin.failed")
    locked = await audit_actions(workers[0], "signin.locked")
    assert len(failed) == 5 and {e.details["reason"] for e in failed} == {"wrong_password"}
    assert [(e.subject, e.details["counter"]) for e in locked] == [
        ("alice@example.com", "password")
    ]


async def test_concurrent_attempts_from_one_address_check_at_most_its_limit(
    worker: WorkerFactory, hasher: CountingHasher
) -> None:
    auth = worker(signin_ip_failure_limit=8)
    hasher.verified = 0
    results = await outcomes(
        [
            signin.password_step(auth, f"user{i}@example.com", WRONG, client_ip="203.0.113.5")
            for i in range(20)
        ]
    )
    assert sorted(results) == ["invalid_credentials"] * 8 + ["sign_in_locked"] * 12
    assert hasher.verified == 8
    # Another address is not affected; a neighbour in the same IPv6 /64 is.
    assert await outcomes(
        [signin.password_step(auth, "x@example.com", WRONG, client_ip="203.0.113.6")]
    ) == ["invalid_credentials"]
    v6 = worker(signin_ip_failure_limit=2)
    first = [
        signin.password_step(v6, "y@example.com", WRONG, client_ip=f"2001:db8:1:2::{i}")
        for i in range(1, 3)
    ]
    assert await outcomes(first) == ["invalid_credentials"] * 2
    assert await outcomes(
        [signin.password_step(v6, "z@example.com", WRONG, client_ip="2001:db8:1:2:ffff::9")]
    ) == ["sign_in_locked"]
    assert await outcomes(
        [signin.password_step(v6, "z@example.com", WRONG, client_ip="2001:db8:1:3::1")]
    ) == ["invalid_credentials"]


async def test_concurrent_wrong_codes_check_at_most_the_limit(
    worker: WorkerFactory, clock: Clock
) -> None:
    workers = [worker(second_factor_failure_limit=3) for _ in range(2)]
    staff = await enrolled(workers[0], clock)
    assert staff.secret is not None
    pendings = [await pending_session(workers[i % 2], staff) for i in range(12)]
    right = totp.code_at(staff.secret, clock.now)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    results = await outcomes(
        [
            signin.second_factor(workers[i % 2], pending, wrong, client_ip=None)
            for i, pending in enumerate(pendings)
        ]
    )
    assert sorted(results) == ["second_factor_invalid"] * 3 + ["sign_in_locked"] * 9
    # The account's code counter is full: even the right code waits (a new session too).
    for pending in (pendings[0], await pending_session(workers[1], staff)):
        with pytest.raises(errors.TuslogError) as caught:
            await signin.second_factor(workers[1], pending, right, client_ip=None)
        assert caught.value.code == "sign_in_locked"


async def test_unknown_email_answers_like_a_wrong_password(
    auth: Auth, hasher: CountingHasher
) -> None:
    await create(auth)
    answers = []
    for email in ("alice@example.com", "nobody@example.com", "not an email"):
        hasher.verified = 0
        with pytest.raises(errors.TuslogError) as caught:
            await signin.password_step(auth, email, WRONG, client_ip="192.0.2.1")
        answers.append((caught.value.code, caught.value.status, caught.value.message))
        assert hasher.verified == 1  # the same argon2 work, against a dummy hash if need be
    assert len(set(answers)) == 1
    failed = await audit_actions(auth, "signin.failed")
    assert [(e.actor, e.subject, e.details["reason"]) for e in failed] == [
        ("anonymous", "alice@example.com", "wrong_password"),
        ("anonymous", "nobody@example.com", "unknown_email"),
        ("anonymous", "(not an email address)", "unknown_email"),  # it may be a password
    ]


async def test_unknown_email_is_locked_like_a_real_one(worker: WorkerFactory) -> None:
    auth = worker(signin_failure_limit=2)
    await create(auth)
    for email in ("alice@example.com", "nobody@example.com"):
        results = await outcomes(
            [signin.password_step(auth, email, WRONG, client_ip=None) for _ in range(3)]
        )
        assert sorted(results) == ["invalid_credentials"] * 2 + ["sign_in_locked"]


async def test_a_success_gives_its_attempt_back(worker: WorkerFactory) -> None:
    auth = worker(signin_failure_limit=3)
    await create(auth)
    email = "alice@example.com"
    results = []
    for password in (WRONG, WRONG, PASSWORD, PASSWORD, WRONG):
        results += await outcomes([signin.password_step(auth, email, password, client_ip=None)])
    assert results == ["invalid_credentials"] * 2 + ["ok"] * 2 + ["invalid_credentials"]
    locked = await audit_actions(auth, "signin.locked")
    assert [(e.details["counter"], e.details["limit"]) for e in locked] == [("password", 3)]
    with pytest.raises(errors.TuslogError) as caught:
        await signin.password_step(auth, email, PASSWORD, client_ip=None)
    assert caught.value.code == "sign_in_locked"


async def test_counters_are_purged_after_their_window(worker: WorkerFactory, clock: Clock) -> None:
    auth = worker()
    await outcomes([signin.password_step(auth, "a@example.com", WRONG, client_ip="192.0.2.1")])
    async with auth.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(FailureCounter)) == 2
    assert await throttle.purge(auth) == 0
    clock.advance(auth.settings.signin_failure_window)
    assert await throttle.purge(auth) == 2


def test_addresses_are_counted_per_host_or_ipv6_64() -> None:
    assert throttle.address_subject("192.0.2.1") == "192.0.2.1"
    assert throttle.address_subject("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.address_subject("2001:db8::1") == "2001:db8::/64"
    assert throttle.address_subject("2001:db8::2") == "2001:db8::/64"
    assert throttle.address_subject(None) is None
