"""Which language a page is shown in: an explicit ``?lang=`` (the page's language links),
else the best match in ``Accept-Language`` (which browsers build from the user's
``navigator.languages``), else English."""

from aiohttp import web

from tuslog.web.messages import CATALOGUES, DEFAULT_LANGUAGE

_MAX_RANGES = 32  # an Accept-Language longer than this is cut, not parsed whole


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def negotiate(accept_language: str | None) -> str:
    """The best supported language for an Accept-Language value (RFC 9110 ranges with
    q-values; ``de-CH`` matches ``de``, ``*`` matches the default). Garbage is ignored."""
    ranges: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:_MAX_RANGES]):
        tag, _, params = item.partition(";")
        tag = tag.strip().lower()
        quality = _quality(params)
        if tag and quality > 0:
            ranges.append((-quality, position, tag))
    for _, _, tag in sorted(ranges):
        if tag == "*":
            return DEFAULT_LANGUAGE
        primary = tag.split("-", 1)[0]
        if primary in CATALOGUES:
            return primary
    return DEFAULT_LANGUAGE


def choose_language(request: web.Request) -> str:
    explicit = request.query.get("lang", "").strip().lower()
    if explicit in CATALOGUES:
        return explicit
    return negotiate(request.headers.get("Accept-Language"))


def catalogue(language: str) -> dict[str, str]:
    """The language's strings; a key it lacks falls back to English."""
    return {**CATALOGUES[DEFAULT_LANGUAGE], **CATALOGUES.get(language, {})}


def language_names() -> dict[str, str]:
    """Each language in its own name, for the language switch."""
    return {code: strings["language.name"] for code, strings in CATALOGUES.items()}
