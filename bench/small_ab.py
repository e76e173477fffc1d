"""Server CPU per small PATCH and per small upload, two tuslog checkouts side by side,
measured in turn (A B B A …): before/after figures for the fixed costs that the 1 GiB
workloads of ``ab.py`` cannot resolve.

    git worktree add --detach ../before <commit>
    .venv/bin/python bench/small_ab.py --a ../before --b .
    .venv/bin/python bench/small_ab.py --a ../before --b . --patch 4K --patches 1000 --rounds 7

Per round and side: one upload of ``--patches`` PATCHes of ``--patch`` bytes on one
keep-alive connection (ms of server CPU per PATCH), then ``--uploads`` uploads of
``--upload-size`` at once, each in one PATCH (ms of server CPU per upload: creation,
PATCH, completion, audit and outbox rows, the archive-manifest job, which gets
``--settle`` seconds to end). CPU is the serving worker's utime + stime from /proc, in
10 ms ticks: keep the counts high enough. Reports the medians and B/A. Not a test.
"""

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_client import Payload, upload
from bench_procs import Server, cpu_seconds, start_checkout
from run import log, size


async def _patches(server: Server, token: str, payload: Payload, args: Any, serial: int) -> float:
    """ms of server CPU per PATCH (a few bytes short: each upload is its own, see Digests)."""
    before = cpu_seconds(server.pid)
    length = args.patch * args.patches - serial
    await upload("127.0.0.1", server.port, token, payload, length, args.patch)
    return (cpu_seconds(server.pid) - before) / args.patches * 1000


async def _uploads(server: Server, token: str, payload: Payload, args: Any, serial: int) -> float:
    """ms of server CPU per upload, background work included."""
    before = cpu_seconds(server.pid)
    base = args.upload_size - serial * args.uploads
    await asyncio.gather(
        *(
            upload("127.0.0.1", server.port, token, payload, base - n, None)
            for n in range(args.uploads)
        )
    )
    await asyncio.sleep(args.settle)
    return (cpu_seconds(server.pid) - before) / args.uploads * 1000


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    payload = Payload(size("16M"))
    sides: dict[str, tuple[Server, str]] = {}
    results: dict[str, dict[str, list[float]]] = {"patch": {}, "upload": {}}
    root = Path(tempfile.mkdtemp(prefix=".tuslog-bench-small-", dir=args.storage_dir))
    try:
        for side, source in (("A", args.a), ("B", args.b)):
            sides[side] = await start_checkout(
                root / side, source, 2 + args.rounds * (1 + args.uploads)
            )
            server, token = sides[side]
            await _patches(server, token, payload, args, 1)  # warm-up
            results["patch"][side], results["upload"][side] = [], []
        for round_ in range(args.rounds):
            order = ("A", "B") if round_ % 2 == 0 else ("B", "A")
            for side in order:
                server, token = sides[side]
                serial = round_ + 2
                per_patch = await _patches(server, token, payload, args, serial)
                per_upload = await _uploads(server, token, payload, args, serial)
                results["patch"][side].append(per_patch)
                results["upload"][side].append(per_upload)
                log(
                    f"round {round_ + 1} {side}: {per_patch:.3f} ms/PATCH, "
                    f"{per_upload:.1f} ms/upload"
                )
    finally:
        for server, _ in sides.values():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return results


def render(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    lines = [
        "| server CPU (median) | A | B | B/A |",
        "|---|---|---|---|",
    ]
    labels = {
        "patch": f"ms per {args.patch_text} PATCH",
        "upload": f"ms per {args.upload_text} upload ({args.uploads} at once)",
    }
    for key, label in labels.items():
        a, b = statistics.median(results[key]["A"]), statistics.median(results[key]["B"])
        lines.append(f"| {label} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="checkout A (e.g. before the change)")
    parser.add_argument("--b", required=True, help="checkout B (e.g. after the change)")
    parser.add_argument("--storage-dir", default=str(Path.cwd()), help="a folder on the disk")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--patch", default="64K", help="size of each small PATCH")
    parser.add_argument("--patches", type=int, default=600, help="PATCHes per round")
    parser.add_argument("--upload-size", default="1M")
    parser.add_argument("--uploads", type=int, default=64, help="uploads at once per round")
    parser.add_argument("--settle", type=float, default=0.5, help="s for background work")
    args = parser.parse_args(argv)
    args.patch_text, args.upload_text = args.patch, args.upload_size
    args.patch, args.upload_size = size(args.patch), size(args.upload_size)
    if args.upload_size <= (args.rounds + 2) * args.uploads or args.patches < 1:
        parser.error("--upload-size must exceed (rounds + 2) x uploads bytes, --patches >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    print(render(results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
