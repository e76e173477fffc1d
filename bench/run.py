"""tuslog benchmarks: upload throughput, server CPU per GiB and peak RSS, on the real disk
and on tmpfs, next to two baselines measured in the same run (dd conv=fdatasync on the same
filesystem, and a bare aiohttp handler streaming the body into a file).

    python bench/run.py                 # full run: real disk + tmpfs (needs ~8 GB free)
    python bench/run.py --quick         # smoke run, small sizes, one repetition
    python bench/run.py --json          # machine-readable results on stdout

Progress goes to stderr; the markdown results table (or JSON) to stdout. See bench/README.md.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_client import Payload, upload
from bench_procs import (
    REPO,
    RssSampler,
    Server,
    bare_server,
    cpu_seconds,
    dd,
    issue_token,
    memory_kib,
    prefault,
    reset_peak,
    system_busy_seconds,
    tuslog_server,
)
from bench_report import checks, render

MiB = 1024**2
GiB = 1024**3
# Memory warmed before each run (bench_procs.prefault); more would start disk writeback.
PREFAULT_MAX = 1536 * MiB
_SIZE = re.compile(r"^(\d+)([KMGT]?)(?:i?B)?$", re.IGNORECASE)


def size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (use e.g. 8M, 1G)")
    return int(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " ")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Config:
    size: int
    patch_size: int
    concurrency: int
    concurrent_size: int
    rss_size: int
    repeat: int
    payload: int
    keep: bool
    quiet_limit: float
    quiet_wait: float
    source: Path


# --- one measurement ----------------------------------------------------------------------
async def measure(
    server: Server,
    token: str | None,
    payload: Payload,
    *,
    length: int,
    patch_size: int | None = None,
    parallel: int = 1,
    sample_rss: bool = False,
) -> dict[str, Any]:
    """``parallel`` uploads of ``length`` bytes at once; server and client CPU, wall time."""
    total = length * parallel
    timeout = 60 + total / 20e6  # never slower than 20 MB/s, or something is broken
    await asyncio.to_thread(prefault, server.log.parent, min(total, PREFAULT_MAX))
    cpu_before = cpu_seconds(server.pid)
    client_before = time.process_time()
    busy_before = system_busy_seconds()
    sampler = RssSampler(server.pid)
    started = time.perf_counter()
    async with sampler:
        done = await asyncio.wait_for(
            asyncio.gather(
                *(
                    upload("127.0.0.1", server.port, token, payload, length, patch_size)
                    for _ in range(parallel)
                )
            ),
            timeout,
        )
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(server.pid) - cpu_before
    client_cpu = time.process_time() - client_before
    others = system_busy_seconds() - busy_before - server_cpu - client_cpu
    result = {
        "bytes": total,
        "seconds": round(wall, 4),
        "mb_per_s": round(total / wall / 1e6, 1),
        "server_cpu_s_per_gib": round(server_cpu / (total / GiB), 3),
        "client_cpu_s_per_gib": round(client_cpu / (total / GiB), 3),
        # CPUs kept busy by everything else (other processes, kernel threads, softirqs
        # not charged to either process): a noisy neighbour shows up here.
        "other_cpus_busy": round(max(0.0, others) / wall, 2),
        "requests": sum(u.requests for u in done),
    }
    if sample_rss:
        result["peak_rss_sampled_kib"] = sampler.peak_kib
    settle(server, [u.upload_id for u in done])
    return result


async def wait_quiet(servers: list[Server], limit: float, patience: float) -> float:
    """Wait (up to ``patience`` s) until other processes keep < ``limit`` CPUs busy; a
    shared 2-CPU machine otherwise measures its neighbours. Returns the last load seen."""
    deadline = time.monotonic() + patience
    while True:
        busy, ours = system_busy_seconds(), sum(cpu_seconds(s.pid) for s in servers)
        client = time.process_time()
        await asyncio.sleep(1.0)
        load = system_busy_seconds() - busy
        load -= sum(cpu_seconds(s.pid) for s in servers) - ours + time.process_time() - client
        if load < limit or time.monotonic() >= deadline:
            if load >= limit:
                log(f"still {load:.2f} CPUs busy elsewhere after {patience:.0f}s; measuring anyway")
            return round(max(0.0, load), 2)
        log(f"waiting for a quieter machine: {load:.2f} CPUs busy elsewhere")


def settle(server: Server, upload_ids: list[str]) -> None:
    """Delete what was uploaded and flush, so one measurement does not tax the next."""
    work = server.log.parent
    for upload_id in upload_ids:
        if server.name == "tuslog":
            (work / "uploads" / upload_id[:2] / upload_id).unlink(missing_ok=True)
        else:
            (work / "bare" / upload_id).unlink(missing_ok=True)
    os.sync()
    time.sleep(0.2)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each numeric field over repetitions, plus every run's throughput."""
    merged: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, int | float):
            merged[key] = statistics.median(run[key] for run in runs)
    merged["runs_mb_per_s"] = [run["mb_per_s"] for run in runs]
    return merged


# --- one storage target --------------------------------------------------------------------
async def bench_target(name: str, root: Path, cfg: Config, payload: Payload) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tuslog-bench-", dir=root))
    log(f"{name}: working in {work}")
    tuslog, bare = tuslog_server(work, cfg.source), bare_server(work)
    bare_sha = bare_server(work, sha256=True)
    result: dict[str, Any] = {"storage": str(work)}
    try:
        await tuslog.start()
        await bare.start()
        await bare_sha.start()
        token = issue_token(work, 100 + cfg.repeat * (cfg.concurrency + 10), cfg.source)
        result["rss_start_kib"] = memory_kib(tuslog.pid)["VmRSS"]
        # Warm up both servers (imports, thread pool, database connections).
        for server, tok in ((tuslog, token), (bare, None), (bare_sha, None)):
            await measure(server, tok, payload, length=16 * MiB, patch_size=4 * MiB)
        await asyncio.sleep(1.0)
        result["rss_idle_kib"] = memory_kib(tuslog.pid)["VmRSS"]

        servers = [tuslog, bare, bare_sha]
        result["other_load_before"] = [await wait_quiet(servers, cfg.quiet_limit, cfg.quiet_wait)]
        log(f"{name}: tuslog, one {cfg.rss_size // MiB} MiB upload for peak RSS")
        reset_peak(tuslog.pid)
        big = await measure(tuslog, token, payload, length=cfg.rss_size, sample_rss=True)
        big["peak_rss_hwm_kib"] = memory_kib(tuslog.pid)["VmHWM"]
        result["tuslog_big"] = big
        result["rss_peak_kib"] = max(big["peak_rss_hwm_kib"], big["peak_rss_sampled_kib"])

        runs: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(1, cfg.repeat + 1):
            load = await wait_quiet(servers, cfg.quiet_limit, cfg.quiet_wait)
            result["other_load_before"].append(load)
            log(f"{name}: round {round_}/{cfg.repeat}: dd")
            await asyncio.to_thread(prefault, work, cfg.size)
            rate = await asyncio.to_thread(dd, work / "dd.bin", cfg.size)
            runs.setdefault("dd", []).append({"mb_per_s": round(rate / 1e6, 1)})
            log(f"{name}: round {round_}/{cfg.repeat}: bare + SHA-256")
            one = await measure(bare_sha, None, payload, length=cfg.size)
            runs.setdefault("bare_sha256_one", []).append(one)
            for label, server, tok in (("bare", bare, None), ("tuslog", tuslog, token)):
                log(f"{name}: round {round_}/{cfg.repeat}: {label}")
                one = await measure(server, tok, payload, length=cfg.size)
                runs.setdefault(f"{label}_one", []).append(one)
                patches = await measure(
                    server, tok, payload, length=cfg.size, patch_size=cfg.patch_size
                )
                runs.setdefault(f"{label}_patches", []).append(patches)
                many = await measure(
                    server,
                    tok,
                    payload,
                    length=cfg.concurrent_size,
                    parallel=cfg.concurrency,
                    sample_rss=True,
                )
                runs.setdefault(f"{label}_concurrent", []).append(many)
        for key, values in runs.items():
            result[key] = median_of(values)
        result["rss_after_kib"] = memory_kib(tuslog.pid)["VmRSS"]
    finally:
        for server in (tuslog, bare, bare_sha):
            server.stop()
        if cfg.keep:
            log(f"{name}: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def check_space(root: Path, need: int, name: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        sys.exit(f"{name}: {root} has {free / GiB:.1f} GiB free, the run needs {need / GiB:.1f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark tuslog uploads against dd and a bare aiohttp handler.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--storage-dir",
        type=Path,
        default=REPO,
        help="a directory on the real disk (a temporary folder is made and removed in it)",
    )
    parser.add_argument("--tmpfs-dir", type=Path, default=Path("/dev/shm"), help="tmpfs dir")
    parser.add_argument(
        "--targets", default="disk,tmpfs", help="comma-separated subset of: disk, tmpfs"
    )
    parser.add_argument("--size", type=size, default="1G", help="single upload size")
    parser.add_argument("--patch-size", type=size, default="8M", help="PATCH size")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent uploads")
    parser.add_argument("--concurrent-size", type=size, default="32M", help="each")
    parser.add_argument("--rss-size", type=size, default="4G", help="peak-RSS upload")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--payload", type=size, default="16M", help="random block")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, 1 round")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--keep", action="store_true", help="keep work dirs (debugging)")
    parser.add_argument(
        "--quiet-limit",
        type=float,
        default=0.25,
        help="before each round, wait until other processes use fewer CPUs than this",
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="…but at most this many seconds"
    )
    parser.add_argument(
        "--tuslog-src",
        type=Path,
        default=REPO,
        help="checkout whose tuslog/ package is served (compare a change against main)",
    )
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="print the table of a saved --json run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.rss_size = min(args.size, 64 * MiB), min(args.rss_size, 256 * MiB)
        args.concurrency, args.concurrent_size = min(args.concurrency, 8), 8 * MiB
        args.repeat = 1
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not set(args.targets) <= {"disk", "tmpfs"} or not args.targets:
        parser.error("--targets takes disk and/or tmpfs")
    return args


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cfg = Config(
        size=args.size,
        patch_size=args.patch_size,
        concurrency=args.concurrency,
        concurrent_size=args.concurrent_size,
        rss_size=args.rss_size,
        repeat=args.repeat,
        payload=args.payload,
        keep=args.keep,
        quiet_limit=args.quiet_limit,
        quiet_wait=args.quiet_wait,
        source=args.tuslog_src.resolve(),
    )
    payload = Payload(cfg.payload)
    roots = {"disk": args.storage_dir.resolve(), "tmpfs": args.tmpfs_dir}
    need = max(cfg.rss_size, cfg.size, cfg.concurrency * cfg.concurrent_size) + GiB // 2
    for name in args.targets:
        check_space(roots[name], need, name)
    results: dict[str, Any] = {
        "config": {
            "size": cfg.size,
            "patch_size": cfg.patch_size,
            "concurrency": cfg.concurrency,
            "concurrent_size": cfg.concurrent_size,
            "rss_size": cfg.rss_size,
            "repeat": cfg.repeat,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "tuslog_src": str(cfg.source),
        },
        "targets": {},
    }
    for name in args.targets:
        results["targets"][name] = await bench_target(name, roots[name], cfg, payload)
    results["checks"] = checks(results["targets"], cfg.patch_size)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text())
        print(render(results))
        return 0
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(render(results))
    return 0 if all(c["ok"] for c in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
