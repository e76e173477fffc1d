"""The search across one archive's text entries, from the portal.

A GET form (pattern, fixed string or regular expression, case, a glob of paths, context
lines) whose results page *streams*: the page's top is sent at once, each match as it is
found (chunked HTML, no script needed), then what was searched and why it stopped, if it
stopped early (the time and byte budgets, ``TUSLOG_ARCHIVE_SEARCH_*``, or the number of
matches). Leaving the page (a link, the browser's Stop, closing the tab) closes the
connection, and the search stops on the server: a watcher sees the connection go and
closes the run, which stops the reading at its next chunk. A pattern that cannot be used
is a 400 page with the form, before anything is searched.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from jinja2 import Template
from markupsafe import Markup

from tuslog import errors
from tuslog.archives import SearchQuery, SearchSummary
from tuslog.db.models import ManifestState
from tuslog.http.client import client_ip
from tuslog.keys import ENGINE
from tuslog.uploads.archive_streams import SearchRun
from tuslog.web.pages import PAGE_HEADERS
from tuslog.web.portal.archive_views import archive_reading, whole_number
from tuslog.web.portal.forms import search_text
from tuslog.web.portal.guard import signed_in
from tuslog.web.portal.render import PORTAL_HEADERS, portal_context, portal_page

MAX_HITS = 1000
CONTEXTS = (0, 1, 2, 3, 5, 10)
DEFAULT_CONTEXT = 2
MAX_PATTERN = 1000
_HITS = Markup("<!--tuslog:search-hits-->")
_END = Markup("<!--tuslog:search-end-->")
_WATCH_SECONDS = 0.25
_TEMPLATE = "portal/archive_search.html"


@dataclass(frozen=True)
class SearchForm:
    pattern: str
    regex: bool
    ignore_case: bool
    paths: str
    context: int

    @classmethod
    def of(cls, request: web.Request) -> "SearchForm":
        query = request.query
        context = whole_number(query.get("context"), DEFAULT_CONTEXT, 0, CONTEXTS[-1])
        return cls(
            pattern=query.get("pattern", "")[: MAX_PATTERN + 1],  # too long: said by the check
            regex=query.get("mode") == "regex",
            ignore_case=query.get("case") == "ignore",
            paths=search_text(query.get("paths", ""), 500),
            context=context if context in CONTEXTS else DEFAULT_CONTEXT,
        )

    def query(self) -> SearchQuery:
        return SearchQuery(
            self.pattern,
            fixed=not self.regex,
            ignore_case=self.ignore_case,
            context=self.context,
            max_hits=MAX_HITS,
            paths=self.paths or None,
        )


async def search_page(request: web.Request) -> web.StreamResponse:
    upload, ticket = await request.config_dict[ENGINE].reading.find(request.match_info["upload_id"])
    form = SearchForm.of(request)
    shown: dict[str, Any] = {"upload": upload, "ticket": ticket, "form": form, "error": None}
    shown.update(nav="uploads", contexts=CONTEXTS, max_hits=MAX_HITS)
    shown.update(results=None, results_end="")
    if not form.pattern:
        return portal_page(request, "archive_search.html", **shown)
    reading = archive_reading(request)
    if (await reading.status(upload.id)).state == ManifestState.NOT_AN_ARCHIVE:
        raise errors.ARCHIVE_NOT_AN_ARCHIVE()
    current = signed_in(request)
    try:
        run = await reading.search(
            upload.id, form.query(), actor=current.email, client_ip=client_ip(request)
        )
    except errors.TuslogError as exc:
        if exc.code != errors.ARCHIVE_PATTERN_INVALID.code:
            raise
        shown["error"] = exc.message
        return portal_page(request, "archive_search.html", status=exc.status, **shown)
    async with run:
        return await _stream(request, run, shown)


def _template(request: web.Request, name: str) -> Template:
    environment = request.config_dict[aiohttp_jinja2.APP_KEY]
    return environment.get_template(name)


async def _stream(
    request: web.Request, run: SearchRun, shown: dict[str, Any]
) -> web.StreamResponse:
    shown = {**shown, "results": _HITS, "results_end": _END}
    context = portal_context(request, **shown)
    page = _template(request, _TEMPLATE).render(context)
    head, _, rest = page.partition(_HITS)
    between, _, tail = rest.partition(_END)
    headers = {**PAGE_HEADERS, **PORTAL_HEADERS, "Content-Language": context["lang"]}
    headers["X-Accel-Buffering"] = "no"  # a proxy in front passes each match on at once
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "text/html"
    response.charset = "utf-8"
    await response.prepare(request)
    try:
        await response.write(head.encode())
        problem = await _send_hits(request, response, run, context)
        if problem is _GONE:
            return response
        ending = _template(request, "portal/_archive_search_end.html")
        closing = ending.render(
            context, summary=run.summary, problem=problem, described=summary_text(run.summary)
        )
        await response.write((between + closing + tail).encode())
        await response.write_eof()
    except OSError:  # the browser left while a part was written
        pass
    return response


_GONE = "gone"


async def _send_hits(
    request: web.Request, response: web.StreamResponse, run: SearchRun, context: dict[str, Any]
) -> str | None:
    """Each match as it is found. None when the search ended by itself, the message of
    an error that ended it, or ``_GONE`` when the browser left (the run is closed)."""
    hit_template = _template(request, "portal/_archive_hit.html")
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch(request, run, gone))
    try:
        async for hit in run.hits():
            await response.write(hit_template.render(context, hit=hit).encode())
    except errors.TuslogError as exc:
        return _GONE if gone.is_set() else exc.message
    except OSError:
        return _GONE
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return _GONE if gone.is_set() else None


async def _watch(request: web.Request, run: SearchRun, gone: asyncio.Event) -> None:
    """Close the run once the browser's connection is gone: a search that finds nothing
    for a while writes nothing, so a failed write alone would notice too late."""
    while True:
        await asyncio.sleep(_WATCH_SECONDS)
        transport = request.transport
        if transport is None or transport.is_closing():
            gone.set()
            await run.close()
            return


def summary_text(summary: SearchSummary | None) -> str:
    """One line on what was searched."""
    if summary is None:
        return "The search ended before it could say what it searched."
    return (
        f"{summary.hits:,} match{'es' if summary.hits != 1 else ''} in "
        f"{summary.entries_searched:,} text entr{'ies' if summary.entries_searched != 1 else 'y'}"
        f" ({summary.bytes_searched:,} bytes) in {summary.seconds:.1f} s"
    )
