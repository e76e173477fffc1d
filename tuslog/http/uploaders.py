"""GET /uploader.sh and /uploader.py: the customer scripts, served by the app itself."""

from importlib import resources

from aiohttp import web

from tuslog.http.client import Handler

_SCRIPTS = {
    "/uploader.sh": ("uploader.sh", "text/x-shellscript"),
    "/uploader.py": ("uploader.py", "text/x-python"),
}


def _handler(filename: str, content_type: str) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        resource = resources.files("tuslog") / "uploaders" / filename
        try:
            body = resource.read_bytes()
        except FileNotFoundError:
            raise web.HTTPNotFound(text="uploader script not installed\n") from None
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-cache",
            },
        )

    return serve


def add_routes(router: web.UrlDispatcher) -> None:
    for path, (filename, content_type) in _SCRIPTS.items():
        router.add_get(path, _handler(filename, content_type))


def commands_for(base: str, token: str) -> dict[str, str]:
    """The one-line commands a customer runs to upload with ``token``, and the browser
    link (the token in the fragment never reaches a server log or a Referer)."""
    return {
        "sh": f"curl -fsSLO {base}/uploader.sh && sh uploader.sh {base} {token} FILE",
        "python": f"curl -fsSLO {base}/uploader.py && python3 uploader.py {base} {token} FILE",
        "browser": f"{base}/upload#{token}",
    }
