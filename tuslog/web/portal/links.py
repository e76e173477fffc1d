"""Portal URLs: built in one place (every path segment percent-encoded, so a ticket number
like ``SR/1?x`` or ``javascript:…`` is only ever a path segment under the portal), and
the one check of where a ``next`` parameter may send a browser after signing in."""

from urllib.parse import quote, urlencode, urlsplit

MOUNT = "/staff"  # where mount_web puts the portal, under TUSLOG_PUBLIC_URL's path


class Links:
    """``links("tickets", number, q="x")`` → ``/prefix/staff/tickets/SR-1?q=x``."""

    def __init__(self, prefix: str) -> None:
        self.root = f"{prefix}{MOUNT}"

    def __call__(self, *segments: str | int, **query: str | int | None) -> str:
        path = "/".join(quote(str(segment), safe="") for segment in segments)
        url = f"{self.root}/{path}"
        wanted = {key: value for key, value in query.items() if value not in (None, "")}
        return f"{url}?{urlencode(wanted)}" if wanted else url

    def safe_next(self, candidate: str | None) -> str | None:
        """``candidate`` if it is a path of this portal (no scheme, no host, no ``//``, no
        backslash a browser would read as a slash), else None: never an open redirect."""
        if not candidate or len(candidate) > 2000 or not candidate.isprintable():
            return None
        if "\\" in candidate or candidate.startswith("//"):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc or not parts.path.startswith(f"{self.root}/"):
            return None
        if ".." in parts.path.split("/"):  # "/staff/../x" is not a portal page
            return None
        return candidate
