#!/usr/bin/env python3
# /// script
# requires-python = ">=3.8"
# dependencies = ["tuspy>=1.0", "tqdm>=4.60"]
# ///
"""tuslog uploader (Python, tuspy + tqdm): resumable upload of one file to a tuslog server.

    python3 -m pip install --user tuspy tqdm
    curl -fsSLO https://HOST/uploader.py && python3 uploader.py HOST TOKEN FILE

Run ``python3 uploader.py --help`` for options, resuming and exit codes. Same options,
state files and exit codes as uploader.sh.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import itertools
import json
import os
import re
import signal
import sys
import time
import unicodedata
from collections.abc import Callable
from typing import IO, Any, NoReturn
from urllib.parse import urljoin, urlsplit

try:
    import requests
    import urllib3
    from tqdm import tqdm
    from tusclient.client import TusClient
    from tusclient.uploader.uploader import Uploader

    MISSING: str | None = None
except ImportError as _exc:  # pragma: no cover - reported by main()
    MISSING = _exc.name or str(_exc)
    Uploader = object  # type: ignore[assignment,misc]

VERSION = "0.1.0"
PROG = "uploader.py"

EX_OK = 0
EX_INTERNAL = 1
EX_USAGE = 2
EX_MISSING = 3
EX_FILE = 4
EX_TOKEN = 5
EX_NOT_OWNER = 6
EX_GONE = 7
EX_TOO_LARGE = 8
EX_NO_SPACE = 9
EX_RETRIES = 10
EX_CORRUPT = 11
EX_TLS = 12
EX_PROTOCOL = 13
EX_SIGINT = 130
EX_SIGTERM = 143

DEFAULT_CHUNK = 16 * 1024 * 1024
DEFAULT_RETRIES = 10
DEFAULT_TIMEOUT = 60
MAX_BACKOFF = 60
MAX_RETRY_AFTER = 300
READ_BLOCK = 256 * 1024
TOKEN_RE = re.compile(r"^tlu_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$")
TRANSIENT = {408, 409, 423, 429}
# How long to wait for a server that verifies the file after the last byte: a minute, plus
# the file read at 100 MB/s.
VERIFY_WAIT_BASE = 60.0
VERIFY_WAIT_RATE = 100e6

DESCRIPTION = """\
Upload FILE to the tuslog server at DOMAIN with the upload TOKEN that support gave
you. The upload survives dropped connections: it resumes where the server stopped
receiving, both within one run and when you run the same command again (after a
crash, Ctrl-C or a reboot). Rerunning never costs another use of the token.

Needs Python 3.8+ with tuspy and tqdm:  python3 -m pip install --user tuspy tqdm
(or run it with `uv run uploader.py ...` / `pipx run uploader.py ...`, which read the
dependencies from the header of this file)."""

EPILOG = """\
Proxies: HTTPS_PROXY / https_proxy, HTTP_PROXY / http_proxy and NO_PROXY are honoured.

Resuming: the upload address is kept in a small state file (mode 0600) under
${XDG_STATE_HOME:-$HOME/.local/state}/tuslog/, named by a hash of the server, the
token and the file's SHA-256 (the token itself is not stored). The same file can be
resumed with uploader.sh as well.

On success the server has confirmed every byte and the receipt on standard output
shows the ticket, file, size, SHA-256 and the server's verification result (with
--json, one JSON object; on failure {"ok": false, "exit_code": N, "error": "..."}).

Exit codes (the same for uploader.sh):
   0  upload complete, confirmed by the server (SHA-256 verified when it says so)
   1  unexpected internal error (please report it)
   2  bad usage: unknown option, missing argument, malformed token or DOMAIN
   3  a required module is missing (tuspy, tqdm) or Python is too old
   4  FILE is missing, not a regular file or not readable
   5  token refused (401): unknown, expired, used up or revoked; ask support
   6  this upload belongs to another token (403)
   7  the earlier upload expired or was removed on the server, and the token
      allows no new upload; ask support for a new token
   8  file too large for the server or the token's quota (413)
   9  the server has not enough free space (507); try later or ask support
  10  gave up after --retries attempts without progress (network or server
      trouble), or the server was still checking the file; run the same
      command again to resume
  11  the server's SHA-256 of the upload does not match FILE (corrupt; did the
      file change while uploading?)
  12  TLS problem: the server's certificate is not trusted (see --cacert)
  13  unexpected answer from the server (wrong DOMAIN? not a tuslog server?)
 130  interrupted (Ctrl-C); run the same command again to resume
 143  terminated (SIGTERM); run the same command again to resume
"""


# ------------------------------------------------------------------------------- errors
class Fatal(Exception):
    """Ends the run with ``code`` and a one-line message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Transient(Exception):
    """Worth retrying: connection trouble, timeouts, 408/409/423/429/5xx."""

    def __init__(self, reason: str, retry_after: int = 0, no_wait: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.no_wait = no_wait


class Gone(Exception):
    """The stored upload no longer exists on the server (404/410)."""


class Stopped(BaseException):
    def __init__(self, code: int, what: str) -> None:
        super().__init__(what)
        self.code = code
        self.what = what


# ------------------------------------------------------------------------------- options
def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(i?b)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 16M)")
    value = (
        int(match.group(1))
        * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    )
    if value != 0 and value < 1024:
        raise argparse.ArgumentTypeError("must be 0 or at least 1K")
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="python3 uploader.py [OPTIONS] DOMAIN TOKEN FILE",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "domain",
        metavar="DOMAIN",
        help="host, host:port or a base URL (https://logs.example.com); https is used "
        "when no scheme is given",
    )
    parser.add_argument(
        "token",
        metavar="TOKEN",
        help='the upload token (tlu_...); "-" reads it from standard input, which keeps '
        "it out of the process list and your shell history",
    )
    parser.add_argument("file", metavar="FILE", help="the file to send (a regular file)")
    parser.add_argument(
        "--chunk-size",
        type=parse_size,
        default=DEFAULT_CHUNK,
        metavar="SIZE",
        help="bytes per request, e.g. 8M, 64M, 1G (default 16M); 0 sends the rest of the "
        "file in one request. Memory use stays small either way.",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help="give up after N failed attempts in a row that brought no progress (default "
        "10; waits 1, 2, 4 ... 60 s between them, about 5 minutes in all). Any progress "
        "resets the count.",
    )
    parser.add_argument(
        "--timeout",
        type=positive_int,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="treat a connection as dead when no data moves for this long (default 60)",
    )
    parser.add_argument(
        "--cacert", metavar="FILE", help="trust the CA certificate(s) in FILE (PEM)"
    )
    parser.add_argument(
        "--insecure",
        "-k",
        action="store_true",
        help="do not check the server's TLS certificate (dangerous: only for a test "
        "server; the token and logs could be intercepted)",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress output; errors and the final receipt still print",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the receipt (or the error) as JSON"
    )
    parser.add_argument("--version", "-V", action="version", version=f"{PROG} (tuslog) {VERSION}")
    return parser


def normalise_base(domain: str) -> str:
    domain = domain.strip()
    if not domain or re.search(r"[\s\"'\\]", domain):
        raise Fatal(EX_USAGE, f"DOMAIN is not a host name or URL: {domain!r}")
    if "://" in domain:
        if not domain.startswith(("http://", "https://")):
            raise Fatal(EX_USAGE, f"DOMAIN must use https:// or http://: {domain}")
        base = domain
    else:
        base = "https://" + domain
    while True:
        if base.endswith("/"):
            base = base[:-1]
        elif base.endswith("/files"):
            base = base[: -len("/files")]
        else:
            return base


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def state_dir() -> str | None:
    if os.environ.get("XDG_STATE_HOME"):
        return os.path.join(os.environ["XDG_STATE_HOME"], "tuslog")
    if os.environ.get("HOME"):
        return os.path.join(os.environ["HOME"], ".local", "state", "tuslog")
    return None


def clean_name(path: str) -> str:
    """The file's name as UTF-8 text without control characters, at most 255 bytes."""
    raw = os.fsencode(os.path.basename(path))
    name = raw.decode("utf-8", "ignore")
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    while len(name.encode("utf-8")) > 255:
        name = name[:-1]
    return name or "upload"


def human(size: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    index = 0
    while size >= 1024 and index < len(units) - 1:
        size /= 1024
        index += 1
    return f"{int(size)} B" if index == 0 else f"{size:.1f} {units[index]}"


def percent(part: int, whole: int) -> str:
    return "100.0" if whole <= 0 else f"{100 * part / whole:.1f}"


# ------------------------------------------------------------------------------- output
class Output:
    """Messages to stderr, the receipt to stdout; a tqdm bar on a terminal, a line per
    5 % (or 30 s) otherwise."""

    def __init__(self, quiet: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self._last_pct = -100
        self._last_time = 0.0
        self._started = time.monotonic()
        self._start_offset = 0
        self.size = 0

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def say(self, message: str) -> None:
        if not self.quiet:
            self._write(f"{PROG}: {message}")

    def warn(self, message: str) -> None:
        self._write(f"{PROG}: warning: {message}")

    def error(self, message: str) -> None:
        self._write(f"{PROG}: error: {message}")

    def start(self, name: str, size: int, offset: int) -> None:
        self.size = size
        self._start_offset = offset
        self._started = time.monotonic()
        if self.quiet:
            return
        if self.tty:
            self.bar = tqdm(
                total=size,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name if len(name) <= 30 else name[:27] + "...",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
        else:
            self.position(offset)

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.update(nbytes)

    def position(self, offset: int) -> None:
        """The server's offset is known: show it (the bar snaps back after a cut)."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.n = offset
            self.bar.refresh()
            return
        pct = int(100 * offset / self.size) if self.size else 100
        now = time.monotonic()
        if pct - self._last_pct >= 5 or now - self._last_time >= 30:
            elapsed = now - self._started
            sent = offset - self._start_offset
            rate = ""
            if elapsed >= 1 and sent > 0:
                bps = sent / elapsed
                left = int((self.size - offset) / bps)
                rate = f", {human(bps)}/s"
                if offset < self.size:
                    rate += f", about {left // 60}m{left % 60}s left"
            print(
                f"{PROG}: {percent(offset, self.size)}% ({human(offset)} of "
                f"{human(self.size)}{rate})",
                file=sys.stderr,
                flush=True,
            )
            self._last_pct = pct
            self._last_time = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ------------------------------------------------------------------------------- state
class State:
    """Where this file's upload lives on the server, shared with uploader.sh."""

    def __init__(self, endpoint: str, token: str, sha256: str, out: Output) -> None:
        self.out = out
        self.path: str | None = None
        directory = state_dir()
        if directory is None:
            out.warn("no state directory (set HOME or XDG_STATE_HOME): a rerun cannot resume")
            return
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            out.warn(f"cannot create {directory} ({exc.strerror}): a rerun cannot resume")
            return
        key = hashlib.sha256(
            f"tuslog-upload-v1\n{endpoint}\n{token}\n{sha256}\n".encode()
        ).hexdigest()
        self.path = os.path.join(directory, key + ".upload")

    def load(self) -> str | None:
        if self.path is None:
            return None
        try:
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("url="):
                        url = line[4:].strip()
                        if url.startswith(("http://", "https://")):
                            return url
        except (OSError, UnicodeDecodeError):
            return None
        return None

    def save(self, url: str, **fields: object) -> None:
        if self.path is None:
            return
        lines = [f"url={url}"] + [f"{k}={v}" for k, v in fields.items()]
        lines.append(f"created={int(time.time())}")
        tmp = self.path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            self.out.warn(f"cannot write {self.path} ({exc.strerror}): a rerun cannot resume")

    def drop(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


# ------------------------------------------------------------------------------- protocol
class ChunkBody:
    """One PATCH body: ``length`` bytes of the file from ``start``, read block by block
    (never the whole chunk in memory), reporting progress as they go out."""

    def __init__(self, stream: IO[bytes], start: int, length: int, sent: Callable[[int], None]):
        self._stream = stream
        self._position = start
        self._left = length
        self._length = length
        self._sent = sent

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = READ_BLOCK if size is None or size < 0 else min(size, READ_BLOCK)
        self._stream.seek(self._position)
        data = self._stream.read(min(size, self._left))
        self._position += len(data)
        self._left -= len(data)
        if data:
            self._sent(len(data))
        return data


class Response:
    """What tuspy's ``upload_chunk`` reads from ``self.request``."""

    def __init__(self, resp: requests.Response) -> None:
        self.status_code = resp.status_code
        self.response_headers = {k.lower(): v for k, v in resp.headers.items()}
        self.response_content = resp.content


def server_message(resp: requests.Response) -> str:
    text = resp.text.splitlines()[0] if resp.text else ""
    text = "".join(ch if ch.isprintable() else " " for ch in text)[:200]
    return f" (server: {resp.status_code} {text})" if text else f" (server: {resp.status_code})"


def retry_after(resp: requests.Response) -> int:
    value = resp.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else 0


def transient_from(resp: requests.Response) -> Transient:
    text = resp.text.splitlines()[0][:200] if resp.text else ""
    return Transient(
        f"the server answered {resp.status_code}" + (f": {text}" if text else ""),
        retry_after(resp),
        no_wait=resp.status_code == 409,
    )


def is_transient(status: int) -> bool:
    return status in TRANSIENT or (status >= 500 and status != 507)


def network_reason(exc: Exception, timeout: int) -> str:
    if isinstance(exc, (requests.exceptions.Timeout,)) or "timed out" in str(exc):
        return f"no data moved for {timeout}s (stalled connection)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Failed to resolve" in text or "Name or service not known" in text:
            return "cannot resolve the server name"
        if "Connection refused" in text:
            return "cannot connect to the server (connection refused)"
        if "reset" in text.lower() or "aborted" in text.lower():
            return "the connection broke"
        return "the connection failed"
    return f"network error ({type(exc).__name__})"


class TuslogUploader(Uploader):  # type: ignore[misc,valid-type,unused-ignore]
    """tuspy's Uploader with timeouts on every request, a streamed chunk body, tuslog's
    status codes and headers, and errors sorted into Fatal / Transient / Gone.

    tuspy keeps the bookkeeping (file size, offset, the chunk loop in ``upload_chunk``);
    resuming is done by passing the stored upload URL as ``url=``, never by tuspy's
    first-64-KiB fingerprint."""

    def __init__(
        self, *, session: requests.Session, app: Run, stream: IO[bytes], **kwargs: Any
    ) -> None:
        self.session = session
        self.app = app
        self.stream = stream
        self.server_state = ""
        self.server_sha256 = ""
        self.ticket = ""
        super().__init__(**kwargs)

    # -- requests ----------------------------------------------------------------------
    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(self.get_headers())  # type: ignore[no-untyped-call]
        headers.update(kwargs.pop("headers", {}))
        try:
            resp = self.session.request(
                method,
                url,
                headers=headers,
                timeout=(self.app.timeout, self.app.timeout),
                verify=self.app.verify,
                allow_redirects=False,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate" in str(exc).lower():
                raise Fatal(
                    EX_TLS,
                    "the server's TLS certificate is not trusted; use --cacert FILE with "
                    "your CA certificate",
                ) from None
            raise Transient(f"TLS handshake failed ({exc.__class__.__name__})") from None
        except (requests.exceptions.RequestException, OSError) as exc:
            reason = network_reason(exc, self.app.timeout)
            if reason.startswith("cannot resolve") and not self.app.contacted:
                raise Fatal(
                    EX_RETRIES,
                    f"{reason} ({origin_of(url)}): check DOMAIN and your network or proxy",
                ) from None
            raise Transient(reason, no_wait=method == "PATCH") from None
        self.app.contacted = True
        return resp

    def creation_headers(self) -> dict[str, str]:
        return dict(self.get_url_creation_headers())  # type: ignore[no-untyped-call]

    @property
    def upload_url(self) -> str:
        assert self.url is not None
        return str(self.url)

    def _note(self, resp: requests.Response) -> None:
        self.server_state = resp.headers.get("Tuslog-Upload-State", self.server_state)
        self.server_sha256 = resp.headers.get("Tuslog-Sha256", self.server_sha256)
        self.ticket = resp.headers.get("Tuslog-Ticket", self.ticket)

    # -- tuspy hooks --------------------------------------------------------------------
    def encode_metadata(self) -> list[str]:
        return [
            f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
            for key, value in self.metadata.items()
        ]

    def create_url(self) -> str:
        app = self.app
        try:
            resp = self._send("POST", app.endpoint, headers=self.creation_headers(), data=b"")
        except Transient as exc:
            if not exc.reason.startswith("cannot"):
                app.create_unsure = True
            raise
        status = resp.status_code
        if status == 201:
            location = resp.headers.get("Location")
            if not location:
                raise Fatal(EX_PROTOCOL, "the server created the upload but sent no Location")
            return urljoin(app.endpoint, location)
        if status in (401, 403):
            if app.gone_before:
                raise Fatal(
                    EX_GONE,
                    f"the earlier upload expired or was removed, and token {app.token_hint} "
                    "allows no new upload; ask support for a new token" + server_message(resp),
                )
            if app.create_unsure:
                raise Fatal(
                    EX_TOKEN,
                    f"token {app.token_hint} was refused; an earlier attempt of this run whose "
                    "answer was lost probably used it up; ask support for a new token"
                    + server_message(resp),
                )
            raise Fatal(
                EX_TOKEN,
                f"token {app.token_hint} was refused: unknown, expired, used up or revoked; "
                "ask support for a new token" + server_message(resp),
            )
        if status == 413:
            raise Fatal(
                EX_TOO_LARGE,
                f"{app.path} ({human(app.size)}) is larger than the server or this token "
                "accepts" + server_message(resp),
            )
        if status == 507:
            raise Fatal(
                EX_NO_SPACE,
                f"the server has not enough free space for {human(app.size)} right now; try "
                "again later or ask support" + server_message(resp),
            )
        if status == 404:
            raise Fatal(EX_PROTOCOL, f"no upload endpoint at {app.endpoint}; check DOMAIN")
        if 300 <= status < 400:
            raise Fatal(
                EX_PROTOCOL,
                f"{app.endpoint} redirects to {resp.headers.get('Location', '?')}; use that "
                "address as DOMAIN",
            )
        if is_transient(status):
            raise transient_from(resp)
        raise Fatal(
            EX_PROTOCOL,
            f"unexpected answer {status} to creating the upload" + server_message(resp),
        )

    def get_offset(self) -> int:
        resp = self._send("HEAD", self.upload_url)
        status = resp.status_code
        if status in (200, 204):
            offset = resp.headers.get("Upload-Offset", "")
            if not offset.isdigit():
                raise Fatal(
                    EX_PROTOCOL, "the server's answer about the upload has no Upload-Offset"
                )
            length = resp.headers.get("Upload-Length")
            if length is not None and length != str(self.app.size):
                raise Fatal(
                    EX_PROTOCOL,
                    f"the server's upload has length {length}, but the file has "
                    f"{self.app.size} bytes",
                )
            self._note(resp)
            return int(offset)
        if status in (404, 410):
            raise Gone()
        if status == 401:
            raise Fatal(
                EX_TOKEN,
                f"token {self.app.token_hint} was refused: expired or revoked; ask support for "
                "a new token" + server_message(resp),
            )
        if status == 403:
            raise Fatal(
                EX_NOT_OWNER,
                "the upload in the state file belongs to another token" + server_message(resp),
            )
        if is_transient(status):
            raise transient_from(resp)
        raise Fatal(
            EX_PROTOCOL,
            f"unexpected answer {status} when asking for the upload's offset"
            + server_message(resp),
        )

    def get_request_length(self) -> int:
        remainder = self.stop_at - self.offset
        if self.chunk_size <= 0:
            return int(remainder)
        return int(min(self.chunk_size, remainder))

    def _do_request(self) -> None:
        start = self.offset
        length = self.get_request_length()
        body = ChunkBody(self.stream, start, length, self.app.out.advance)
        resp = self._send(
            "PATCH",
            self.upload_url,
            headers={
                "Upload-Offset": str(start),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
            },
            data=body,
        )
        status = resp.status_code
        if status in (200, 204):
            offset = resp.headers.get("Upload-Offset", "")
            if not offset.isdigit():
                raise Fatal(EX_PROTOCOL, "the server's answer to a chunk has no Upload-Offset")
            self._note(resp)
            if int(offset) <= start and length > 0:
                raise Transient("the server accepted no bytes")
            self.request = Response(resp)  # type: ignore[assignment]  # read by upload_chunk
            return
        if status in (404, 410):
            raise Gone()
        if status == 401:
            raise Fatal(
                EX_TOKEN,
                f"token {self.app.token_hint} was refused: expired or revoked; ask support for "
                "a new token" + server_message(resp),
            )
        if status == 403:  # e.g. already complete: the HEAD that follows decides
            raise Transient("the server refused the chunk (403)" + server_message(resp))
        if status == 413:
            raise Fatal(
                EX_TOO_LARGE,
                "the file is larger than the server or this token accepts" + server_message(resp),
            )
        if status == 507:
            raise Fatal(
                EX_NO_SPACE,
                "the server has not enough free space; try again later or ask support"
                + server_message(resp),
            )
        if status == 460:
            raise Transient("the server found a checksum mismatch in the chunk")
        if is_transient(status):
            raise transient_from(resp)
        raise Fatal(
            EX_PROTOCOL, f"unexpected answer {status} to sending data" + server_message(resp)
        )


# ------------------------------------------------------------------------------- the run
class Run:
    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.out = out
        self.args = args
        self.timeout: int = args.timeout
        self.verify: bool | str = True
        if args.insecure:
            self.verify = False
        elif args.cacert:
            self.verify = args.cacert
        self.base = normalise_base(args.domain)
        self.endpoint = self.base + "/files/"
        self.origin = origin_of(self.base)
        self.token = self._read_token(args.token)
        self.token_hint = self.token[:12] + "..."
        self.path: str = args.file
        self.size = 0
        self.sha256 = ""
        self.name = clean_name(self.path)
        self.contacted = False
        self.create_unsure = False
        self.gone_before = False
        self.best = 0
        self.fails = 0

    @staticmethod
    def _read_token(token: str) -> str:
        if token == "-":
            token = sys.stdin.readline()
        token = re.sub(r"[\s\"]", "", token)
        if not TOKEN_RE.match(token):
            raise Fatal(
                EX_USAGE,
                "TOKEN does not look like an upload token (tlu_xxxxxxxx_...); copy it again "
                "from the message support sent you",
            )
        return token

    def check_file(self) -> None:
        path = self.path
        if not os.path.lexists(path):
            raise Fatal(EX_FILE, f"file not found: {path}")
        if os.path.isdir(path):
            raise Fatal(
                EX_FILE, f"{path} is a directory; pack it first, e.g. tar czf logs.tar.gz {path}"
            )
        if not os.path.isfile(path):
            raise Fatal(EX_FILE, f"not a regular file: {path}")
        if not os.access(path, os.R_OK):
            raise Fatal(EX_FILE, f"cannot read {path} (permission denied?)")
        self.size = os.path.getsize(path)

    def hash_file(self, stream: IO[bytes]) -> str:
        self.out.say(f"computing the SHA-256 of {self.path} ({human(self.size)})...")
        digest = hashlib.sha256()
        bar = None
        if self.out.tty and not self.out.quiet and self.size > 256 << 20:
            bar = tqdm(
                total=self.size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc="SHA-256",
                file=sys.stderr,
                leave=False,
            )
        try:
            while True:
                block = stream.read(1 << 20)
                if not block:
                    break
                digest.update(block)
                if bar is not None:
                    bar.update(len(block))
        except OSError as exc:
            raise Fatal(EX_FILE, f"cannot read {self.path}: {exc.strerror}") from None
        finally:
            if bar is not None:
                bar.close()
        return digest.hexdigest()

    def wait_before_retry(self, exc: Transient) -> None:
        self.fails += 1
        if self.fails > self.args.retries:
            raise Fatal(
                EX_RETRIES,
                f"giving up after {self.args.retries} attempts without progress: {exc.reason}. "
                f"Run the same command again to resume from {percent(self.best, self.size)}%",
            )
        delay = 0
        if not exc.no_wait or self.fails > 1:
            delay = min(2 ** (self.fails - 1), MAX_BACKOFF)
        if exc.retry_after > delay:
            delay = min(exc.retry_after, MAX_RETRY_AFTER)
        when = f"retrying in {delay}s (attempt {self.fails} of {self.args.retries})"
        self.out.say(
            f"{exc.reason} at {percent(self.best, self.size)}%; {when if delay else 'resuming'}"
        )
        if delay:
            time.sleep(delay)

    def progressed(self, offset: int) -> None:
        if offset > self.best:
            self.best = offset
            self.fails = 0
        self.out.position(offset)

    def execute(self) -> dict[str, Any]:
        self.check_file()
        if self.args.insecure:
            self.out.warn(
                "--insecure: the server's TLS certificate is NOT checked; anyone on the path "
                "could read your logs and token"
            )
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if self.origin.startswith("http://") and urlsplit(self.origin).hostname not in (
            "localhost",
            "127.0.0.1",
            "::1",
        ):
            self.out.warn("plain http: the token and your logs travel unencrypted; prefer https")
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise Fatal(EX_FILE, f"cannot read {self.path}: {exc.strerror}") from None
        with stream:
            self.sha256 = self.hash_file(stream)
            state = State(self.endpoint, self.token, self.sha256, self.out)
            with requests.Session() as session:
                session.headers["User-Agent"] = (
                    f"tuslog-uploader.py/{VERSION} python-requests/"
                    f"{getattr(requests, '__version__', '?')}"
                )
                return self._upload(session, stream, state)

    def _make_uploader(
        self, session: requests.Session, stream: IO[bytes], url: str | None
    ) -> TuslogUploader:
        client = TusClient(self.endpoint, headers={"Authorization": f"Bearer {self.token}"})
        return TuslogUploader(
            session=session,
            app=self,
            client=client,
            file_stream=stream,
            stream=stream,
            url=url,
            chunk_size=self.args.chunk_size,
            metadata={"filename": self.name, "sha256": self.sha256},
        )

    def _upload(self, session: requests.Session, stream: IO[bytes], state: State) -> dict[str, Any]:
        stored = state.load()
        if stored:
            self.out.say("resuming the upload started earlier for this file and token")
        self.out.say(
            f'uploading "{self.name}" ({human(self.size)}) to {self.origin} with token '
            f"{self.token_hint}"
        )
        uploader: TuslogUploader | None = None
        started = False
        need_head = False
        while True:
            try:
                if uploader is None:
                    # With a stored URL tuspy asks the server for the offset (HEAD) here.
                    uploader = self._make_uploader(session, stream, stored)
                elif uploader.url is not None and need_head:
                    uploader.offset = uploader.get_offset()
                need_head = False
                if uploader.url is None:
                    url = uploader.create_url()
                    uploader.set_url(url)
                    uploader.offset = 0
                    state.save(
                        url,
                        endpoint=self.endpoint,
                        sha256=self.sha256,
                        size=self.size,
                        name=self.name,
                    )
                    self.fails = 0
                    self.out.say(f"upload created; sending {human(self.size)}")
                if not started:
                    self.out.start(self.name, self.size, uploader.offset)
                    started = True
                self.progressed(uploader.offset)
                if uploader.offset >= self.size:
                    return self._finish(uploader)
                uploader.upload_chunk()  # type: ignore[no-untyped-call]
            except Gone:
                state.drop()
                self.out.say(
                    "the earlier upload is gone from the server (expired or removed); "
                    "starting a new one"
                )
                self.gone_before = True
                self.best = 0
                stored = None
                if uploader is not None:
                    uploader.url = None
                    uploader.offset = 0
            except Transient as exc:
                need_head = True
                self.wait_before_retry(exc)

    def _finish(self, uploader: TuslogUploader) -> dict[str, Any]:
        # The server has all bytes; ask for its verdict (HEAD). A server that has to read
        # the file again to hash it says "verifying": wait for it, as long as hashing this
        # size may reasonably take.
        deadline = time.monotonic() + VERIFY_WAIT_BASE + self.size / VERIFY_WAIT_RATE
        told = False
        for attempt in itertools.count():
            state = uploader.server_state
            if state in ("verified", "corrupt") or (state == "complete" and uploader.server_sha256):
                break
            if time.monotonic() > deadline or (state != "verifying" and attempt >= 10):
                break
            if state == "verifying" and not told:
                self.out.say("all bytes arrived; the server is checking the SHA-256 of the file...")
                told = True
            if attempt:
                time.sleep(min(5.0, 1.0 + attempt / 4))
            try:
                uploader.offset = uploader.get_offset()
            except Transient:
                continue
            except Gone:
                raise Fatal(
                    EX_GONE, "the upload vanished from the server right after it completed"
                ) from None
        self.out.position(self.size)
        self.out.close()
        state = uploader.server_state
        server_sha = uploader.server_sha256
        if state == "verifying":
            raise Fatal(
                EX_RETRIES,
                "all bytes arrived but the server is still checking the file; run the same "
                "command again later for the receipt (nothing is sent again)",
            )
        if state in ("verified", "corrupt"):
            verdict = state
        elif state in ("complete", ""):
            if server_sha:
                verdict = "verified" if server_sha == self.sha256 else "corrupt"
            else:
                verdict = "complete (the server reported no SHA-256)"
        else:
            raise Fatal(
                EX_PROTOCOL, f"the server has all bytes but reports the upload as {state!r}"
            )
        return {
            "ok": verdict != "corrupt",
            "exit_code": EX_CORRUPT if verdict == "corrupt" else EX_OK,
            "ticket": uploader.ticket or None,
            "file": self.name,
            "path": os.path.abspath(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "server_sha256": server_sha or None,
            "verification": verdict,
            "upload_url": uploader.url,
        }


def print_receipt(receipt: dict[str, Any], out: Output) -> None:
    if out.as_json:
        print(json.dumps(receipt, ensure_ascii=False), flush=True)
        return
    print(f"ticket:   {receipt['ticket'] or 'unknown'}")
    print(f"file:     {receipt['file']}")
    print(f"size:     {receipt['size']} bytes ({human(receipt['size'])})")
    print(f"sha256:   {receipt['sha256']}")
    print(f"server:   {receipt['verification']}")
    print(f"upload:   {receipt['upload_url']}", flush=True)


def fail(out: Output, code: int, message: str) -> int:
    out.close()
    out.error(message)
    if out.as_json:
        print(json.dumps({"ok": False, "exit_code": code, "error": message}), flush=True)
    return code


def _on_signal(signum: int, _frame: object) -> NoReturn:
    if signum == signal.SIGTERM:
        raise Stopped(EX_SIGTERM, "terminated")
    raise Stopped(128 + signum, "hung up")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(args.quiet, args.json)
    if MISSING is not None:
        return fail(
            out,
            EX_MISSING,
            f"this script needs tuspy and tqdm ({MISSING} is missing): "
            "python3 -m pip install --user tuspy tqdm",
        )
    signal.signal(signal.SIGTERM, _on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _on_signal)
    run: Run | None = None
    try:
        run = Run(args, out)
        receipt = run.execute()
    except Fatal as exc:
        return fail(out, exc.code, exc.message)
    except KeyboardInterrupt:
        where = f" at {percent(run.best, run.size)}%" if run else ""
        return fail(out, EX_SIGINT, f"interrupted{where}; run the same command again to resume")
    except Stopped as exc:
        where = f" at {percent(run.best, run.size)}%" if run else ""
        return fail(out, exc.code, f"{exc.what}{where}; run the same command again to resume")
    if receipt["exit_code"] != EX_CORRUPT:
        out.say(f"upload complete: the server confirmed all {receipt['size']} bytes")
    print_receipt(receipt, out)
    if receipt["exit_code"] == EX_CORRUPT:
        return fail(
            out,
            EX_CORRUPT,
            f"the server's SHA-256 ({receipt['server_sha256']}) does not match {run.path}; did "
            "the file change while uploading? Tell support",
        )
    return EX_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # last resort: one line, no traceback
        print(f"{PROG}: error: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        sys.exit(EX_INTERNAL)
