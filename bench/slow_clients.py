"""Many slow customers on one worker: N uploads trickling a few bytes per second, and how
the server answers everyone else meanwhile (issue "customer edge" §4).

    .venv/bin/python bench/slow_clients.py --clients 1000
    .venv/bin/python bench/slow_clients.py --clients 3000 --heads 200 --json

Starts ``tuslog serve`` (one worker, SQLite, storage on tmpfs), creates N uploads, opens N
connections that each send a PATCH head and then --rate bytes per second, and then sends
--heads HEAD requests for another upload, one after the other, timing each. Reports the
server's RSS (idle, with all connections open), HEAD latency p50/p99 and how many HEADs
were answered within --head-timeout, connection resets or refusals during the connect
burst, and the server's CPU use meanwhile. Not a test: numbers for the README.
"""

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

from bench_client import Connection
from bench_procs import cpu_seconds, issue_token, memory_kib, tuslog_server
from run import log


async def _create(port: int, token: str, length: int) -> str:
    conn = Connection("127.0.0.1", port, token)
    try:
        created = await conn.request("POST", "/files/", {"Upload-Length": str(length)})
        if created.status != 201:
            raise RuntimeError(f"POST: {created.status} {created.body[:200]!r}")
        location = created.headers["location"]
        return location[location.index("/files/") :]
    finally:
        conn.close()


class Trickle:
    """One slow customer: a PATCH whose body comes ``rate`` bytes per second."""

    def __init__(self, port: int, token: str, path: str, length: int, rate: float) -> None:
        self.port, self.token, self.path, self.length, self.rate = port, token, path, length, rate
        self.failed: str | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        try:
            _, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError as exc:
            self.failed = type(exc).__name__
            return
        head = (
            f"PATCH {self.path} HTTP/1.1\r\nHost: bench\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {self.token}\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {self.length}\r\n\r\n"
        )
        self._writer.write(head.encode())

    async def trickle(self, stop: asyncio.Event) -> None:
        if self._writer is None:
            return
        interval = 1 / self.rate
        sent = 0
        try:
            while not stop.is_set() and sent < self.length - 1:
                self._writer.write(b"x")
                sent += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        except OSError as exc:
            self.failed = type(exc).__name__

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _heads(port: int, token: str, path: str, count: int, timeout: float) -> list[float]:
    conn = Connection("127.0.0.1", port, token)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            try:
                answer = await asyncio.wait_for(conn.request("HEAD", path, {}), timeout)
            except (TimeoutError, OSError):
                conn.close()
                conn = Connection("127.0.0.1", port, token)
                continue
            if answer.status == 200:
                latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)
    finally:
        conn.close()
    return latencies


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(tempfile.mkdtemp(prefix=".tuslog-bench-slow-", dir=args.dir))
    server = tuslog_server(work)
    server.env["TUSLOG_MAX_CONNECTIONS"] = str(args.clients + 100)
    try:
        await server.start()
        token = await asyncio.to_thread(issue_token, work, args.clients + 1)
        other = await _create(server.port, token, 10)
        await _heads(server.port, token, other, 20, 5)  # warm-up
        idle_kib = memory_kib(server.pid)["VmRSS"]
        paths = [await _create(server.port, token, 1 << 20) for _ in range(args.clients)]
        log(f"{len(paths)} uploads created; connecting")
        trickles = [Trickle(server.port, token, p, 1 << 20, args.rate) for p in paths]
        await asyncio.gather(*(t.start() for t in trickles))  # the connect burst
        refused = sum(t.failed is not None for t in trickles)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(t.trickle(stop)) for t in trickles]
        await asyncio.sleep(args.settle)
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        loaded_kib = memory_kib(server.pid)["VmRSS"]
        latencies = await _heads(server.port, token, other, args.heads, args.head_timeout)
        cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
        stop.set()
        await asyncio.gather(*tasks)
        dropped = sum(t.failed is not None for t in trickles) - refused
        for trickle in trickles:
            trickle.close()
        return {
            "clients": args.clients,
            "rate_bytes_per_s": args.rate,
            "rss_idle_mib": round(idle_kib / 1024, 1),
            "rss_loaded_mib": round(loaded_kib / 1024, 1),
            "head_answered": f"{len(latencies)}/{args.heads}",
            "head_p50_ms": _ms(statistics.median(latencies) if latencies else None),
            "head_p99_ms": _ms(_percentile(latencies, 0.99)),
            "connect_refused_or_reset": refused,
            "dropped_while_trickling": dropped,
            "server_cpus_busy": round(cpu, 2),
        }
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3.0, help="bytes per second each")
    parser.add_argument("--heads", type=int, default=200)
    parser.add_argument("--head-timeout", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--dir", default="/dev/shm", help="where the scratch folder goes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(f"{key:<28}{value}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
