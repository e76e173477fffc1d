"""Sorts py-spy samples (``--format raw``: ``frame;frame;… count`` per line, outermost
frame first, each ``function (file:line)``) into the costs bench/patch_cost.py reports.

A sample goes to the category of its innermost frame that names one: a query that tuslog
runs in a worker thread counts as database, the future that hands its result back as a
thread hand-off, tuslog's own Python between them as tuslog."""

import re
from collections import Counter
from typing import Any

# (category, pattern on "function (file:line)"), checked innermost frame first
CATEGORIES: list[tuple[str, re.Pattern[str]]] = [
    ("fdatasync / fsync", re.compile(r"\b(fdatasync|fsync)\b|FileWriter\.sync \(")),
    ("SHA-256", re.compile(r"hashlib|\bsha256\b|tuslog/uploads/digests\.py")),
    ("lock (flock, lock files)", re.compile(r"\bflock\b|lockf|tuslog/\S*lock\S*\.py")),
    ("database (SQLAlchemy, sqlite3)", re.compile(r"sqlalchemy/|aiosqlite/|sqlite3/|asyncpg/")),
    (
        "thread hand-offs (pool, futures, wake-ups)",
        re.compile(
            r"concurrent/futures/|threading\.py|queue\.py|"
            r"\b(run_in_executor|to_thread|call_soon_threadsafe|_write_to_self|"
            r"_read_from_self|_chain_future|_copy_future_state|_set_state)\b"
        ),
    ),
    ("file writes (pwrite, open, stat)", re.compile(r"\b(pwrite|pwritev|write|open|stat)\b \(")),
    ("aiohttp (parsing, handlers, middlewares)", re.compile(r"aiohttp/|multidict/|yarl/")),
    ("logging (access log, secret filter)", re.compile(r"logging/|tuslog/logs/")),
    ("asyncio event loop", re.compile(r"asyncio/")),
    ("tuslog's own code", re.compile(r"tuslog/")),
]
# A thread parked here is idle (py-spy's own idle detection does not see it on this VM):
# the loop's epoll wait, a pool thread waiting for work, aiosqlite's queue, any wait.
IDLE = re.compile(
    r"^(?:\S*select \(selectors\.py|_worker \(concurrent/futures/thread\.py|"
    r"_connection_worker_thread \(aiosqlite/|\S*wait \(threading\.py|"
    r"\S*get \(queue\.py|\S*_wait_for_tstate_lock|\S*sleep )"
)
_LINE = re.compile(r"^(.*) (\d+)$")
_OUTER = re.compile(r"\(tuslog/(__main__|cli/)")  # the worker's entry, in every stack
_FRAME = re.compile(r"^(.*) \((.*?):(\d+)\)$")


def _samples(raw: str) -> tuple[list[tuple[list[str], int]], int]:
    """The busy samples, and how many idle ones were left out."""
    out, idle = [], 0
    for line in raw.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        frames, count = match.group(1).split(";"), int(match.group(2))
        if IDLE.match(frames[-1]):
            idle += count
        else:
            out.append((frames, count))
    return out, idle


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if pattern.search(frame):
                return name
    return "other"


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    func, path, _ = match.groups()
    return f"{func} ({path})"


def summarize(raw: str, title: str, top: int = 15) -> dict[str, Any]:
    samples, idle = _samples(raw)
    total = sum(n for _, n in samples) or 1
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()  # tuslog's own functions, whatever they call
    for frames, n in samples:
        categories[_category(frames)] += n
        for frame in {f for f in frames if "(tuslog/" in f and not _OUTER.search(f)}:
            inclusive[_short(frame)] += n
    table = [
        f"{title}: {total} busy samples ({idle} idle ones, threads parked in epoll, a"
        " pool queue or a wait, left out)",
        "",
        "| cost | share of samples |",
        "|---|---|",
    ]
    table += [f"| {name} | {100 * n / total:.1f} % |" for name, n in categories.most_common()]
    table += ["", "| tuslog function (with what it calls) | share |", "|---|---|"]
    table += [f"| {name} | {100 * n / total:.1f} % |" for name, n in inclusive.most_common(top)]
    return {
        "samples": total,
        "idle_samples": idle,
        "categories": {k: round(100 * v / total, 1) for k, v in categories.items()},
        "tuslog_inclusive": {k: round(100 * v / total, 1) for k, v in inclusive.most_common(40)},
        "table": table,
    }
