"""First sign-in: password, then TOTP enrolment confirmed by one code, ten recovery codes
shown once; the secret at rest; what a pending session cannot do."""

import re

import pytest
from sqlalchemy import select

from tests.accounts.conftest import (
    PASSWORD,
    STEP,
    Clock,
    WorkerFactory,
    audit_actions,
    create,
    current,
    enrolled,
    outcomes,
    pending_session,
    user_row,
)
from tuslog import errors
from tuslog.db.models import RecoveryCode, SessionStage
from tuslog.services import recovery, sessions, signin, totp
from tuslog.services.auth_context import Auth

KEY_A = "a" * 16 + "0123456789abcdef"
KEY_B = "b" * 16 + "fedcba9876543210"


async def test_first_sign_in_enrols_totp(auth: Auth, clock: Clock) -> None:
    await create(auth)
    accepted = await signin.password_step(
        auth, " Alice@Example.com", PASSWORD, client_ip="192.0.2.7", user_agent="Firefox"
    )
    assert accepted.needs_enrolment
    pending = await current(auth, accepted.token)
    assert pending.stage is SessionStage.PENDING
    with pytest.raises(errors.TuslogError) as caught:
        sessions.require_signed_in(pending)
    assert caught.value.code == "second_factor_required"

    setup = await signin.enrolment(auth, pending)
    assert re.fullmatch(r"[A-Z2-7]{32}", setup.secret)
    assert setup.uri.startswith("otpauth://totp/tuslog:alice%40example.com?")
    assert f"secret={setup.secret}" in setup.uri and "issuer=tuslog" in setup.uri
    assert setup.qr_svg.startswith("<svg") and "alice" not in setup.qr_svg
    assert setup.secret_grouped.replace(" ", "") == setup.secret
    again = await signin.enrolment(auth, pending)  # a reloaded page shows the same QR code
    assert again.secret == setup.secret

    with pytest.raises(errors.TuslogError) as caught:
        await signin.confirm_enrolment(auth, pending, "000000", client_ip="192.0.2.7")
    assert caught.value.code == "second_factor_invalid"
    done = await signin.confirm_enrolment(
        auth, pending, totp.code_at(setup.secret, clock.now), client_ip="192.0.2.7"
    )

    assert await sessions.resolve(auth, accepted.token) is None  # the id was rotated
    signed_in = await current(auth, done.token)
    assert signed_in.signed_in and signed_in.csrf_token != pending.csrf_token
    assert len(done.new_recovery_codes) == recovery.COUNT == 10
    assert len(set(done.new_recovery_codes)) == 10
    assert all(re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", c) for c in done.new_recovery_codes)
    user = await user_row(auth, "alice@example.com")
    assert user.totp_enrolled_at == clock.now and user.last_sign_in_at == clock.now
    actions = [event.action for event in await audit_actions(auth)]
    assert actions == [
        "user.created",
        "signin.password",
        "signin.failed",
        "user.2fa_enrolled",
        "signin",
    ]


async def test_recovery_codes_are_stored_hashed(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    async with auth.sessions() as session:
        stored = list(await session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    for code in staff.recovery_codes:
        assert code.replace("-", "") not in "".join(stored)
        assert recovery.hash_code(recovery.normalise(code) or "") in stored


async def test_pending_session_reaches_nothing_else(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    pending = await pending_session(auth, staff)
    for guard in (sessions.require_signed_in, sessions.require_admin):
        with pytest.raises(errors.TuslogError) as caught:
            guard(pending)
        assert caught.value.code == "second_factor_required"
    with pytest.raises(errors.TuslogError) as caught:
        await sessions.sign_out_others(auth, pending, client_ip=None)
    assert caught.value.code == "second_factor_required"
    with pytest.raises(errors.TuslogError) as caught:  # enrolled already: no new secret
        await signin.enrolment(auth, pending)
    assert caught.value.code == "already_enrolled"
    signed_in = await current(auth, staff.token)
    with pytest.raises(errors.TuslogError) as caught:  # a signed-in session has no steps left
        await signin.second_factor(auth, signed_in, "123456", client_ip=None)
    assert caught.value.code == "session_invalid"


async def test_code_step_before_enrolment_says_enrol(auth: Auth) -> None:
    staff = await create(auth)
    pending = await pending_session(auth, staff)
    with pytest.raises(errors.TuslogError) as caught:
        await signin.second_factor(auth, pending, "123456", client_ip=None)
    assert caught.value.code == "not_enrolled"
    with pytest.raises(errors.TuslogError) as caught:  # confirming before the QR was shown
        await signin.confirm_enrolment(auth, pending, "123456", client_ip=None)
    assert caught.value.code == "not_enrolled"


async def test_two_sessions_enrolling_at_once_end_with_one_secret(
    worker: WorkerFactory, clock: Clock
) -> None:
    first, second = worker(), worker()
    staff = await create(first)
    one, two = await pending_session(first, staff), await pending_session(second, staff)
    secret_one = (await signin.enrolment(first, one)).secret
    secret_two = (await signin.enrolment(second, two)).secret
    assert secret_one != secret_two
    codes = [totp.code_at(secret, clock.now) for secret in (secret_one, secret_two)]
    results = await outcomes(
        [
            signin.confirm_enrolment(first, one, codes[0], client_ip=None),
            signin.confirm_enrolment(second, two, codes[1], client_ip=None),
        ]
    )
    assert sorted(results) == ["already_enrolled", "ok"]
    winner = secret_one if results[0] == "ok" else secret_two
    user = await user_row(first, staff.email)
    assert user.totp_secret is not None and first.cipher.open(user.totp_secret) == winner
    clock.advance(STEP)
    again = await pending_session(first, staff)
    assert (
        await signin.second_factor(first, again, totp.code_at(winner, clock.now), client_ip=None)
    ).token


async def test_secret_unencrypted_without_keys(auth: Auth, clock: Clock) -> None:
    staff = await enrolled(auth, clock)
    user = await user_row(auth, staff.email)
    assert user.totp_secret == f"plain:{staff.secret}"


async def test_secret_sealed_with_key_and_resealed_after_rotation(
    worker: WorkerFactory, clock: Clock
) -> None:
    old = worker(totp_keys=KEY_A)
    staff = await enrolled(old, clock)
    assert staff.secret is not None
    sealed = (await user_row(old, staff.email)).totp_secret
    assert sealed is not None and sealed.startswith("box1:") and staff.secret not in sealed

    rotated = worker(totp_keys=f"{KEY_B},{KEY_A}")  # B seals from now on, A still opens
    pending = await pending_session(rotated, staff)
    await signin.second_factor(
        rotated, pending, totp.code_at(staff.secret, clock.now), client_ip=None
    )
    resealed = (await user_row(rotated, staff.email)).totp_secret
    assert resealed is not None and resealed != sealed
    assert worker(totp_keys=KEY_B).cipher.open(resealed) == staff.secret

    clock.advance(STEP)
    without_key = worker(totp_keys=KEY_A)  # B is gone: the secret cannot be read
    pending = await pending_session(without_key, staff)
    with pytest.raises(errors.TuslogError) as caught:
        await signin.second_factor(
            without_key, pending, totp.code_at(staff.secret, clock.now), client_ip=None
        )
    assert caught.value.code == "totp_key_missing"


async def test_reseal_all_after_adding_a_key(worker: WorkerFactory, clock: Clock) -> None:
    plain = worker()
    staff = await enrolled(plain, clock)
    await enrolled(plain, clock, "bob@example.com")
    keyed = worker(totp_keys=KEY_A)
    async with keyed.sessions.begin() as session:
        assert await totp.reseal_all(session, keyed.cipher) == 2
    async with keyed.sessions.begin() as session:
        assert await totp.reseal_all(session, keyed.cipher) == 0
    stored = (await user_row(keyed, staff.email)).totp_secret
    assert stored is not None and stored.startswith("box1:")
    assert keyed.cipher.open(stored) == staff.secret
