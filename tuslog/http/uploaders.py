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
    """What a customer runs to upload with ``token``. The first forms keep the token out
    of the command line (the uploader asks for it, or reads it from a file), so it lands
    in no shell history and no process list; the forms with the token in the arguments
    are for scripts. The browser link carries it in the fragment, which never reaches a
    server log or a Referer."""
    sh, py = "sh uploader.sh", "python3 uploader.py"
    return {
        "sh": f"curl -fsSLO {base}/uploader.sh && {sh} {base} - FILE",
        "python": f"curl -fsSLO {base}/uploader.py && {py} {base} - FILE",
        "sh_token_file": f"{sh} --token-file token.txt {base} FILE",
        "python_token_file": f"{py} --token-file token.txt {base} FILE",
        "sh_stdin": f"COMMAND | {sh} --token-file token.txt {base} - --name NAME",
        "sh_with_token": f"curl -fsSLO {base}/uploader.sh && {sh} {base} {token} FILE",
        "python_with_token": f"curl -fsSLO {base}/uploader.py && {py} {base} {token} FILE",
        "browser": f"{base}/upload#{token}",
    }
