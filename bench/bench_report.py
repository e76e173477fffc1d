"""Targets (from issue #2 §8) and the markdown results table."""

from typing import Any

MiB_IN_KIB = 1024
RSS_ALLOWANCE_KIB = 32 * MiB_IN_KIB


def size_label(size: int) -> str:
    """``8 MiB``, ``64 KiB``: whole units, so small PATCHes are not shown as 0 MiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def _rate(target: dict[str, Any], key: str) -> float | None:
    entry = target.get(key)
    return None if entry is None else float(entry["mb_per_s"])


def _ratio_check(
    name: str, where: str, value: float | None, base: float | None, factor: float, text: str
) -> dict[str, Any]:
    ok = value is not None and base is not None and value >= factor * base
    ratio = None if not value or not base else round(value / base, 3)
    return {
        "target": name,
        "storage": where,
        "ok": ok,
        "ratio": ratio,
        "need": factor,
        "detail": f"{text}: {value} vs {base} MB/s (ratio {ratio}, need ≥ {factor})",
    }


def checks(targets: dict[str, dict[str, Any]], patch_size: int) -> list[dict[str, Any]]:
    """The issue's targets; the PATCH one is set for 8 MiB PATCHes and is labelled with
    the size actually sent."""
    patch = size_label(patch_size)
    found = []
    if "disk" in targets:
        disk = targets["disk"]
        found.append(
            _ratio_check(
                "durable single upload ≥ 0.9 x dd",
                "disk",
                _rate(disk, "tuslog_one"),
                _rate(disk, "dd"),
                0.9,
                "tuslog 1 PATCH vs dd conv=fdatasync",
            )
        )
    if "tmpfs" in targets:
        tmpfs = targets["tmpfs"]
        found.append(
            _ratio_check(
                "tmpfs single upload ≥ 0.75 x bare handler",
                "tmpfs",
                _rate(tmpfs, "tuslog_one"),
                _rate(tmpfs, "bare_one"),
                0.75,
                "tuslog 1 PATCH vs bare aiohttp 1 PATCH",
            )
        )
    for where, target in targets.items():
        found.append(
            _ratio_check(
                f"{patch} PATCHes ≥ 0.8 x one PATCH",
                where,
                _rate(target, "tuslog_patches"),
                _rate(target, "tuslog_one"),
                0.8,
                f"tuslog {patch} PATCHes vs 1 PATCH",
            )
        )
    for where, target in targets.items():
        idle, peak = target["rss_idle_kib"], target["rss_peak_kib"]
        found.append(
            {
                "target": "peak RSS (big upload) ≤ idle + 32 MiB",
                "storage": where,
                "ok": peak <= idle + RSS_ALLOWANCE_KIB,
                "ratio": None,
                "need": None,
                "detail": f"idle {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
                f"growth {(peak - idle) / 1024:+.1f} MiB (allowed +32 MiB)",
            }
        )
    return found


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if value >= 10 else f"{value:.2f}{suffix}"
    return f"{value}{suffix}"


def render(results: dict[str, Any]) -> str:
    cfg = results["config"]
    targets = results["targets"]
    names = list(targets)
    size = size_label(cfg["size"])
    conc = f"{cfg['concurrency']} x {size_label(cfg['concurrent_size'])}"
    big = size_label(cfg["rss_size"])
    patch = size_label(cfg["patch_size"])

    def field(key: str, name: str = "mb_per_s") -> list[str]:
        cells = []
        for t in names:
            entry = targets[t].get(key, {})
            cell = _fmt(entry.get(name))
            runs = entry.get("runs_mb_per_s") if name == "mb_per_s" else None
            if runs and len(runs) > 1:
                cell += f" ({_fmt(float(min(runs)))}-{_fmt(float(max(runs)))})"
            cells.append(cell)
        return cells

    def kib(key: str) -> list[str]:
        return [_fmt(targets[t][key] / 1024) for t in names]

    rows = [
        [f"dd bs=8M conv=fdatasync, {size} (MB/s)", *field("dd")],
        [f"bare aiohttp, {size} in 1 PATCH (MB/s)", *field("bare_one")],
        [f"bare aiohttp + SHA-256, {size} in 1 PATCH (MB/s)", *field("bare_sha256_one")],
        [f"bare aiohttp, {size} in {patch} PATCHes (MB/s)", *field("bare_patches")],
        [f"bare aiohttp, {conc} concurrent (MB/s, aggregate)", *field("bare_concurrent")],
        [f"**tuslog, {size} in 1 PATCH (MB/s)**", *field("tuslog_one")],
        [f"tuslog, {size} in {patch} PATCHes (MB/s)", *field("tuslog_patches")],
        [f"tuslog, {conc} concurrent (MB/s, aggregate)", *field("tuslog_concurrent")],
        [f"tuslog, {big} in 1 PATCH (MB/s)", *field("tuslog_big")],
        ["tuslog server CPU, 1 PATCH (s/GiB)", *field("tuslog_one", "server_cpu_s_per_gib")],
        [
            "tuslog server CPU, PATCHes (s/GiB)",
            *field("tuslog_patches", "server_cpu_s_per_gib"),
        ],
        [
            "tuslog server CPU, concurrent (s/GiB)",
            *field("tuslog_concurrent", "server_cpu_s_per_gib"),
        ],
        ["bare server CPU, 1 PATCH (s/GiB)", *field("bare_one", "server_cpu_s_per_gib")],
        [
            "bare + SHA-256 server CPU, 1 PATCH (s/GiB)",
            *field("bare_sha256_one", "server_cpu_s_per_gib"),
        ],
        ["client CPU, tuslog 1 PATCH (s/GiB)", *field("tuslog_one", "client_cpu_s_per_gib")],
        [
            "other processes during tuslog 1 PATCH (CPUs busy)",
            *field("tuslog_one", "other_cpus_busy"),
        ],
        ["other processes during bare 1 PATCH (CPUs busy)", *field("bare_one", "other_cpus_busy")],
        ["tuslog RSS at start (MiB)", *kib("rss_start_kib")],
        ["tuslog RSS idle, after warm-up (MiB)", *kib("rss_idle_kib")],
        [f"tuslog peak RSS during {big} upload (MiB)", *kib("rss_peak_kib")],
        [
            "tuslog peak RSS during concurrent (MiB)",
            *[_fmt(targets[t]["tuslog_concurrent"]["peak_rss_sampled_kib"] / 1024) for t in names],
        ],
    ]
    out = [
        f"### tuslog benchmark ({cfg['cpus']} CPUs, Python {cfg['python']}, "
        f"medians of {cfg['repeat']} round(s), (min-max) of the rounds)",
        "",
        _table(["measurement", *names], rows),
        "",
        _table(
            ["target", "storage", "result", "detail"],
            [
                [c["target"], c["storage"], "PASS" if c["ok"] else "**FAIL**", c["detail"]]
                for c in results["checks"]
            ],
        ),
    ]
    return "\n".join(out)
