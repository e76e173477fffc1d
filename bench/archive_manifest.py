"""Benchmark: the archive manifest against `tar -tzf` on the same tar.gz.

    .venv/bin/python bench/archive_manifest.py                  # 2 GiB, 100,000 entries
    .venv/bin/python bench/archive_manifest.py --size 64M --entries 2000 --rounds 1  # smoke

The archive is built once (log-like text: timestamps, hosts, ids, IPs; about 4:1 with gzip -6)
and cached in .tuslog-bench-archives/ (git-ignored); building the 2 GiB one takes ~12 min.
Then, for --rounds rounds, interleaved: `tar -tzf FILE > /dev/null`, and the manifest in a
fresh Python process (once per --inflate variant). Each manifest process reports its wall
time and its peak extra memory: VmHWM at the end minus VmRSS just before the manifest
started (imports done). The table gives medians (min-max). Exit status 0 when the default
variant meets the targets: at least 80 % of tar's speed, at most 64 MiB extra memory.
"""

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".tuslog-bench-archives"
MiB = 1024 * 1024
SPEED_TARGET = 0.8
MEMORY_TARGET = 64 * MiB

LEVELS = ["INFO"] * 20 + ["DEBUG"] * 10 + ["WARN"] * 3 + ["ERROR"]
PROGRAMS = ["kernel", "systemd[1]", "sshd[%d]", "cron[%d]", "dockerd[%d]", "nginx", "postgres[%d]"]
MESSAGES = [
    "Accepted publickey for {u} from {ip} port {p} ssh2: RSA SHA256:{h}",
    "Started Session {n} of user {u}.",
    'GET /api/v1/items/{n}?page={p} HTTP/1.1 200 {m} "-" "curl/7.{p}" rt={f}',
    "connection from {ip}:{p} closed after {f}s (read {n} bytes, wrote {m})",
    "checkpoint complete: wrote {n} buffers ({f}%); {p} WAL file(s) added",
    "job {h} finished with status {m}, elapsed {f}s",
    "Failed to fetch {ip}: timeout after {p} ms, retry {m} of 5",
    "container {h} health check ok ({f} ms)",
]
USERS = ["root", "alice", "deploy", "backup", "postgres", "www-data"]


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].isalpha() else int(text)


def log_pool(size: int, rng: random.Random) -> bytes:
    """``size`` bytes of log lines; files are slices of it (far apart: no cheap repeats)."""
    lines, total, second = [], 0, 1_700_000_000
    while total < size:
        second += rng.randint(0, 2)
        program = rng.choice(PROGRAMS)
        program = program % rng.randint(100, 65000) if "%d" in program else program
        message = rng.choice(MESSAGES).format(
            u=rng.choice(USERS),
            ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            p=rng.randint(1, 65535),
            h=f"{rng.getrandbits(48):012x}",
            n=rng.randint(0, 10**6),
            m=rng.randint(0, 10**5),
            f=f"{rng.random():.3f}",
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = f"{stamp}.{rng.randint(0, 999):03d}Z host{rng.randint(1, 12):02d} "
        line += f"{rng.choice(LEVELS)} {program}: {message}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def build(path: Path, size: int, entries: int) -> None:
    """A tar.gz of about ``size`` bytes holding ``entries`` entries (1 % directories)."""
    rng = random.Random(20261205)
    pool = log_pool(64 * MiB, rng)
    ratio = len(pool[: 8 * MiB]) / len(zlib.compress(pool[: 8 * MiB], 6))
    dirs = max(1, entries // 100)
    files = entries - dirs
    mean = size * ratio / files
    sizes = [int(rng.lognormvariate(0, 1.5)) for _ in range(files)]
    scale = mean * files / max(sum(sizes), 1)
    partial = path.with_suffix(".partial")
    print(
        f"building {path.name}: {entries:,} entries, ~{size * ratio / 2**30:.1f} GiB of text "
        f"(gzip ratio {ratio:.1f}) ...",
        file=sys.stderr,
    )
    with partial.open("wb") as out:
        gzip = subprocess.Popen(["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert gzip.stdin is not None
        with tarfile.open(fileobj=gzip.stdin, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            for number in range(dirs):
                info = tarfile.TarInfo(f"var/log/host{number:04d}")
                info.type, info.mtime, info.mode = tarfile.DIRTYPE, 1_700_000_000, 0o755
                tar.addfile(info)
            for number, raw_size in enumerate(sizes):
                length = min(max(int(raw_size * scale), 0), len(pool) // 2)
                start = rng.randrange(len(pool) - length) if length else 0
                info = tarfile.TarInfo(f"var/log/host{number % dirs:04d}/service-{number:06d}.log")
                info.size, info.mtime = length, 1_700_000_000 + number
                tar.addfile(info, io.BytesIO(pool[start : start + length]))
                if number % 10_000 == 0:
                    print(f"  {number:,} files", file=sys.stderr)
        gzip.stdin.close()
        if gzip.wait() != 0:
            raise SystemExit("gzip failed")
    partial.rename(path)


def measure_manifest(path: Path, inflate: str) -> dict[str, float | int | str]:
    """Run in a fresh process: one manifest, its time and peak extra memory."""
    if inflate == "zlib":
        import tuslog.archives.decoders as decoders

        decoders.inflate = zlib  # type: ignore[misc]
    from tuslog.archives import build_manifest

    before = _status("VmRSS")
    started = time.perf_counter()
    manifest = build_manifest(lambda: path.open("rb"))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "extra_rss": (_status("VmHWM") - before) * 1024,
        "entries": manifest.counts.entries,
        "problem": manifest.problem or "",
        "decompressed": manifest.bytes_decompressed,
    }


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def time_tar(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["tar", "-tzf", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def time_manifest(path: Path, inflate: str) -> dict[str, float | int | str]:
    command = [sys.executable, __file__, "--measure", str(path), "--inflate", inflate]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="2G", help="compressed size of the archive (2G)")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inflate", default="isal,zlib", help="variants to time: isal,zlib")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_manifest(args.measure, args.inflate)))
        return 0
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"logs-{args.size}-{args.entries}.tar.gz"
    if not path.exists():
        build(path, parse_size(args.size), args.entries)
    variants = args.inflate.split(",")
    tar_times: list[float] = []
    runs: dict[str, list[dict[str, float | int | str]]] = {v: [] for v in variants}
    for number in range(1, args.rounds + 1):
        tar_times.append(time_tar(path))
        for variant in variants:
            runs[variant].append(time_manifest(path, variant))
        line = f"round {number}: tar -tzf {tar_times[-1]:.2f} s"
        line += "".join(f", {v} {runs[v][-1]['seconds']:.2f} s" for v in variants)
        print(line, file=sys.stderr)
    return report(path, tar_times, runs, variants[0])


def report(
    path: Path,
    tar_times: list[float],
    runs: dict[str, list[dict[str, float | int | str]]],
    main_variant: str,
) -> int:
    tar_median = statistics.median(tar_times)
    first = runs[main_variant][0]
    print(
        f"archive: {path.name}, {path.stat().st_size / MiB:,.0f} MiB, {first['entries']:,} "
        f"entries, {int(first['decompressed']) / 2**30:.2f} GiB decompressed; "
        f"{len(tar_times)} interleaved rounds, median (min-max)\n"
    )
    print("| command | seconds | speed vs tar -tzf | peak extra RSS (MiB) |")
    print("|---|---|---|---|")
    print(f"| `tar -tzf` | {summary(tar_times)} | 1.00 | |")
    passed = True
    for variant, results in runs.items():
        seconds = [float(r["seconds"]) for r in results]
        memory = [int(r["extra_rss"]) / MiB for r in results]
        speed = tar_median / statistics.median(seconds)
        print(
            f"| manifest ({variant} inflate) | {summary(seconds)} | {speed:.2f} | "
            f"{statistics.median(memory):.1f} (max {max(memory):.1f}) |"
        )
        problems = {str(r["problem"]) for r in results} - {""}
        if problems:
            print(f"\nmanifest ({variant}) problem: {problems}")
        if variant == main_variant:
            passed = speed >= SPEED_TARGET and max(memory) * MiB <= MEMORY_TARGET and not problems
    print(
        f"\ntargets (speed >= {SPEED_TARGET:.0%} of tar -tzf, extra memory <= 64 MiB): "
        + ("met" if passed else "NOT met")
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
