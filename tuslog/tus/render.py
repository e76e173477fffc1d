"""How the tus surface answers: upload headers, and errors as ``text/plain``."""

from email.utils import format_datetime

from aiohttp import web

from tuslog import errors
from tuslog.db.models import Upload, UploadState


def upload_headers(upload: Upload, ticket: str, *, full: bool = False) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Tuslog-Upload-State": upload.shown_state,
        "Tuslog-Ticket": ticket,
    }
    if upload.length is not None:
        headers["Upload-Length"] = str(upload.length)
    else:
        headers["Upload-Defer-Length"] = "1"
    expires = upload.state is UploadState.RECEIVING or upload.is_partial
    if expires and upload.expires_at is not None:
        headers["Upload-Expires"] = format_datetime(upload.expires_at, usegmt=True)
    if upload.sha256:
        headers["Tuslog-Sha256"] = upload.sha256
    if full:
        headers["Cache-Control"] = "no-store"
        if upload.metadata_raw:
            headers["Upload-Metadata"] = upload.metadata_raw
        if upload.concat:
            headers["Upload-Concat"] = upload.concat
    return headers


def error_response(error: errors.TuslogError) -> web.Response:
    response = web.Response(status=error.status, text=error.message + "\n")
    response.headers.update(error.headers)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    if response.headers.get("Connection", "").lower() == "close":
        response.force_close()  # the header alone does not stop aiohttp keeping it open
    return response
