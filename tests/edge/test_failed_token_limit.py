"""The failed-token limit cannot be raced, and it limits failures only: a customer behind
the same address (NAT) as someone guessing tokens keeps working."""

import asyncio
from typing import Any

import pytest

from tests import tus
from tests.conftest import issue_token, make_settings
from tuslog.app import create_app
from tuslog.http import ratelimit
from tuslog.http.ratelimit import FailureLimiter
from tuslog.services import tokens

BAD = {"Authorization": "Bearer tlu_aaaaaaaa_" + "x" * 43, "Tus-Resumable": "1.0.0"}


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a presented token was looked up in the database."""
    seen: list[int] = []
    real = tokens.authenticate

    async def counted(session: Any, token: str | None) -> Any:
        seen.append(1)
        return await real(session, token)

    monkeypatch.setattr(tokens, "authenticate", counted)
    return seen


async def test_concurrent_guesses_are_counted_before_they_are_checked(
    aiohttp_client: Any, database_url: str, tmp_path: Any, lookups: list[int]
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=20)
    client = await aiohttp_client(create_app(settings))
    answers = await asyncio.gather(*(tus.create(client, BAD, 10) for _ in range(200)))
    statuses = [a.status for a in answers]
    assert statuses.count(401) == 20 and statuses.count(429) == 180, sorted(set(statuses))
    assert len(lookups) == 20  # the 180 others were refused before any look-up


async def test_workers_together_check_at_most_the_limit_plus_workers(
    aiohttp_client: Any, database_url: str, tmp_path: Any, lookups: list[int]
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=21, workers=2)
    workers = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    await asyncio.gather(*(tus.create(w, BAD, 10) for w in workers for _ in range(100)))
    assert len(lookups) <= 21 + 1  # each worker's share, rounded up


async def test_a_customer_behind_the_same_address_keeps_working(
    aiohttp_client: Any, database_url: str, tmp_path: Any
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=5)
    client = await aiohttp_client(create_app(settings))
    customer = await issue_token(settings, uploads=2)
    path = await tus.create_path(client, customer.auth, 100)
    assert (await tus.patch(client, path, customer.auth, 0, b"a" * 40)).status == 204

    for _ in range(10):  # someone at the same address guesses tokens
        await tus.create(client, BAD, 10)
    assert (await tus.create(client, BAD, 10)).status == 429

    head = await client.head(path, headers=customer.auth)  # the upload resumes
    assert (head.status, head.headers["Upload-Offset"]) == (200, "40")
    assert (await tus.patch(client, path, customer.auth, 40, b"b" * 60)).status == 204
    second = await tus.create(client, customer.auth, 10)  # a token that worked here
    assert second.status == 201, await second.text()

    newcomer = await issue_token(settings, ticket="SR-2")  # the trade-off: a first
    waiting = await tus.create(client, newcomer.auth, 10)  # creation waits it out
    assert waiting.status == 429 and int(waiting.headers["Retry-After"]) > 0


async def test_a_burst_of_valid_creations_from_one_address_is_served(
    aiohttp_client: Any, database_url: str, tmp_path: Any, lookups: list[int]
) -> None:
    """Look-ups in flight count against the limit (so guesses cannot race it), but a
    request that finds the limit reached only by them waits for their outcome: an office
    starting 60 uploads at once with a fresh token gets 60 uploads, not 429s."""
    settings = make_settings(database_url, tmp_path, auth_failure_limit=5)
    client = await aiohttp_client(create_app(settings))
    customer = await issue_token(settings, uploads=60)
    answers = await asyncio.gather(*(tus.create(client, customer.auth, 10) for _ in range(60)))
    assert [a.status for a in answers] == [201] * 60
    assert len({a.headers["Location"] for a in answers}) == 60

    for _ in range(5):  # the limit still holds for guesses from that address
        assert (await tus.create(client, BAD, 10)).status == 401
    assert (await tus.create(client, BAD, 10)).status == 429


async def test_guesses_mixed_with_valid_creations_are_still_capped(
    aiohttp_client: Any, database_url: str, tmp_path: Any, lookups: list[int]
) -> None:
    settings = make_settings(database_url, tmp_path, auth_failure_limit=10)
    client = await aiohttp_client(create_app(settings))
    customer = await issue_token(settings, uploads=20)
    good = [tus.create(client, customer.auth, 10) for _ in range(20)]
    bad = [tus.create(client, BAD, 10) for _ in range(200)]
    answers = await asyncio.gather(
        *(x for pair in zip(good, bad[:20], strict=True) for x in pair), *bad[20:]
    )
    statuses = [a.status for a in answers]
    assert statuses.count(401) == 10, sorted(set(statuses))
    assert len(lookups) <= 20 + 10  # every valid creation, and the limit's worth of guesses
    assert statuses.count(201) + statuses.count(429) == 210


async def test_a_limit_reached_by_settled_failures_refuses_without_waiting() -> None:
    limiter = FailureLimiter(3, 300)
    in_flight = await limiter.reserve("192.0.2.7")  # a look-up that has not ended
    for _ in range(3):
        limiter.fail("192.0.2.7")  # failures found after their look-up (used-up tokens)
    assert await asyncio.wait_for(limiter.reserve("192.0.2.7"), 0.5) is None
    assert in_flight is not None
    limiter.keep(in_flight)


async def test_waiting_for_look_ups_in_flight_has_one_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Look-ups that come and go (each freeing a slot that a newcomer takes first) do not
    restart a waiter's patience."""
    monkeypatch.setattr(ratelimit, "_SETTLE_WAIT", 0.3)
    limiter = FailureLimiter(1, 300)
    held = await limiter.reserve("192.0.2.8")
    assert held is not None
    waiter = asyncio.ensure_future(limiter.reserve("192.0.2.8"))
    started = asyncio.get_running_loop().time()
    for _ in range(10):  # every 0.1 s the slot is handed back and at once taken again
        await asyncio.sleep(0.1)
        limiter.release(held)
        held = await limiter.reserve("192.0.2.8", wait=False)
        assert held is not None
        if waiter.done():
            break
    assert waiter.done() and waiter.result() is None
    assert asyncio.get_running_loop().time() - started < 0.6
