# ruff: noqa: E501 - SQL reads better unwrapped
"""Latency of the staff portal's ticket list and ticket page on PostgreSQL with 100,000
tickets, 1,000,000 audit events (and 100,000 tokens, 300,000 uploads), measured the way
staff meet it: over HTTP from a signed-in browser session to a real `tuslog serve`.

    python bench/portal_latency.py postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python bench/portal_latency.py URL --requests 400 --json

A throwaway database is made (and dropped at the end), migrated and filled with
generate_series; a staff user signs in (password and TOTP, through the services); then
each request kind is sent ``--requests`` times after a warm-up, one at a time on one
keep-alive connection, and the client's wall time per answer is recorded. The kinds are
interleaved (round robin) so that a noisy neighbour hits all of them alike. Prints the
median, p95, p99 and max in milliseconds per kind, and whether p95 < 30 ms (the target).
Not a test: the exit status is 0 unless something failed to run.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pyotp
from sqlalchemy.engine import make_url

from tuslog.db.engine import create_engine, session_factory
from tuslog.db.migrate import upgrade
from tuslog.db.models import UserRole
from tuslog.services import accounts, sessions, signin
from tuslog.services.auth_context import Auth
from tuslog.services.paging import encode
from tuslog.settings import load_settings

TICKETS = 100_000
TARGET_P95_MS = 30.0
PASSWORD = "bench marks 42 quietly"

FILL = [
    f"""INSERT INTO tickets (number, number_key, title, platform, status, created_at, updated_at)
    SELECT 'SR-' || n, 'sr-' || n,
           (ARRAY['Backup fails nightly', 'Login slow', 'Disk full on node', 'Crash at start'])[n % 4 + 1] || ' ' || md5(n::text),
           (ARRAY['Linux', 'Windows', 'macOS', 'AIX', 'Solaris'])[n % 5 + 1],
           CASE WHEN n % 3 = 0 THEN 'resolved' ELSE 'open' END,
           timestamptz '2024-01-01' + n * interval '10 minutes', now()
    FROM generate_series(1, {TICKETS}) n""",
    f"""INSERT INTO upload_tokens (ticket_id, prefix, token_hash, expires_at, max_uses, uses, created_by, created_at, last_used_at, last_used_ip)
    SELECT n, 'tlu_' || substr(md5('t' || n), 1, 8), md5('h' || n) || md5('i' || n),
           now() + interval '7 days', 3, 3, 'alice@example.com', now(), now(), '192.0.2.' || (n % 250)
    FROM generate_series(1, {TICKETS}) n""",
    f"""INSERT INTO uploads (id, ticket_id, token_id, metadata_raw, filename, length, "offset", sha256, state, client_ip, created_at, updated_at, completed_at)
    SELECT md5(n::text), n % {TICKETS} + 1, n % {TICKETS} + 1, '', 'logs-' || n || '.tgz', 1000000, 1000000,
           md5('s' || n) || md5('u' || n),
           (ARRAY['complete', 'verified', 'verified', 'corrupt', 'deleted', 'expired'])[n % 6 + 1],
           '198.51.100.' || (n % 250),
           timestamptz '2024-01-01' + n * interval '3 minutes', now(), now()
    FROM generate_series(1, {3 * TICKETS}) n""",
    """INSERT INTO audit_events (at, actor, action, subject, client_ip, details)
    SELECT timestamptz '2024-01-01' + n * interval '1 minute',
           (ARRAY['cli', 'alice@example.com', 'janitor', 'bob@example.com', 'token:tlu_abcdefgh'])[n % 5 + 1],
           (ARRAY['upload.created', 'upload.completed', 'ticket.created', 'token.issued',
                  'upload.downloaded', 'upload.deleted', 'signin.password', 'ticket.resolved'])[n % 8 + 1],
           'SR-' || (n % 100000), '192.0.2.' || (n % 250), '{}'
    FROM generate_series(1, 1000000) n""",
    "ANALYZE",
]


def _plain(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def prepare(url: str) -> str:
    """Migrate and fill the database at ``url``; returns a signed-in session cookie."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        conn = await asyncpg.connect(_plain(url))
        try:
            for statement in FILL:
                started = time.perf_counter()
                await conn.execute(statement)
                what = " ".join(statement.split()[:3])
                print(f"  {time.perf_counter() - started:5.1f} s: {what}", file=sys.stderr)
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM tickets) t, (SELECT count(*) FROM audit_events) a"
            )
            print(f"  {counts['t']:,} tickets, {counts['a']:,} audit events", file=sys.stderr)
        finally:
            await conn.close()
        return await _signed_in_cookie(url, engine)
    finally:
        await engine.dispose()


async def _signed_in_cookie(url: str, engine: Any) -> str:
    auth = Auth(session_factory(engine), load_settings(database_url=url))
    async with auth.sessions.begin() as session:
        await accounts.create_user(
            session, "bench@example.com", PASSWORD, role=UserRole.ADMIN, actor="bench"
        )
    accepted = await signin.password_step(
        auth, "bench@example.com", PASSWORD, client_ip="127.0.0.1"
    )
    pending = await sessions.resolve(auth, accepted.token)
    setup = await signin.enrolment(auth, pending)
    done = await signin.confirm_enrolment(
        auth, pending, pyotp.TOTP(setup.secret).now(), client_ip="127.0.0.1"
    )
    return done.token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSLOG_")}
    env.update(
        TUSLOG_DATABASE_URL=url,
        TUSLOG_STORAGE_DIR=str(scratch / "uploads"),
        TUSLOG_PORT=str(port),
        TUSLOG_LOG_LEVEL="WARNING",
        TUSLOG_MIN_FREE_SPACE="0",
        TUSLOG_JANITOR_INTERVAL="3600",
        TUSLOG_SESSION_IDLE_TIMEOUT="2h",
    )
    log = open(scratch / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, "-m", "tuslog", "serve", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, base
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((scratch / "server.log").read_text()[-2000:]) from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("tuslog serve did not start")


def request_kinds(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each kind: a function giving the next path to ask for."""
    return {
        "ticket list (first page)": lambda: "/staff/tickets",
        "ticket list (status=open, platform=AIX)": lambda: (
            "/staff/tickets?status=open&platform=AIX"
        ),
        "ticket list (search 'disk full')": lambda: "/staff/tickets?q=disk+full",
        "ticket list (oldest first)": lambda: "/staff/tickets?sort=oldest",
        "ticket page (random of 100,000)": lambda: f"/staff/tickets/SR-{rng.randint(1, TICKETS)}",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the server process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _get(client: aiohttp.ClientSession, path: str) -> None:
    async with client.get(path, allow_redirects=False) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")


async def measure(
    base: str, cookie: str, requests: int, warmup: int, server_pid: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Wall times per kind (interleaved rounds), then the server's CPU time per request
    of each kind (a block of requests per kind: CPU time is what a neighbour on a busy
    machine does not add to)."""
    rng = random.Random(7)
    kinds = request_kinds(rng)
    connector = aiohttp.TCPConnector(limit=1)
    headers = {"Cookie": f"tuslog_session={cookie}"}
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as client:
        kinds["ticket list (a page at row 99,940)"] = _deep_page
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for round_ in range(warmup + requests):
            for name, path in kinds.items():
                started = time.perf_counter()
                await _get(client, path())
                if round_ >= warmup:
                    times[name].append((time.perf_counter() - started) * 1000)
        cpu: dict[str, float] = {}
        for name, path in kinds.items():
            before = cpu_seconds(server_pid)
            for _ in range(requests):
                await _get(client, path())
            cpu[name] = (cpu_seconds(server_pid) - before) * 1000 / requests
    return times, cpu


def _deep_page() -> str:
    """A page near the end of the newest-first list (the cursor made from the sort key of
    ticket 60, as the page's "Next" link would carry it)."""
    last = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=10 * 60)
    return f"/staff/tickets?after={encode(last, 60)}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(times: dict[str, list[float]], cpu: dict[str, float], as_json: bool) -> None:
    rows = {
        name: {
            "median": statistics.median(values),
            "p95": percentile(values, 0.95),
            "p99": percentile(values, 0.99),
            "max": max(values),
            "server_cpu": cpu[name],
            "n": len(values),
        }
        for name, values in times.items()
    }
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| request | median ms | p95 ms | p99 ms | max ms | server CPU ms/request | "
        f"p95 < {TARGET_P95_MS:.0f} ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        verdict = "yes" if row["p95"] < TARGET_P95_MS else "**no**"
        print(
            f"| {name} | {row['median']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} | "
            f"{row['max']:.1f} | {row['server_cpu']:.1f} | {verdict} |"
        )
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (CPUs: {os.cpu_count()})")


async def run(args: argparse.Namespace, scratch: Path) -> None:
    name = f"tuslog_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_plain(args.url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        print(f"filling {name} …", file=sys.stderr)
        cookie = await prepare(url)
        server, base = start_server(url, scratch)
        print(f"measuring {args.requests} requests per kind against {base} …", file=sys.stderr)
        times, cpu = await measure(base, cookie, args.requests, args.warmup, server.pid)
        report(times, cpu, args.json)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "url", help="a PostgreSQL URL (postgresql+asyncpg://…); a new database is made beside it"
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="measured requests per kind (default 300)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured rounds first (default 20)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of a markdown table"
    )
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        parser.error("this benchmark is for PostgreSQL (postgresql+asyncpg://…)")
    with tempfile.TemporaryDirectory(prefix="tuslog-portal-bench-") as scratch:
        asyncio.run(run(args, Path(scratch)))


if __name__ == "__main__":
    main()
