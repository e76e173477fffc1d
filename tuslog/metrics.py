"""The Prometheus instruments, in one leaf module that every layer may call (a line each;
the endpoint that serves them is ``tuslog.http.metrics``).

They are built on first use, not at import: under ``tuslog serve`` the gunicorn master
points prometheus-client at a directory shared by its workers (multiprocess mode) before
any worker touches a metric, and prometheus-client decides where values live when the
first one is made. Outside a server (tests, the CLI) the values stay in the process.
"""

import functools
import os
from typing import Literal

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Up to the ~10 s a struggling network disk may take; most local fsyncs are under 5 ms.
_FSYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Instruments:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "tuslog_http_requests",
            "HTTP requests answered, by route, method and status (499: the client left)",
            ["route", "method", "status"],
        )
        self.bytes_received = Counter(
            "tuslog_upload_received_bytes", "Upload bytes stored durably and recorded"
        )
        self.created = Counter("tuslog_uploads_created", "Uploads created")
        self.completed = Counter(
            "tuslog_uploads_completed", "Uploads whose every byte arrived (any verdict)"
        )
        self.verified = Counter(
            "tuslog_uploads_verified", "Finished uploads whose SHA-256 matched the declared one"
        )
        self.corrupt = Counter(
            "tuslog_uploads_corrupt", "Finished uploads whose SHA-256 did not match"
        )
        self.ended = Counter(
            "tuslog_uploads_ended",
            "Uploads ended: expired (janitor), terminated (client), deleted (staff, retention)",
            ["state"],
        )
        self.receiving = Gauge(
            "tuslog_uploads_in_progress",
            "Request bodies being received right now (PATCH, creation-with-upload)",
            multiprocess_mode="livesum",
        )
        self.lock_takeovers = Counter(
            "tuslog_lock_takeovers",
            "Requests that asked an upload's holder to let go: released, or timed out (423)",
            ["result"],
        )
        self.fsync_seconds = Histogram(
            "tuslog_fsync_seconds", "Time an fdatasync of upload data took", buckets=_FSYNC_BUCKETS
        )
        self.webhook_deliveries = Counter(
            "tuslog_webhook_deliveries", "Webhook delivery attempts, by result", ["result"]
        )
        self.auth_limited = Counter(
            "tuslog_auth_failure_limit_hits",
            "Requests refused (429) because their address failed too many token checks",
        )
        self.janitor_errors = Counter("tuslog_janitor_errors", "Janitor passes that failed")


@functools.cache
def get() -> Instruments:
    """The process' instruments (made on first use, see the module's docstring)."""
    return Instruments()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def lock_takeover(happened: bool, result: Literal["released", "timed_out"]) -> None:
    """A request found its upload's lock held and asked the holder to let go."""
    if happened:
        get().lock_takeovers.labels(result).inc()
