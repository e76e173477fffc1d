"""ETags and If-Match (RFC 9110): a strong ETag is the service's revision in quotes;
If-Match compares strongly (a weak tag never matches), ``*`` matches anything."""

from tuslog import errors


def etag(revision: str) -> str:
    return f'"{revision}"'


def matched_revision(if_match: str, current: str) -> str:
    """The revision the client saw, for the service's compare-and-set: the one it names
    if it names the current one, else PRECONDITION_FAILED (unless ``*``)."""
    tags = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" in tags:
        return current
    for tag in tags:
        if not tag.startswith("W/") and tag == etag(current):
            return current
    raise errors.PRECONDITION_FAILED()
