"""Administering users: email normalisation and uniqueness, the password policy, argon2
parameters and rehashing, the user list, the last administrator."""

import pytest
from argon2 import PasswordHasher

from tests.accounts.conftest import (
    PASSWORD,
    PRODUCTION_HASHER,
    Clock,
    CountingHasher,
    audit_actions,
    create,
    enrolled,
    user_row,
)
from tuslog import errors
from tuslog.db.models import UserRole
from tuslog.services import accounts, passwords, signin
from tuslog.services.auth_context import Auth


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice.Smith@Example.COM\n", "alice.smith@example.com"),
        ("\uff42\uff4f\uff42@example.com", "bob@example.com"),  # full-width letters (NFKC)
        ("jörg@bücher.example", "jörg@bücher.example"),
        ("ops+tuslog@sub.example.org", "ops+tuslog@sub.example.org"),
    ],
)
def test_email_normalisation(typed: str, stored: str) -> None:
    assert accounts.normalise_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "alice",
        "@example.com",
        "alice@",
        "alice@@example.com",
        "al ice@example.com",
        "<alice>@example.com",
        ".alice@example.com",
        "al..ice@example.com",
        "alice@exa_mple.com",
        "alice@-example.com",
        "alice@example..com",
        "a" * 250 + "@example.com",
        "alice\x00@example.com",
    ],
)
def test_invalid_emails_are_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(errors.TuslogError) as caught:
        accounts.normalise_email(typed)
    assert caught.value.code == "invalid_value"
    assert caught.value.message.endswith(".") and "\x00" not in caught.value.message


async def test_one_account_per_address_whatever_the_case(auth: Auth) -> None:
    await create(auth, "alice@example.com")
    with pytest.raises(errors.TuslogError) as caught:
        await create(auth, "ALICE@Example.com")
    assert caught.value.code == "user_exists"
    assert "alice@example.com" in caught.value.message
    assert await signin.password_step(auth, "Alice@EXAMPLE.com", PASSWORD, client_ip=None)
    async with auth.sessions() as session:
        assert [u.email for u in await accounts.list_users(session)] == ["alice@example.com"]


@pytest.mark.parametrize(
    ("password", "hint"),
    [
        ("short one", "at least 12"),
        ("Password2024!", "too easy"),
        ("P@ssw0rd12345", "too easy"),
        ("qwertyuiop123", "too easy"),
        ("aaaaaaaaaaaaaaaa", "too easy"),
        ("alice.example2024", "too easy"),  # the email's parts
        ("Summer2024!Summer", "too easy"),
        ("abcabcabcabc", "too easy"),
        ("tab\tinside password", "control characters"),
        ("x" * 1025, "at most 1024"),
    ],
)
async def test_weak_passwords_are_refused(auth: Auth, password: str, hint: str) -> None:
    with pytest.raises(errors.TuslogError) as caught:
        async with auth.sessions.begin() as session:
            await accounts.create_user(session, "alice@example.com", password, actor="test")
    assert caught.value.code == "weak_password" and caught.value.status == 422
    assert hint in caught.value.message
    async with auth.sessions() as session:
        assert await accounts.list_users(session) == []


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "Tr0ub4dor&3xy", "zq8#Lm2@vX9p", PASSWORD]
)
def test_reasonable_passwords_pass(password: str) -> None:
    passwords.check_policy(password, email="alice@example.com")


async def test_passwords_match_in_any_unicode_form(auth: Auth) -> None:
    composed = "Crème brûlée au four 7"
    decomposed = "Cre\u0300me bru\u0302le\u0301e au four 7"
    async with auth.sessions.begin() as session:
        await accounts.create_user(session, "chef@example.com", composed, actor="test")
    assert await signin.password_step(auth, "chef@example.com", decomposed, client_ip=None)


def test_production_hasher_uses_the_argon2_cffi_defaults() -> None:
    """The other tests run with a cheaper hasher; the one the service ships is this."""
    defaults = PasswordHasher()
    assert PRODUCTION_HASHER is not passwords.HASHER
    for name in ("time_cost", "memory_cost", "parallelism", "hash_len", "salt_len", "type"):
        assert getattr(PRODUCTION_HASHER, name) == getattr(defaults, name)


async def test_hash_is_upgraded_when_parameters_change(
    auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create(auth)
    before = (await user_row(auth, "alice@example.com")).password_hash
    assert before.startswith("$argon2id$") and "m=1024,t=1,p=1" in before
    monkeypatch.setattr(passwords, "HASHER", CountingHasher(time_cost=2, memory_cost=2048))
    assert await signin.password_step(auth, "alice@example.com", PASSWORD, client_ip=None)
    after = (await user_row(auth, "alice@example.com")).password_hash
    assert "m=2048,t=2,p=1" in after and after != before
    assert await signin.password_step(auth, "alice@example.com", PASSWORD, client_ip=None)
    assert (await user_row(auth, "alice@example.com")).password_hash == after  # no churn


async def test_user_list_and_admin_audit(auth: Auth, clock: Clock) -> None:
    await enrolled(auth, clock, "root@example.com", role=UserRole.ADMIN)
    await create(auth, "bob@example.com")
    async with auth.sessions.begin() as session:
        await accounts.deactivate(session, "BOB@example.com", actor="root@example.com")
        listed = await accounts.list_users(session)
    assert [(u.email, u.role, u.active, u.two_factor, u.recovery_codes_left) for u in listed] == [
        ("bob@example.com", UserRole.STAFF, False, False, 0),
        ("root@example.com", UserRole.ADMIN, True, True, 10),
    ]
    created = await audit_actions(auth, "user.created")
    assert [(e.subject, e.details) for e in created] == [
        ("root@example.com", {"role": "admin"}),
        ("bob@example.com", {"role": "staff"}),
    ]


async def test_the_last_active_admin_stays(auth: Auth) -> None:
    await create(auth, "root@example.com", role=UserRole.ADMIN)
    with pytest.raises(errors.TuslogError) as caught:
        async with auth.sessions.begin() as session:
            await accounts.deactivate(session, "root@example.com", actor="cli")
    assert caught.value.code == "last_admin"
    await create(auth, "second@example.com", role=UserRole.ADMIN)
    async with auth.sessions.begin() as session:
        await accounts.deactivate(session, "root@example.com", actor="cli")


async def test_unknown_user_is_a_clear_error(auth: Auth) -> None:
    for action in (accounts.deactivate, accounts.reset_second_factor, accounts.reactivate):
        with pytest.raises(errors.TuslogError) as caught:
            async with auth.sessions.begin() as session:
                await action(session, "Nobody@example.com", actor="cli")
        assert caught.value.code == "user_not_found"
        assert caught.value.message == "No user nobody@example.com."
