"""Two tuslog checkouts side by side, measured in turn (A B B A A B …), so that the
machine's drift hits both equally: before/after figures for a change.

    .venv/bin/python bench/ab.py --a ../before-checkout --b . --rounds 5
    .venv/bin/python bench/ab.py --a ../before-checkout --b . --targets disk,tmpfs --json

W1 = one upload of --size in one PATCH, W2 = the same in --patch-size PATCHes, W3 =
--concurrency uploads of --concurrent-size at once, in --patch-size PATCHes. Reports per
workload the median MB/s, server CPU-s/GiB and peak RSS of the serving process (sampled
every 20 ms during the workload) of each side and the ratio B/A (> 1: B is faster; for CPU
and memory < 1: B is cheaper). ``--workloads W3`` runs only some of them. Not a test:
numbers for the README and notes.
"""

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Payload
from bench_procs import start_checkout
from run import log, measure, size, wait_quiet

WORKLOADS = ("W1", "W2", "W3")


async def _workload(
    name: str, server: Any, token: str, payload: Payload, args: argparse.Namespace
) -> dict[str, Any]:
    if name == "W1":
        return await measure(server, token, payload, length=args.size, sample_rss=True)
    if name == "W2":
        return await measure(
            server, token, payload, length=args.size, patch_size=args.patch_size, sample_rss=True
        )
    return await measure(
        server,
        token,
        payload,
        length=args.concurrent_size,
        patch_size=args.patch_size,
        parallel=args.concurrency,
        sample_rss=True,
    )


async def _target(root: Path, args: argparse.Namespace, payload: Payload) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix=".tuslog-bench-ab-", dir=root))
    try:
        for side, source in (("A", args.a), ("B", args.b)):
            uploads = 2 + args.rounds * (2 + args.concurrency)
            sides[side] = await start_checkout(work / side, source, uploads)
        for server, token in sides.values():  # warm-up: imports, pools, connections
            await measure(server, token, payload, length=16 * 1024 * 1024)
        results: dict[str, dict[str, list[dict[str, Any]]]] = {
            w: {"A": [], "B": []} for w in args.workloads
        }
        for round_ in range(args.rounds):
            await wait_quiet([s for s, _ in sides.values()], args.quiet_limit, args.quiet_wait)
            order = ("A", "B") if round_ % 2 == 0 else ("B", "A")
            for workload in args.workloads:
                for side in order:
                    server, token = sides[side]
                    result = await _workload(workload, server, token, payload, args)
                    results[workload][side].append(result)
                    log(
                        f"round {round_ + 1} {workload} {side}: {result['mb_per_s']} MB/s, "
                        f"{result['server_cpu_s_per_gib']} CPU-s/GiB, "
                        f"peak RSS {result['peak_rss_sampled_kib'] / 1024:.1f} MiB"
                    )
        return results
    finally:
        for server, _ in sides.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def _table(name: str, results: dict[str, Any]) -> str:
    lines = [
        f"### {name}",
        "",
        "| workload | A MB/s | B MB/s | B/A | A CPU-s/GiB | B CPU-s/GiB | B/A "
        "| A peak RSS MiB | B peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workload in results:
        a, b = results[workload]["A"], results[workload]["B"]
        rate_a, rate_b = _median(a, "mb_per_s"), _median(b, "mb_per_s")
        cpu_a, cpu_b = _median(a, "server_cpu_s_per_gib"), _median(b, "server_cpu_s_per_gib")
        lines.append(
            f"| {workload} | {rate_a} | {rate_b} | {rate_b / rate_a:.2f} | "
            f"{cpu_a} | {cpu_b} | {cpu_b / cpu_a:.2f} | "
            f"{_median(a, 'peak_rss_sampled_kib') / 1024:.1f} | "
            f"{_median(b, 'peak_rss_sampled_kib') / 1024:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="checkout A (e.g. before the change)")
    parser.add_argument("--b", required=True, help="checkout B (e.g. after the change)")
    parser.add_argument("--targets", default="tmpfs", help="disk, tmpfs or both")
    parser.add_argument("--storage-dir", default=str(Path.cwd()), help="a folder on the disk")
    parser.add_argument("--tmpfs-dir", default="/dev/shm")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--workloads",
        type=lambda text: [w for w in text.upper().split(",") if w],
        default=list(WORKLOADS),
        help="which of W1,W2,W3 to run (default: all)",
    )
    parser.add_argument("--size", type=size, default=size("1G"))
    parser.add_argument("--patch-size", type=size, default=size("8M"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--concurrent-size", type=size, default=size("32M"))
    parser.add_argument("--quiet-limit", type=float, default=0.25)
    parser.add_argument("--quiet-wait", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown or not args.workloads:
        parser.error(f"--workloads: choose from {','.join(WORKLOADS)} (got {unknown or 'none'})")
    return args


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    payload = Payload(size("16M"))
    roots = {"disk": Path(args.storage_dir), "tmpfs": Path(args.tmpfs_dir)}
    return {t: await _target(roots[t], args, payload) for t in args.targets.split(",")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n\n".join(_table(name, r) for name, r in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
