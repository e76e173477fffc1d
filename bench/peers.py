"""tuslog against other tus servers, side by side on this machine: one command.

    bash bench/peers/setup.sh          # once: the peers, in bench/.peers-venv and .peers-node
    .venv/bin/python bench/peers.py    # 3 interleaved rounds on the real disk (~5-10 min)
    .venv/bin/python bench/peers.py --rounds 1 --size 128M --concurrent-size 8M   # smoke run
    .venv/bin/python bench/peers.py --json > peers.json

Each server starts on a fresh folder: tuslog (`tuslog serve`, SQLite, one worker),
tuspyserver 4.x (FastAPI, uvicorn), @tus/server 2.x with @tus/file-store (Node), and
bench/bare_server.py with a running SHA-256 and fdatasync per PATCH. Workloads: W1 = one
--size upload in one PATCH, W2 = the same in --patch-size PATCHes, W3 = --concurrency
uploads of --concurrent-size at once in --patch-size PATCHes. Each round runs every
workload on every server in turn (the order rotates per round), so the machine's drift
hits all alike. Every upload is checked: the stored file has the right size; tuslog's
ends `verified` against the SHA-256 declared at creation, the bare server's hash matches.
Reported: medians of MB/s (10^6 bytes/s), server CPU-seconds of the whole process tree
(from /proc) per workload, and peak RSS of the serving process during W3; then the ratios
of tuslog to the best peer and the targets of issue 11 §4b. Not a test.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Connection, Payload, Upload, UploadError, upload
from bench_procs import REPO, memory_kib, prefault, reset_peak, system_busy_seconds
from peers_report import render, targets
from peers_servers import SERVERS, Contender, Digests, check_setup, start, tree_cpu, tree_rss_kib
from run import PREFAULT_MAX, log, size, wait_quiet

GiB = 1024**3
MiB = 1024**2
WORKLOADS = ("W1", "W2", "W3")


async def _verify(c: Contender, done: list[Upload], plan: list[tuple[int, str]]) -> None:
    for up, (length, sha256) in zip(done, plan, strict=True):
        stored = c.data_path(up.upload_id).stat().st_size
        if stored != length:
            raise UploadError(f"{c.name}: {up.upload_id} stored {stored} bytes, sent {length}")
        if c.name == "tuslog":
            await _tuslog_verified(c, up)
        elif c.name == "bare-durable" and up.last_headers.get("bare-sha256") != sha256:
            raise UploadError(f"bare-durable: {up.upload_id} hash differs")


async def _tuslog_verified(c: Contender, up: Upload, patience: float = 60) -> None:
    """The last PATCH's answer says ``verified``, or a HEAD does within ``patience``."""
    state = up.last_headers.get("tuslog-upload-state")
    deadline = time.monotonic() + patience
    while state != "verified":
        if state not in ("verifying", "receiving") or time.monotonic() > deadline:
            raise UploadError(f"tuslog: {up.upload_id} ended {state!r}, not verified")
        await asyncio.sleep(0.2)
        conn = Connection("127.0.0.1", c.server.port, c.token)
        try:
            head = await conn.request("HEAD", f"/files/{up.upload_id}", {})
        finally:
            conn.close()
        state = head.headers.get("tuslog-upload-state")


def _settle(c: Contender, done: list[Upload]) -> None:
    """Delete what was uploaded and flush, so one measurement does not tax the next."""
    for up in done:
        for path in c.files(up.upload_id):
            path.unlink(missing_ok=True)
    os.sync()
    time.sleep(0.2)


async def measure(
    c: Contender,
    payload: Payload,
    digests: Digests,
    *,
    length: int,
    patch_size: int | None = None,
    parallel: int = 1,
) -> dict[str, Any]:
    jobs_plan = [c.next_upload(length, digests) for _ in range(parallel)]
    total = sum(n for n, _, _ in jobs_plan)
    timeout = 60 + total / 20e6  # never slower than 20 MB/s, or something is broken
    await asyncio.to_thread(prefault, c.work, min(total, PREFAULT_MAX))
    pid = c.server.pid
    reset_peak(pid)
    cpu_before, busy_before = tree_cpu(c.root_pid), system_busy_seconds()
    client_before = time.process_time()
    peak_tree = tree_rss_kib(c.root_pid)
    started = time.perf_counter()
    jobs = asyncio.gather(
        *(
            upload("127.0.0.1", c.server.port, c.token, payload, n, patch_size, headers)
            for n, headers, _ in jobs_plan
        )
    )
    while not jobs.done():  # sample the tree's RSS every 20 ms while the uploads run
        await asyncio.wait([jobs], timeout=0.02)
        peak_tree = max(peak_tree, tree_rss_kib(c.root_pid))
        if time.perf_counter() - started > timeout:
            jobs.cancel()
            raise UploadError(f"{c.name}: no answer in {timeout:.0f}s")
    done = jobs.result()
    wall = time.perf_counter() - started
    server_cpu = tree_cpu(c.root_pid) - cpu_before
    client_cpu = time.process_time() - client_before
    others = system_busy_seconds() - busy_before - server_cpu - client_cpu
    peak = memory_kib(pid)["VmHWM"]
    await _verify(c, done, [(n, sha256) for n, _, sha256 in jobs_plan])
    _settle(c, done)
    return {
        "bytes": total,
        "seconds": round(wall, 4),
        "mb_per_s": round(total / wall / 1e6, 1),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_s_per_gib": round(server_cpu / (total / GiB), 3),
        "client_cpu_s_per_gib": round(client_cpu / (total / GiB), 3),
        "other_cpus_busy": round(max(0.0, others) / wall, 2),
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_tree_rss_mib": round(peak_tree / 1024, 1),
        "requests": sum(u.requests for u in done),
    }


async def _workload(
    name: str, c: Contender, payload: Payload, digests: Digests, args: argparse.Namespace
) -> dict[str, Any]:
    if name == "W1":
        return await measure(c, payload, digests, length=args.size)
    if name == "W2":
        return await measure(c, payload, digests, length=args.size, patch_size=args.patch_size)
    return await measure(
        c,
        payload,
        digests,
        length=args.concurrent_size,
        patch_size=args.patch_size,
        parallel=args.concurrency,
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payload = Payload(size("16M"))
    digests = Digests(payload)
    for length in (args.size, args.concurrent_size, 16 * MiB):
        digests.get(length)  # the common prefix's hash, before anything is timed
    root = Path(tempfile.mkdtemp(prefix=".tuslog-bench-peers-", dir=args.storage_dir))
    uploads = 10 + args.rounds * (2 + args.concurrency)
    results: dict[str, Any] = {"config": _config(args, root), "runs": {}}
    contenders: list[Contender] = []
    try:
        contenders = await start(args.servers, root, uploads)
        results["servers"] = {c.name: {"label": c.label, **c.versions} for c in contenders}
        for c in contenders:  # warm-up: imports, pools, connections
            await measure(c, payload, digests, length=16 * MiB, patch_size=4 * MiB)
        runs = results["runs"]
        for round_ in range(args.rounds):
            servers = [c.server for c in contenders]
            load = await wait_quiet(servers, args.quiet_limit, args.quiet_wait)
            log(f"round {round_ + 1}/{args.rounds} (other load {load} CPUs)")
            shift = round_ % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            for workload in WORKLOADS:
                for c in order:
                    result = await _workload(workload, c, payload, digests, args)
                    runs.setdefault(c.name, {}).setdefault(workload, []).append(result)
                    log(
                        f"  {workload} {c.name}: {result['mb_per_s']} MB/s, "
                        f"{result['server_cpu_s']} CPU-s, peak RSS {result['peak_rss_mib']} MiB"
                    )
    finally:
        for c in contenders:
            c.server.stop()
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _config(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    fs = subprocess.run(
        ["df", "--output=fstype", str(root)], capture_output=True, text=True
    ).stdout.split()[-1:]
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "filesystem": fs[0] if fs else "?",
        "tuslog_commit": commit,
        "rounds": args.rounds,
        "size": args.size,
        "patch_size": args.patch_size,
        "concurrency": args.concurrency,
        "concurrent_size": args.concurrent_size,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--storage-dir", type=Path, default=REPO, help="a folder on the disk under test"
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=size, default=size("1G"), help="W1 and W2")
    parser.add_argument("--patch-size", type=size, default=size("8M"), help="W2 and W3")
    parser.add_argument("--concurrency", type=int, default=32, help="W3 uploads at once")
    parser.add_argument("--concurrent-size", type=size, default=size("32M"), help="W3, each")
    parser.add_argument("--quiet-limit", type=float, default=0.25, help="see bench/README.md")
    parser.add_argument("--quiet-wait", type=float, default=30)
    parser.add_argument("--json", action="store_true", help="print every number as JSON")
    parser.add_argument("--render", type=Path, metavar="JSON", help="table of a saved --json")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or not set(args.servers) <= set(SERVERS):
        parser.error(f"--servers takes some of: {', '.join(SERVERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    check_setup(args.servers)
    need = max(args.size, args.concurrency * args.concurrent_size) + GiB // 2
    if shutil.disk_usage(args.storage_dir).free < need:
        sys.exit(f"{args.storage_dir}: less than {need / GiB:.1f} GiB free")
    results = asyncio.run(run(args))
    results["targets"] = targets(results)
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
