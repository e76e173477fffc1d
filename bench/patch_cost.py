"""What one PATCH costs beyond its bytes: many small PATCHes against tuslog and the bare
aiohttp handlers, interleaved, and optionally a py-spy profile of tuslog's worker.

    .venv/bin/python bench/patch_cost.py                        # 1 MiB x 200 and 4 KiB x 500
    .venv/bin/python bench/patch_cost.py --profile profile.txt  # + where tuslog's ms go
    .venv/bin/python bench/patch_cost.py --shapes 1M:200 --rounds 5

For each shape (PATCH size x count, one upload on one keep-alive connection) and server:
wall milliseconds per PATCH and server CPU milliseconds per PATCH (whole process tree,
/proc), medians of the rounds. ``bare`` streams into a file (nothing else), ``bare-durable``
also keeps a running SHA-256 and fdatasyncs each PATCH: tuslog minus bare-durable is the
per-PATCH price of tuslog's own work (token, database, lock, offset record, thread hops).

``--profile`` samples tuslog's worker with py-spy (from bench/.peers-venv, made by
bench/peers/setup.sh) during an extra, untimed run of the smallest shape and sorts the
samples into categories by the innermost frame that names one (database, thread
hand-offs, lock, fdatasync, hashing, writes, aiohttp, asyncio, tuslog's own code).
"""

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Payload, upload
from bench_procs import REPO
from peers_servers import PEERS_VENV, Contender, Digests, start, tree_cpu
from profile_categories import summarize
from run import log, size, wait_quiet

NAMES = ["tuslog", "bare-durable", "bare"]


def shape(text: str) -> tuple[int, int]:
    patch, _, count = text.partition(":")
    return size(patch), int(count)


async def one(
    c: Contender, payload: Payload, digests: Digests, patch: int, count: int
) -> dict[str, float]:
    # a few bytes short of patch x count (Digests): the last PATCH is a little shorter
    length, headers, _ = c.next_upload(patch * count, digests)
    cpu = tree_cpu(c.root_pid)
    started = time.perf_counter()
    done = await upload("127.0.0.1", c.server.port, c.token, payload, length, patch, headers)
    wall = time.perf_counter() - started
    cpu = tree_cpu(c.root_pid) - cpu
    patches = done.requests - 1
    for path in c.files(done.upload_id):
        path.unlink(missing_ok=True)
    return {"wall_ms": 1000 * wall / patches, "cpu_ms": 1000 * cpu / patches, "n": patches}


MODES = {
    "wall": "py-spy, all threads of tuslog's worker (wall time: running, in a system call"
    " or waiting for the GIL)",
    "gil": "py-spy --gil, the thread that holds the GIL (Python CPU)",
}


async def profile(
    c: Contender, payload: Payload, digests: Digests, args: argparse.Namespace, mode: str
) -> dict[str, Any]:
    pyspy = PEERS_VENV / "bin" / "py-spy"
    if not pyspy.exists():
        raise SystemExit(f"{pyspy} is missing: run bench/peers/setup.sh")
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    argv = [str(pyspy), "record", "--pid", str(c.server.pid), "--rate", str(args.rate)]
    argv += ["--format", "raw", "--output", str(raw), "--nonblocking"]
    argv += ["--gil"] if mode == "gil" else []
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    await asyncio.sleep(1.0)  # py-spy attaches
    patch, count = args.profile_shape
    for _ in range(args.profile_runs):
        await one(c, payload, digests, patch, count)
    spy.send_signal(signal.SIGINT)
    _, err = spy.communicate(timeout=60)
    if not raw.exists() or raw.stat().st_size == 0:
        raise SystemExit(f"py-spy recorded nothing: {err.decode()[-500:]}")
    text = raw.read_text()
    raw.unlink()
    if args.profile:  # the raw samples, for flame graphs or grep
        args.profile.with_suffix(f".{mode}.raw.txt").write_text(text)
    shape_text = f"{patch // 1024} KiB x {count}, {args.profile_runs} uploads"
    return summarize(text, f"{MODES[mode]}, {shape_text}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payload = Payload(size("16M"))
    digests = Digests(payload)
    root = Path(tempfile.mkdtemp(prefix=".tuslog-bench-patch-", dir=args.storage_dir))
    results: dict[str, Any] = {"shapes": {}}
    contenders: list[Contender] = []
    try:
        uploads = 10 + args.rounds * len(args.shapes) + args.profile_runs
        contenders = await start(NAMES, root, uploads)
        for c in contenders:  # warm-up
            await one(c, payload, digests, 1024**2, 8)
        for round_ in range(args.rounds):
            await wait_quiet([c.server for c in contenders], 0.25, args.quiet_wait)
            shift = round_ % len(contenders)
            for patch, count in args.shapes:
                key = f"{patch // 1024} KiB x {count}"
                for c in contenders[shift:] + contenders[:shift]:
                    r = await one(c, payload, digests, patch, count)
                    results["shapes"].setdefault(key, {}).setdefault(c.name, []).append(r)
                    log(f"{key} {c.name}: {r['wall_ms']:.2f} ms, CPU {r['cpu_ms']:.2f} ms")
        if args.profile:
            results["profile"] = {
                mode: await profile(contenders[0], payload, digests, args, mode) for mode in MODES
            }
    finally:
        for c in contenders:
            c.server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return results


def render(results: dict[str, Any]) -> str:
    lines = [
        "| PATCHes | server | wall ms per PATCH | server CPU ms per PATCH |",
        "|---|---|---|---|",
    ]
    for key, servers in results["shapes"].items():
        med = {}
        for name, runs in servers.items():
            wall = statistics.median(r["wall_ms"] for r in runs)
            cpu = statistics.median(r["cpu_ms"] for r in runs)
            med[name] = (wall, cpu)
            lines.append(f"| {key} | {name} | {wall:.2f} | {cpu:.2f} |")
        if "tuslog" in med and "bare-durable" in med:
            (tw, tc), (bw, bc) = med["tuslog"], med["bare-durable"]
            lines.append(f"| {key} | tuslog - bare-durable | {tw - bw:+.2f} | {tc - bc:+.2f} |")
    for found in results.get("profile", {}).values():
        lines += ["", *found["table"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--storage-dir", type=Path, default=REPO)
    parser.add_argument("--shapes", default="1M:200,4K:500", help="PATCH size:count, ...")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=10)
    parser.add_argument("--profile", type=Path, help="write py-spy's summary here too")
    parser.add_argument("--profile-shape", type=shape, default="64K:400")
    parser.add_argument("--profile-runs", type=int, default=5)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.shapes = [shape(s) for s in args.shapes.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args))
    if args.profile:
        tables = ["\n".join(p["table"]) for p in results["profile"].values()]
        args.profile.write_text("\n\n".join(tables) + "\n")
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
