"""Markdown tables for bench/peers.py: medians per server, tuslog over the best peer, the
targets of issue 11 §4b, and every round's figures."""

import math
import statistics
from typing import Any

WORKLOADS = ("W1", "W2", "W3")
# issue 11 §4b: MB/s of tuslog over the best peer, per workload
SPEED_TARGETS = {"W1": 1.3, "W2": 1.1, "W3": 1.1}
CPU_MARGIN_S = 0.6  # tuslog's CPU-s per GiB may exceed the best peer's by this (SHA-256)
RSS_TARGET_MIB = 100.0
_KEYS = (
    "mb_per_s",
    "server_cpu_s",
    "server_cpu_s_per_gib",
    "peak_rss_mib",
    "peak_tree_rss_mib",
    "other_cpus_busy",
    "client_cpu_s_per_gib",
)


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _mib(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 2**30 else f"{n / 2**20:g} MiB"


def medians(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    return {
        name: {w: {k: _med(runs[w], k) for k in _KEYS} for w in WORKLOADS if w in runs}
        for name, runs in results["runs"].items()
    }


def _caption(cfg: dict[str, Any]) -> str:
    return (
        f"W1 = {_mib(cfg['size'])} in 1 PATCH, W2 = the same in {_mib(cfg['patch_size'])} "
        f"PATCHes, W3 = {cfg['concurrency']} x {_mib(cfg['concurrent_size'])} concurrent in "
        f"{_mib(cfg['patch_size'])} PATCHes; medians of {cfg['rounds']} interleaved rounds. "
        f"{cfg['date']}, {cfg['cpus']} CPUs ({cfg['cpu']}), {cfg['memory_gib']} GiB, Linux "
        f"{cfg['kernel']}, {cfg['filesystem']}, Python {cfg['python']}, "
        f"tuslog {cfg['tuslog_commit']}."
    )


def main_table(results: dict[str, Any]) -> list[str]:
    med = medians(results)
    lines = [
        "| server | W1 MB/s | W2 MB/s | W3 MB/s | server CPU-s W1 / W2 / W3 | peak RSS W3 |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in med.items():
        label = results["servers"][name]["label"]
        label = f"**{label}**" if name == "tuslog" else label
        rates = " | ".join(f"{m[w]['mb_per_s']:,.0f}" for w in WORKLOADS)
        cpu = " / ".join(f"{m[w]['server_cpu_s']:.2f}" for w in WORKLOADS)
        lines.append(f"| {label} | {rates} | {cpu} | {m['W3']['peak_rss_mib']:.0f} MiB |")
    if "tuslog" in med and len(med) > 1:
        lines += _ratio_rows(med)
    return lines


def _ratio_rows(med: dict[str, Any]) -> list[str]:
    peers = {n: m for n, m in med.items() if n != "tuslog"}
    t = med["tuslog"]
    ratios = []
    for w in WORKLOADS:
        best = max(peers, key=lambda n: peers[n][w]["mb_per_s"])
        ratios.append(f"{t[w]['mb_per_s'] / peers[best][w]['mb_per_s']:.2f} ({best})")
    deltas = []
    for w in WORKLOADS:
        best = min(peers, key=lambda n: peers[n][w]["server_cpu_s_per_gib"])
        delta = t[w]["server_cpu_s_per_gib"] - peers[best][w]["server_cpu_s_per_gib"]
        deltas.append(f"{delta:+.2f}")
    rss = min(p["W3"]["peak_rss_mib"] for p in peers.values())
    return [
        f"| tuslog / best peer (MB/s); tuslog - best peer (CPU-s/GiB) | {' | '.join(ratios)} "
        f"| {' / '.join(deltas)} | {t['W3']['peak_rss_mib'] / rss:.2f} x smallest |"
    ]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    med = medians(results)
    if "tuslog" not in med or len(med) < 2:
        return []
    t, peers = med["tuslog"], {n: m for n, m in med.items() if n != "tuslog"}
    found = []
    for w, need in SPEED_TARGETS.items():
        best = max(peers, key=lambda n: peers[n][w]["mb_per_s"])
        ratio = t[w]["mb_per_s"] / peers[best][w]["mb_per_s"]
        found.append(
            {
                "target": f"{w} >= {need} x best peer",
                "ok": ratio >= need,
                "detail": f"{t[w]['mb_per_s']:,.0f} vs {best} {peers[best][w]['mb_per_s']:,.0f}"
                f" MB/s: {math.floor(ratio * 1000) / 1000:.3f} x",  # never rounded up to a pass
            }
        )
    for w in WORKLOADS:
        best = min(peers, key=lambda n: peers[n][w]["server_cpu_s_per_gib"])
        mine, theirs = t[w]["server_cpu_s_per_gib"], peers[best][w]["server_cpu_s_per_gib"]
        found.append(
            {
                "target": f"{w} CPU-s/GiB <= best peer + {CPU_MARGIN_S}",
                "ok": mine <= theirs + CPU_MARGIN_S,
                "detail": f"{mine:.2f} vs {best} {theirs:.2f} (+{mine - theirs:.2f})",
            }
        )
    rss = t["W3"]["peak_rss_mib"]
    found.append(
        {
            "target": f"W3 peak RSS <= {RSS_TARGET_MIB:.0f} MiB",
            "ok": rss <= RSS_TARGET_MIB,
            "detail": f"{rss:.0f} MiB (whole tree {t['W3']['peak_tree_rss_mib']:.0f} MiB)",
        }
    )
    return found


def _rounds_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| server | workload | MB/s per round | CPU-s per round | other CPUs busy | tree RSS |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in results["runs"].items():
        for w in WORKLOADS:
            rs = runs.get(w, [])
            rates = ", ".join(f"{r['mb_per_s']:,.0f}" for r in rs)
            cpu = ", ".join(f"{r['server_cpu_s']:.2f}" for r in rs)
            others = ", ".join(f"{r['other_cpus_busy']:.2f}" for r in rs)
            tree = max(r["peak_tree_rss_mib"] for r in rs)
            lines.append(f"| {name} | {w} | {rates} | {cpu} | {others} | {tree:.0f} MiB |")
    return lines


def render(results: dict[str, Any]) -> str:
    out = [_caption(results["config"]), "", *main_table(results), ""]
    checks = targets(results)
    if checks:
        out += ["| target (issue 11 §4b) | result | detail |", "|---|---|---|"]
        for c in checks:
            out.append(f"| {c['target']} | {'PASS' if c['ok'] else '**FAIL**'} | {c['detail']} |")
        out.append("")
    versions = "; ".join(
        f"{n}: " + ", ".join(f"{k} {v}" for k, v in s.items() if k != "label")
        for n, s in results["servers"].items()
    )
    out += [f"Versions: {versions}.", "", *_rounds_table(results)]
    return "\n".join(out)
