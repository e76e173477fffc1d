"""``GET /metrics`` in Prometheus' text format, and the per-request counters.

Under ``tuslog serve`` every gunicorn worker writes its values to a directory shared by
all of them (prometheus-client's multiprocess mode), and whichever worker answers a
scrape adds them all up: counters and the in-progress gauge agree whichever worker
Prometheus reaches. Storage figures are measured at scrape time.

Only callers from ``TUSLOG_METRICS_NETWORKS`` (by their real address, behind a trusted
proxy) or presenting ``TUSLOG_METRICS_TOKEN`` as a bearer token may read it."""

import asyncio
import hmac
from collections.abc import Iterator
from ipaddress import ip_address

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tuslog import metrics
from tuslog.http.client import client_ip
from tuslog.keys import ENGINE, SETTINGS
from tuslog.settings import Settings
from tuslog.uploads.engine import StorageReport

_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"})


def route_of(request: web.Request) -> str:
    """The route's template (``/files/{upload_id}``), never the raw path: one series per
    route, whatever ids or junk clients send."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def count_request(request: web.Request, status: int) -> None:
    method = request.method if request.method in _METHODS else "other"
    metrics.get().requests.labels(route_of(request), method, str(status)).inc()


def _allowed(request: web.Request, settings: Settings) -> bool:
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        secret = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), secret):
            return True
    try:
        address = ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in settings.metrics_networks)


class _Storage(Collector):
    """Storage gauges from one measurement, taken when the scrape came in."""

    def __init__(self, report: StorageReport | None) -> None:
        self._report = report

    def collect(self) -> Iterator[GaugeMetricFamily]:
        report = self._report
        yield GaugeMetricFamily(
            "tuslog_storage_up", "1 if the storage could be measured", value=int(bool(report))
        )
        if report is None:
            return
        for name, text, value in (
            ("free", "Free bytes on the storage volume", report.free),
            ("promised", "Bytes still owed to unfinished uploads of known length", report.promised),
            ("reserve", "TUSLOG_MIN_FREE_SPACE", report.reserve),
            ("available", "Bytes new uploads may still be admitted to", report.available),
            ("uploads", "Bytes held by uploads on disk", report.upload_bytes),
        ):
            yield GaugeMetricFamily(f"tuslog_storage_{name}_bytes", text, value=value)


async def _storage_report(request: web.Request) -> StorageReport | None:
    try:
        return await request.app[ENGINE].storage_report()
    except Exception:  # storage or database away: say so in tuslog_storage_up
        return None


async def serve_metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not _allowed(request, settings):
        if settings.metrics_token is not None:
            raise web.HTTPUnauthorized(
                text="Present TUSLOG_METRICS_TOKEN as a bearer token.\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        raise web.HTTPForbidden(text="Not from a network in TUSLOG_METRICS_NETWORKS.\n")
    metrics.get()  # every series exists from the first scrape on, at zero
    if metrics.multiprocess():
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
    else:
        shared = REGISTRY
    measured = CollectorRegistry(auto_describe=False)
    measured.register(_Storage(await _storage_report(request)))
    # The workers' files are read off the event loop; a PATCH must not wait for a scrape.
    body = await asyncio.to_thread(generate_latest, shared) + generate_latest(measured)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
