"""The code step: TOTP codes accepted once (also by two workers at the same moment),
recovery codes spent once (also concurrently), and new recovery codes."""

import pytest

from tests.accounts.conftest import (
    PASSWORD,
    STEP,
    Clock,
    WorkerFactory,
    audit_actions,
    current,
    enrolled,
    outcomes,
    pending_session,
    user_row,
)
from tuslog import errors
from tuslog.services import self_service, sessions, signin, totp
from tuslog.services.auth_context import Auth


async def test_totp_sign_in_rotates_the_session(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    accepted = await signin.password_step(auth, staff.email, PASSWORD, client_ip="192.0.2.9")
    assert not accepted.needs_enrolment
    pending = await current(auth, accepted.token)
    assert staff.secret is not None
    done = await signin.second_factor(
        auth, pending, totp.code_at(staff.secret, clock.now), client_ip="192.0.2.9"
    )
    assert await sessions.resolve(auth, accepted.token) is None
    signed_in = await current(auth, done.token)
    assert signed_in.signed_in and signed_in.session_id == pending.session_id
    assert signed_in.csrf_token != pending.csrf_token
    assert done.recovery_codes_left is None and done.new_recovery_codes == ()
    last = (await audit_actions(auth, "signin"))[-1]
    assert (last.actor, last.client_ip, last.details) == (
        staff.email,
        "192.0.2.9",
        {"method": "totp"},
    )


async def test_codes_of_neighbouring_steps_count_for_clock_drift(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    assert staff.secret is not None
    for offset, accepted in ((-2 * STEP, False), (-STEP, True), (2 * STEP, False)):
        clock.advance(3 * STEP)  # a fresh step each round: no replays involved
        pending = await pending_session(auth, staff)
        code = totp.code_at(staff.secret, clock.now + offset)
        result = await outcomes([signin.second_factor(auth, pending, code, client_ip=None)])
        assert result == (["ok"] if accepted else ["second_factor_invalid"])


async def test_a_used_code_is_refused(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    assert staff.secret is not None
    code = totp.code_at(staff.secret, clock.now)
    await signin.second_factor(auth, await pending_session(auth, staff), code, client_ip=None)
    again = await pending_session(auth, staff)
    with pytest.raises(errors.TuslogError) as caught:
        await signin.second_factor(auth, again, code, client_ip=None)
    assert caught.value.code == "second_factor_invalid"
    assert (await audit_actions(auth, "signin.failed"))[-1].details == {"reason": "code_reused"}
    # An older code than the last one used is refused too, even within the drift window.
    clock.advance(STEP)
    older = totp.code_at(staff.secret, clock.now - STEP)
    with pytest.raises(errors.TuslogError):
        await signin.second_factor(auth, again, older, client_ip=None)
    fresh = totp.code_at(staff.secret, clock.now)
    assert (await signin.second_factor(auth, again, fresh, client_ip=None)).token


@pytest.mark.parametrize("round_", range(3))
async def test_one_code_accepted_once_across_workers(
    worker: WorkerFactory, clock: Clock, round_: int
) -> None:
    """Six sign-ins on two "workers" (separate engines and pools) send the same valid
    code at the same moment: exactly one gets in. (The failure limit is raised: all six
    reserve their attempt before any is checked.)"""
    workers = [worker(second_factor_failure_limit=20) for _ in range(2)]
    staff = await enrolled(workers[0], clock)
    assert staff.secret is not None
    pendings = [await pending_session(workers[i % 2], staff) for i in range(6)]
    code = totp.code_at(staff.secret, clock.now)
    results = await outcomes(
        [
            signin.second_factor(workers[i % 2], pending, code, client_ip=f"192.0.2.{i}")
            for i, pending in enumerate(pendings)
        ]
    )
    assert sorted(results) == ["ok"] + ["second_factor_invalid"] * 5
    user = await user_row(workers[1], staff.email)
    assert user.totp_last_step == totp.pyotp.TOTP(staff.secret).timecode(clock.now)


async def test_recovery_code_signs_in_once(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    code = staff.recovery_codes[3]
    typed = "  " + code.upper().replace("-", " ") + " "  # as someone might type it
    done = await signin.second_factor(
        auth, await pending_session(auth, staff), typed, client_ip=None
    )
    assert done.recovery_codes_left == 9
    assert (await current(auth, done.token)).signed_in
    assert (await audit_actions(auth, "signin"))[-1].details == {
        "method": "recovery_code",
        "recovery_codes_left": 9,
    }
    with pytest.raises(errors.TuslogError) as caught:
        await signin.second_factor(auth, await pending_session(auth, staff), code, client_ip=None)
    assert caught.value.code == "second_factor_invalid"
    assert (await audit_actions(auth, "signin.failed"))[-1].details == {
        "reason": "wrong_recovery_code"
    }


async def test_one_recovery_code_spent_once_under_concurrency(
    worker: WorkerFactory, clock: Clock
) -> None:
    workers = [worker(second_factor_failure_limit=20) for _ in range(2)]
    staff = await enrolled(workers[0], clock)
    pendings = [await pending_session(workers[i % 2], staff) for i in range(6)]
    code = staff.recovery_codes[0]
    results = await outcomes(
        [
            signin.second_factor(workers[i % 2], pending, code, client_ip=None)
            for i, pending in enumerate(pendings)
        ]
    )
    assert sorted(results) == ["ok"] + ["second_factor_invalid"] * 5
    # The other nine still work.
    later = await signin.second_factor(
        workers[1],
        await pending_session(workers[1], staff),
        staff.recovery_codes[1],
        client_ip=None,
    )
    assert later.recovery_codes_left == 8


async def test_the_same_session_cannot_complete_twice(auth: Auth, clock: Clock) -> None:
    """Two code submissions of one pending session (a double click) with a recovery code
    each: one signs in; the other is refused and its code stays unused."""
    staff = await enrolled(auth, clock)
    pending = await pending_session(auth, staff)
    first, second = staff.recovery_codes[0], staff.recovery_codes[1]
    results = await outcomes(
        [
            signin.second_factor(auth, pending, first, client_ip=None),
            signin.second_factor(auth, pending, second, client_ip=None),
        ]
    )
    assert sorted(results) == ["ok", "session_invalid"]
    unused = second if results[0] == "ok" else first
    done = await signin.second_factor(
        auth, await pending_session(auth, staff), unused, client_ip=None
    )
    assert done.recovery_codes_left == 8


async def test_regenerated_codes_replace_the_old_ones(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    signed_in = await current(auth, staff.token)
    with pytest.raises(errors.TuslogError) as caught:
        await self_service.regenerate_recovery_codes(
            auth, signed_in, password="not my password at all", client_ip=None
        )
    assert caught.value.code == "invalid_credentials"
    fresh = await self_service.regenerate_recovery_codes(
        auth, signed_in, password=PASSWORD, client_ip=None
    )
    assert len(fresh) == 10 and not set(fresh) & set(staff.recovery_codes)
    with pytest.raises(errors.TuslogError):
        await signin.second_factor(
            auth, await pending_session(auth, staff), staff.recovery_codes[5], client_ip=None
        )
    done = await signin.second_factor(
        auth, await pending_session(auth, staff), fresh[5], client_ip=None
    )
    assert done.recovery_codes_left == 9
    assert [e.action for e in await audit_actions(auth, "recovery_codes.regenerated")] == [
        "recovery_codes.regenerated"
    ]


async def test_malformed_codes_are_just_wrong(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    pending = await pending_session(auth, staff)
    for code in ("", "12345", "١٢٣٤٥٦", "abcd-efgh", "x" * 5000):  # 5: the default limit
        with pytest.raises(errors.TuslogError) as caught:
            await signin.second_factor(auth, pending, code, client_ip=None)
        assert caught.value.code == "second_factor_invalid"
    reasons = [event.details["reason"] for event in await audit_actions(auth, "signin.failed")]
    assert reasons == ["wrong_code"] * 5
