"""Latency of REST API calls against a running server, interleaved with /healthz (the
same server's floor): what authentication (the failure-limit reservation, the key check,
the refund) and the listing add per call.

    TUSLOG_BENCH_KEY=tlk_… python bench/api_latency.py http://127.0.0.1:8080 [--rounds 300]

Prints the median and 95th percentile of each kind of request, in milliseconds.
"""

import argparse
import os
import statistics
import time

import requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    key = os.environ["TUSLOG_BENCH_KEY"]
    http = requests.Session()
    auth = {"Authorization": f"Bearer {key}"}
    calls = {
        "GET /healthz (no auth)": lambda: http.get(f"{args.url}/healthz"),
        "GET /api/v1/storage": lambda: http.get(f"{args.url}/api/v1/storage", headers=auth),
        "GET /api/v1/tickets?limit=50": lambda: http.get(
            f"{args.url}/api/v1/tickets?limit=50", headers=auth
        ),
        "GET /api/v1/tickets/SR-1": lambda: http.get(
            f"{args.url}/api/v1/tickets/SR-1", headers=auth
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            response = call()
            times[name].append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
    for name, found in times.items():
        found.sort()
        p95 = found[int(len(found) * 0.95) - 1]
        print(f"{name:<32} median {statistics.median(found):6.2f} ms   p95 {p95:6.2f} ms")


if __name__ == "__main__":
    main()
