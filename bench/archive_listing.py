"""Benchmark: what the stored manifest costs, on top of listing the archive.

    .venv/bin/python bench/archive_listing.py                 # 100,000 entries, 5 rounds
    .venv/bin/python bench/archive_listing.py --entries 2000 --rounds 1   # smoke

1. The job: a tar.gz of --entries small log files (built once, cached in
   .tuslog-bench-archives/) is uploaded through the upload engine (SQLite in a temporary
   directory) and its manifest made again by the job (claim, list, compress, store), in a
   fresh process per round,
   interleaved with a process that only runs ``build_manifest`` on the same file. Each
   reports wall time and peak extra memory (VmHWM minus VmRSS before the work).
2. The services a portal page calls, on that stored manifest: a listing of the top folder,
   of a deep folder, a filter, and finding one path; medians of --rounds calls each.
"""

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CACHE = REPO / ".tuslog-bench-archives"
MiB = 1024 * 1024


def archive(entries: int) -> Path:
    path = CACHE / f"listing-{entries}.tar.gz"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for n in range(entries):
            info = tarfile.TarInfo(f"host{n % 40}/var/log/app{n % 13}/service-{n}.log")
            data = f"{n} started\n{n} ERROR something {n * 7}\n{n} stopped\n".encode()
            info.size, info.mtime = len(data), 1_700_000_000 + n
            tar.addfile(info, io.BytesIO(data))
    return path


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def child(kind: str, path: Path) -> None:
    """One measured run, in its own process; prints one JSON line."""
    from tests.conftest import make_settings
    from tests.dbs import new_sqlite
    from tests.inspection.support import running, settled, upload
    from tuslog.archives import build_manifest

    data = path.read_bytes()
    if kind == "bare":
        before, started = _rss("VmRSS"), time.perf_counter()
        manifest = build_manifest(lambda: io.BytesIO(data))
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {"seconds": seconds, "extra": _rss("VmHWM") - before, "n": manifest.counts.entries}
            )
        )
        return

    async def job() -> dict[str, float]:
        from tuslog.uploads import manifests
        from tuslog.uploads.archive_reading import ArchiveReading
        from tuslog.uploads.inspection import Inspection

        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(await new_sqlite(Path(tmp)), Path(tmp))
            async with running(settings) as engine:
                done = await upload(engine, data, declared=None)
                await settled(engine)
                async with engine.parts.db.begin() as session:  # made again, measured
                    await manifests.forget(session, done.id)
                before, started = _rss("VmRSS"), time.perf_counter()
                assert await Inspection(engine.parts).build_now(done.id)
                seconds = time.perf_counter() - started
                extra = _rss("VmHWM") - before
                reading = ArchiveReading(engine.parts)
                status = await reading.status(done.id)
                timings = await _services(reading, done.id)
                async with engine.parts.db.session() as session:
                    stored = len(await manifests.load_data(session, done.id) or b"")
            entries = status.counts["entries"]
            return {"seconds": seconds, "extra": extra, "n": entries, "stored": stored, **timings}

    print(json.dumps(asyncio.run(job())))


async def _services(reading: object, upload_id: str) -> dict[str, float]:
    calls = {
        "top": lambda: reading.listing(upload_id),  # type: ignore[attr-defined]
        "deep": lambda: reading.listing(upload_id, prefix="host7/var/log/app3"),  # type: ignore[attr-defined]
        "filter": lambda: reading.listing(upload_id, text="error-free-name-99"),  # type: ignore[attr-defined]
        "find": lambda: reading.find(upload_id, "host3/var/log/app3/service-3.log"),  # type: ignore[attr-defined]
    }
    result = {}
    for name, call in calls.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        result[name] = statistics.median(times)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["bare", "job"])
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path)
        return
    path = archive(args.entries)
    results: dict[str, list[dict[str, float]]] = {"bare": [], "job": []}
    for _ in range(args.rounds):
        for kind in ("bare", "job"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--path", str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            results[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    size = path.stat().st_size / MiB
    print(
        f"{args.entries:,} entries, {size:.1f} MiB tar.gz, {args.rounds} rounds, medians (min-max)"
    )
    for kind, label in (("bare", "build_manifest alone"), ("job", "background job, stored")):
        seconds = [r["seconds"] for r in results[kind]]
        extra = [r["extra"] / MiB for r in results[kind]]
        spread = f"({min(seconds):.2f}-{max(seconds):.2f})"
        print(
            f"  {label:<24} {statistics.median(seconds):6.2f} s {spread}   peak extra "
            f"{statistics.median(extra):5.1f} MiB ({min(extra):.1f}-{max(extra):.1f})"
        )
    jobs = results["job"]
    print(f"  stored manifest: {statistics.median(r['stored'] for r in jobs) / MiB:.2f} MiB")
    for name in ("top", "deep", "filter", "find"):
        values = [r[name] * 1000 for r in jobs]
        print(
            f"  {name:<8} {statistics.median(values):6.1f} ms ({min(values):.1f}-{max(values):.1f})"
        )


if __name__ == "__main__":
    main()
