#!/usr/bin/env python3
# /// script
# requires-python = ">=3.8"
# dependencies = ["tuspy>=1.0", "tqdm>=4.60"]
# ///
"""tuslog uploader (Python, tuspy + tqdm): resumable upload of a file, a directory or
standard input to a tuslog server.

    python3 -m pip install --user tuspy tqdm
    curl -fsSLO https://HOST/uploader.py && python3 uploader.py HOST TOKEN FILE

Run ``python3 uploader.py --help`` for options, resuming and exit codes. Same options,
state files and exit codes as uploader.sh.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import getpass
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sys
import tarfile
import threading
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
# A server never reached in this run, with no earlier upload to resume: give up after
# about this many seconds (each connection attempt limited to FIRST_CONNECT_TIMEOUT).
FIRST_CONTACT_LIMIT = 25
FIRST_CONNECT_TIMEOUT = 15
FIRST_CONTACT_BACKOFF = 8
QUIET_RETRY_EVERY = 60.0
READ_BLOCK = 256 * 1024
TOKEN_RE = re.compile(r"^tlu_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$")
TRANSIENT = {408, 409, 423, 429}
# How long to wait for a server that verifies the file after the last byte: a minute, plus
# the file read at 100 MB/s.
VERIFY_WAIT_BASE = 60.0
VERIFY_WAIT_RATE = 100e6
# OpenSSL's words when an https client meets a plain-http server.
PLAIN_HTTP_SIGNS = re.compile(
    r"wrong.version.number|packet.length.too.long|record.layer.failure|http.request", re.I
)
STREAM_LOST = (
    "a stream (a directory or standard input) cannot be resumed: run the command again to "
    "send it anew (that needs another use of the token); the unfinished upload expires on "
    "the server"
)
MATCHED = (
    "sha256 matched (the server's SHA-256 of what it stored equals the one computed while sending)"
)

DESCRIPTION = """\
Upload FILE (or a directory, or standard input) to the tuslog server at HOST with
the upload TOKEN that support gave you. The upload survives dropped connections:
it resumes where the server stopped receiving. A FILE also resumes when you run
the same command again (after a crash, Ctrl-C or a reboot); rerunning never
costs another use of the token.

  HOST     host, host:port or a base URL (https://logs.example.com); https is
           used when no scheme is given (http://HOST for a plain-http server)
  TOKEN    the upload token (tlu_...); "-" asks for it (or reads one line of
           standard input), which keeps it out of the process list and your
           shell history
  FILE     the file to send (e.g. a .tar.gz of your logs)
  DIR      a directory: packed on the fly (tar.gz) and sent as DIR.tar.gz
  -        standard input, e.g.
             journalctl -b | python3 uploader.py --token-file t.txt HOST - --name boot.log

Needs Python 3.8+ with tuspy and tqdm:  python3 -m pip install --user tuspy tqdm
(or run it with `uv run uploader.py ...` / `pipx run uploader.py ...`, which read the
dependencies from the header of this file)."""

EPILOG = """\
Proxies: HTTPS_PROXY / https_proxy, HTTP_PROXY / http_proxy and NO_PROXY are honoured.

Resuming a FILE: the upload address is kept in a small state file (mode 0600)
under ${XDG_STATE_HOME:-$HOME/.local/state}/tuslog/, named by a hash of the
server, the token and the file's SHA-256 (the token itself is not stored). The
same file can be resumed with uploader.sh as well.

Directories and standard input are streamed: nothing is written to your disk
but the chunk in flight, kept in memory until the server has it (--chunk-size
bytes: 16 MiB by default; uploader.sh keeps it in $TMPDIR). The SHA-256 is
computed while sending. Dropped connections are survived as for a file, but a
stream cannot be resumed once the uploader itself stops (Ctrl-C, crash, reboot,
giving up): the data went with the pipe. Running the command again starts a new
upload, which needs another use of the token; the unfinished one expires on the
server. On a poor network, and when you have the space, pack to a file first
(tar czf logs.tar.gz DIR) and send that: a file resumes.

On success the server has confirmed every byte and the receipt on standard output
shows the ticket, file, size, SHA-256 and the server's verification result (with
--json, one JSON object; on failure {"ok": false, "exit_code": N, "error": "..."}).

Exit codes (the same for uploader.sh):
   0  upload complete, confirmed by the server (SHA-256 verified when it says so)
   1  unexpected internal error (please report it)
   2  bad usage: unknown option, missing argument, malformed token or HOST
   3  a required module is missing (tuspy, tqdm) or Python is too old
   4  FILE or DIR is missing or not readable, or no room for the chunk in flight
   5  token refused (401): unknown, expired, used up or revoked; ask support
   6  this upload belongs to another token (403)
   7  the earlier upload expired or was removed on the server, and the token
      allows no new upload (or a stream's upload vanished); ask support
   8  file too large for the server or the token's quota (413)
   9  the server has not enough free space (507); try later or ask support
  10  gave up after --retries attempts without progress (network or server
      trouble), or the server was still checking the file; run the same
      command again to resume (a directory or standard input starts over)
  11  the server's SHA-256 of the upload does not match what was sent
      (corrupt; did the file change while uploading?)
  12  TLS problem: the server's certificate is not trusted (see --cacert)
  13  the server was never reached, or is not a tus server (wrong HOST or
      port? plain http?), or it answered something unexpected
 130  interrupted (Ctrl-C); run the same command again to resume (a stream
      cannot resume: it starts over with another use of the token)
 143  terminated (SIGTERM); as for 130
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
        usage="python3 uploader.py [OPTIONS] HOST TOKEN FILE|DIR|-\n"
        "       python3 uploader.py [OPTIONS] --token-file TOKENFILE HOST FILE|DIR|-",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("host", metavar="HOST", help=argparse.SUPPRESS)
    parser.add_argument("token", metavar="TOKEN", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("file", metavar="FILE", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the file name on the server (default: FILE's name, DIR's name + .tar.gz, or "
        "stdin-MACHINE-DATE for standard input)",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the token from the first line of FILE instead of the TOKEN argument "
        "(needed when the data comes from standard input)",
    )
    parser.add_argument(
        "--chunk-size",
        type=parse_size,
        default=DEFAULT_CHUNK,
        metavar="SIZE",
        help="bytes per request, e.g. 8M, 64M, 1G (default 16M); 0 sends the rest of a "
        "file in one request (not for DIR or -). A file is read block by block; a "
        "stream's chunk in flight is held in memory.",
    )
    parser.add_argument(
        "--retries",
        type=non_negative_int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help="give up after N failed attempts in a row that brought no progress (default "
        "10; waits 1, 2, 4 ... 60 s between them, about 5 minutes in all). Any progress "
        "resets the count. A server that was never reached (wrong HOST or port, no "
        "network) is given up on after about 30 seconds.",
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
        help="no progress output; errors, the final receipt and (once a minute) the "
        "reason for retrying still print",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the receipt (or the error) as JSON"
    )
    parser.add_argument("--version", "-V", action="version", version=f"{PROG} (tuslog) {VERSION}")
    return parser


def sort_operands(args: argparse.Namespace) -> None:
    """HOST TOKEN FILE, or HOST FILE with --token-file."""
    if args.token_file:
        if args.file is not None:
            raise Fatal(
                EX_USAGE, "with --token-file, give HOST and FILE (no TOKEN argument; see --help)"
            )
        args.file, args.token = args.token, None
    if args.file is None:
        raise Fatal(EX_USAGE, "expected HOST TOKEN FILE (see --help)")
    if args.name is not None and ("/" in args.name or not args.name.strip()):
        raise Fatal(EX_USAGE, f"--name takes a file name, without /: {args.name!r}")


def normalise_base(host: str) -> str:
    host = host.strip()
    if not host or re.search(r"[\s\"'\\]", host):
        raise Fatal(EX_USAGE, f"HOST is not a host name or URL: {host!r}")
    if "://" in host:
        if not host.startswith(("http://", "https://")):
            raise Fatal(EX_USAGE, f"HOST must use https:// or http://: {host}")
        base = host
    else:
        base = "https://" + host
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


def clean_name(name: str) -> str:
    """A file name as UTF-8 text without control characters, at most 255 bytes."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", "ignore")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc")
    while len(text.encode("utf-8")) > 255:
        text = text[:-1]
    return text or "upload"


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
    5 % (or 30 s) otherwise. A stream (size None) shows bytes and rate only."""

    def __init__(self, quiet: bool, as_json: bool) -> None:
        self.quiet = quiet
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self._last_pct = -100
        self._last_time = 0.0
        self._last_quiet_retry = -QUIET_RETRY_EVERY
        self._started = time.monotonic()
        self._start_offset = 0
        self.size: int | None = 0

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def say(self, message: str) -> None:
        if not self.quiet:
            self._write(f"{PROG}: {message}")

    def retrying(self, message: str) -> None:
        """Why the upload is retrying: always, and once a minute even with --quiet."""
        now = time.monotonic()
        if not self.quiet or now - self._last_quiet_retry >= QUIET_RETRY_EVERY:
            self._last_quiet_retry = now
            self._write(f"{PROG}: {message}")

    def warn(self, message: str) -> None:
        self._write(f"{PROG}: warning: {message}")

    def error(self, message: str) -> None:
        self._write(f"{PROG}: error: {message}")

    def start(self, name: str, size: int | None, offset: int) -> None:
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

    def position(self, offset: int, final: bool = False) -> None:
        """The server's offset is known: show it (the bar snaps back after a cut)."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.n = offset
            self.bar.refresh()
            return
        now = time.monotonic()
        pct = self._last_pct
        if self.size is not None:
            pct = int(100 * offset / self.size) if self.size else 100
        if pct - self._last_pct >= 5 or now - self._last_time >= 30 or final:
            print(f"{PROG}: {self._status(offset, now)}", file=sys.stderr, flush=True)
            self._last_pct = pct
            self._last_time = now

    def _status(self, offset: int, now: float) -> str:
        elapsed = now - self._started
        sent = offset - self._start_offset
        bps = sent / elapsed if elapsed >= 1 and sent > 0 else 0.0
        if self.size is None:  # a stream: its length is unknown until its end
            return f"{human(offset)} sent" + (f", {human(bps)}/s" if bps else "")
        rate = ""
        if bps:
            left = int((self.size - offset) / bps)
            rate = f", {human(bps)}/s"
            if offset < self.size:
                rate += f", about {left // 60}m{left % 60}s left"
        return f"{percent(offset, self.size)}% ({human(offset)} of {human(self.size)}{rate})"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ------------------------------------------------------------------------------- state
class State:
    """Where this file's upload lives on the server, shared with uploader.sh. A stream
    has none (``enabled=False``): another run cannot resume it."""

    def __init__(
        self, endpoint: str, token: str, sha256: str, out: Output, enabled: bool = True
    ) -> None:
        self.out = out
        self.path: str | None = None
        if not enabled:
            return
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


# ------------------------------------------------------------------------------- streams
class ExactReader:
    """Exactly ``size`` bytes of an open file for tarfile: a file that grows is cut at the
    size its header announced, one that shrinks is padded with zeros (as GNU tar does)."""

    def __init__(self, handle: IO[bytes], size: int, on_short: Callable[[int], None]) -> None:
        self._handle = handle
        self._left = size
        self._on_short = on_short

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(want) if want else b""
        if want and not data:
            self._on_short(self._left)
            data = bytes(min(want, 1 << 20))
        self._left -= len(data)
        return data


class DirectoryPacker(threading.Thread):
    """Writes DIR as a tar.gz into a pipe, in a thread: nothing touches the disk. Files
    that cannot be read are left out with a warning, like tar does."""

    def __init__(self, root: str, sink: IO[bytes], out: Output) -> None:
        super().__init__(name="tuslog-tar", daemon=True)
        self.root = os.path.abspath(root)
        self.sink = sink
        self.out = out
        self.error: BaseException | None = None
        self.problems = 0

    def _problem(self, message: str) -> None:
        self.problems += 1
        self.out.warn(f"tar: {message}")

    def run(self) -> None:
        try:
            # gzip level 6 (gzip's default), not tarfile's 9: several times faster.
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.sink, compresslevel=6)
            with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                self._add_tree(tar)
            self.sink.close()
        except BrokenPipeError:
            pass  # the uploader stopped reading: it is ending anyway
        except BaseException as exc:  # reported by the reader at the end of the stream
            self.error = exc
            with contextlib.suppress(OSError):
                self.sink.close()

    def _add_tree(self, tar: tarfile.TarFile) -> None:
        top = os.path.basename(self.root.rstrip(os.sep)) or "root"
        self._add(tar, self.root, top)
        for dirpath, dirnames, filenames in os.walk(
            self.root, onerror=lambda e: self._problem(f"{e.filename}: {e.strerror}")
        ):
            dirnames.sort()
            relative = os.path.relpath(dirpath, self.root)
            prefix = top if relative == "." else f"{top}/{relative}"
            for name in sorted(dirnames + filenames):
                self._add(tar, os.path.join(dirpath, name), f"{prefix}/{name}")

    def _add(self, tar: tarfile.TarFile, path: str, arcname: str) -> None:
        try:
            info = tar.gettarinfo(path, arcname)
        except OSError as exc:
            self._problem(f"{path}: {exc.strerror}")
            return
        if info is None:  # a socket
            return
        if not info.isreg():
            tar.addfile(info)
            return
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            self._problem(f"{path}: {exc.strerror}; left out")
            return
        with handle:

            def short(missing: int) -> None:
                self._problem(f"{path}: file shrank by {missing} bytes; padding with zeros")

            tar.addfile(info, ExactReader(handle, info.size, short))


class Stream:
    """A directory (packed by a DirectoryPacker) or standard input, read one chunk at a
    time and hashed in the order it is sent."""

    def __init__(self, reader: IO[bytes], packer: DirectoryPacker | None, what: str) -> None:
        self.reader = reader
        self.packer = packer
        self.what = what
        self.sha256 = hashlib.sha256()
        self.read_bytes = 0
        self.eof = False

    @classmethod
    def open(cls, path: str, out: Output) -> Stream:
        if path == "-":
            return cls(sys.stdin.buffer, None, "standard input")
        read_fd, write_fd = os.pipe()
        packer = DirectoryPacker(path, os.fdopen(write_fd, "wb"), out)
        packer.start()
        return cls(os.fdopen(read_fd, "rb"), packer, f"directory {path}")

    def read_chunk(self, size: int) -> bytearray:
        """The next ``size`` bytes (fewer at the end), read into one buffer: the chunk in
        flight is the only copy of the data this process holds."""
        chunk = bytearray(size)
        view = memoryview(chunk)
        filled = 0
        while filled < size:
            try:
                with view[filled:] as rest:
                    got = self.reader.readinto(rest)  # type: ignore[attr-defined]
            except OSError as exc:
                raise Fatal(EX_FILE, f"cannot read {self.what}: {exc.strerror}") from None
            if not got:
                self.eof = True
                break
            filled += got
        view.release()
        del chunk[filled:]
        self.sha256.update(chunk)
        self.read_bytes += filled
        if self.eof:
            self._finished()
        return chunk

    def _finished(self) -> None:
        packer = self.packer
        if packer is None:
            return
        packer.join()
        if packer.error is not None:
            raise Fatal(
                EX_FILE,
                f"packing {self.what} failed ({type(packer.error).__name__}: {packer.error}); "
                "the archive would be incomplete, so the upload was not finished",
            )
        if packer.problems:
            packer.out.warn(
                f"tar: {packer.problems} problem(s) (see above): some files may be missing "
                "or incomplete in the archive"
            )


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


class BufferFile:
    """A chunk in memory as a seekable file for ChunkBody, without copying it."""

    def __init__(self, buffer: bytearray) -> None:
        self._view = memoryview(buffer)
        self._position = 0

    def seek(self, position: int) -> None:
        self._position = position

    def read(self, size: int) -> bytes:
        data = bytes(self._view[self._position : self._position + size])
        self._position += len(data)
        return data


class Response:
    """What tuspy's ``upload_chunk`` reads from ``self.request``."""

    def __init__(self, resp: requests.Response) -> None:
        self.status_code = resp.status_code
        self.response_headers = {k.lower(): v for k, v in resp.headers.items()}
        self.response_content = resp.content


def server_message(resp: requests.Response) -> str:
    text = resp.text.splitlines()[0] if resp.text else ""
    text = "".join(ch if ch.isprintable() else " " for ch in text)[:200].strip()
    return f" (server: {resp.status_code} {text})" if text else f" (server: {resp.status_code})"


def retry_after(resp: requests.Response) -> int:
    value = resp.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else 0


def transient_from(resp: requests.Response) -> Transient:
    text = resp.text.splitlines()[0][:200].strip() if resp.text else ""
    return Transient(
        f"the server answered {resp.status_code}" + (f": {text}" if text else ""),
        retry_after(resp),
        no_wait=resp.status_code == 409,
    )


def is_transient(status: int) -> bool:
    return status in TRANSIENT or (status >= 500 and status != 507)


def network_reason(exc: Exception, timeout: int) -> str:
    text = str(exc)
    if isinstance(exc, (requests.exceptions.Timeout, socket.timeout)) or "timed out" in text:
        return f"no data moved for {timeout}s (stalled connection)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "Failed to resolve" in text or "Name or service not known" in text:
            return "cannot resolve the server name"
        if "Connection refused" in text:
            return "cannot connect to the server (connection refused)"
        if "BadStatusLine" in text or "HTTP/0.9" in text:
            return "the server does not answer as a web server"
        if "reset" in text.lower() or "aborted" in text.lower():
            return "the connection broke"
        return "the connection failed"
    return f"network error ({type(exc).__name__})"


def token_refused(app: Run, why: str) -> Fatal:
    # The server's 401 text says what this says: one of them is enough.
    return Fatal(
        EX_TOKEN, f"token {app.token_hint} was refused (401): {why}; ask support for a new token"
    )


class Http:
    """Every request of the run: timeouts, TLS options, and errors sorted into Fatal /
    Transient. Until a tus server has answered (and with no upload to resume), what
    cannot be a reachable tuslog server ends the run at once with exit 13."""

    def __init__(self, app: Run, session: requests.Session) -> None:
        self.app = app
        self.session = session

    def send(
        self, method: str, url: str, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        app = self.app
        first = app.first_contact()
        connect = min(app.timeout, FIRST_CONNECT_TIMEOUT) if first else app.timeout
        try:
            resp = self.session.request(
                method,
                url,
                headers=headers,
                timeout=(connect, app.timeout),
                verify=app.verify,
                allow_redirects=False,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc, first) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            reason = network_reason(exc, app.timeout)
            if first and reason.startswith("cannot resolve"):
                raise Fatal(
                    EX_PROTOCOL,
                    f"{reason} ({app.origin}): check HOST and your network or proxy; nothing "
                    "was uploaded",
                ) from None
            if first and reason.startswith("the server does not answer"):
                raise Fatal(
                    EX_PROTOCOL, f"{app.origin}: {reason}: check HOST and its port"
                ) from None
            raise Transient(reason, no_wait=method == "PATCH") from None
        self._check_tus(resp, first)
        return resp

    def _tls_error(self, exc: Exception, first: bool) -> Exception:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return Fatal(
                EX_TLS,
                "the server's TLS certificate is not trusted; use --cacert FILE with your CA "
                "certificate",
            )
        detail = re.search(r"\[SSL: \w+\] [^(\])']+", text)
        reason = (
            f"TLS handshake failed ({detail.group(0).strip() if detail else type(exc).__name__})"
        )
        app = self.app
        if first and app.base.startswith("https://"):
            plain = "http://" + app.base[len("https://") :]
            if PLAIN_HTTP_SIGNS.search(text):
                return Fatal(
                    EX_PROTOCOL,
                    f"{reason} with {app.origin}: the server seems to speak plain http, not "
                    f"https; if so, use {plain}",
                )
            reason += f" (if the server speaks plain http, use {plain})"
        return Transient(reason)

    def _check_tus(self, resp: requests.Response, first: bool) -> None:
        if "Tus-Resumable" in resp.headers:
            self.app.contacted = True
            return
        if not first:
            return
        app = self.app
        status = resp.status_code
        if status == 404:
            raise Fatal(EX_PROTOCOL, f"no upload endpoint at {app.endpoint} (404): check HOST")
        if 300 <= status < 400:
            raise Fatal(
                EX_PROTOCOL,
                f"{app.endpoint} redirects to {resp.headers.get('Location', '?')}; use that "
                "address as HOST",
            )
        if status in (502, 503, 504):
            raise Transient(
                f"{app.origin} answered {status}, but not as a tus server (a proxy whose "
                "server is down?)"
            )
        raise Fatal(
            EX_PROTOCOL,
            f"{app.origin} answered {status}, but not as a tus server: check HOST (the "
            "address of the tuslog server, e.g. https://logs.example.com); nothing was "
            "uploaded",
        )


def creation_result(app: Run, resp: requests.Response) -> str:
    """The new upload's URL, or the exception that the answer to a creation means."""
    status = resp.status_code
    if status == 201:
        location = resp.headers.get("Location")
        if not location:
            raise Fatal(EX_PROTOCOL, "the server created the upload but sent no Location")
        app.note(resp)
        offset = resp.headers.get("Upload-Offset", "0")
        app.created_offset = int(offset) if offset.isdigit() else 0
        return urljoin(app.endpoint, location)
    if status in (401, 403):
        if app.gone_before:
            raise Fatal(
                EX_GONE,
                f"the earlier upload expired or was removed, and token {app.token_hint} "
                f"allows no new upload (server: {status}); ask support for a new token",
            )
        if app.create_unsure:
            raise token_refused(
                app, "an earlier attempt of this run whose answer was lost probably used it up"
            )
        raise token_refused(app, "unknown, expired, used up or revoked")
    size = human(app.size or 0)
    if status == 413:
        raise Fatal(
            EX_TOO_LARGE,
            f"{app.display} ({size}) is larger than the server or this token accepts"
            + server_message(resp),
        )
    if status == 507:
        raise Fatal(
            EX_NO_SPACE,
            f"the server has not enough free space for {size} right now; try again later or "
            "ask support" + server_message(resp),
        )
    if status == 404:
        raise Fatal(EX_PROTOCOL, f"no upload endpoint at {app.endpoint}; check HOST")
    if 300 <= status < 400:
        raise Fatal(
            EX_PROTOCOL,
            f"{app.endpoint} redirects to {resp.headers.get('Location', '?')}; use that "
            "address as HOST",
        )
    if is_transient(status):
        raise transient_from(resp)
    raise Fatal(
        EX_PROTOCOL, f"unexpected answer {status} to creating the upload" + server_message(resp)
    )


def head_result(app: Run, resp: requests.Response) -> tuple[int, int | None]:
    """The server's offset and length (None while deferred) of the upload."""
    status = resp.status_code
    if status in (200, 204):
        offset = resp.headers.get("Upload-Offset", "")
        if not offset.isdigit():
            raise Fatal(EX_PROTOCOL, "the server's answer about the upload has no Upload-Offset")
        length = resp.headers.get("Upload-Length", "")
        app.note(resp)
        return int(offset), int(length) if length.isdigit() else None
    if status in (404, 410):
        raise Gone()
    if status == 401:
        raise token_refused(app, "expired or revoked")
    if status == 403:
        raise Fatal(
            EX_NOT_OWNER,
            "the upload in the state file belongs to another token" + server_message(resp),
        )
    if is_transient(status):
        raise transient_from(resp)
    raise Fatal(
        EX_PROTOCOL,
        f"unexpected answer {status} when asking for the upload's offset" + server_message(resp),
    )


def patch_result(app: Run, resp: requests.Response, start: int, length: int) -> int:
    """The server's offset after a PATCH of ``length`` bytes from ``start``."""
    status = resp.status_code
    if status in (200, 204):
        offset = resp.headers.get("Upload-Offset", "")
        if not offset.isdigit():
            raise Fatal(EX_PROTOCOL, "the server's answer to a chunk has no Upload-Offset")
        app.note(resp)
        if int(offset) <= start and length > 0:
            raise Transient("the server accepted no bytes")
        return int(offset)
    if status in (404, 410):
        raise Gone()
    if status == 401:
        raise token_refused(app, "expired or revoked")
    if status == 403:  # e.g. already complete: the HEAD that follows decides
        raise Transient("the server refused the chunk (403)" + server_message(resp))
    if status == 413:
        raise Fatal(
            EX_TOO_LARGE,
            f"{app.display} is larger than the server or this token accepts" + server_message(resp),
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
    raise Fatal(EX_PROTOCOL, f"unexpected answer {status} to sending data" + server_message(resp))


def metadata_header(pairs: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
        for key, value in pairs.items()
    )


class TuslogUploader(Uploader):  # type: ignore[misc,valid-type,unused-ignore]
    """tuspy's Uploader with timeouts on every request, a streamed chunk body, tuslog's
    status codes and headers, and errors sorted into Fatal / Transient / Gone.

    tuspy keeps the bookkeeping (file size, offset, the chunk loop in ``upload_chunk``);
    resuming is done by passing the stored upload URL as ``url=``, never by tuspy's
    first-64-KiB fingerprint."""

    def __init__(self, *, http: Http, app: Run, stream: IO[bytes], **kwargs: Any) -> None:
        self.http = http
        self.app = app
        self.stream = stream
        super().__init__(**kwargs)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(self.get_headers())  # type: ignore[no-untyped-call]
        headers.update(extra or {})
        return headers

    @property
    def upload_url(self) -> str:
        assert self.url is not None
        return str(self.url)

    # -- tuspy hooks --------------------------------------------------------------------
    def encode_metadata(self) -> list[str]:
        return metadata_header(self.metadata).split(",")

    def create_url(self) -> str:
        app = self.app
        headers = dict(self.get_url_creation_headers())  # type: ignore[no-untyped-call]
        try:
            resp = self.http.send("POST", app.endpoint, headers, data=b"")
        except Transient as exc:
            if not exc.reason.startswith(("cannot", "TLS")):
                app.create_unsure = True
            raise
        return creation_result(app, resp)

    def get_offset(self) -> int:
        offset, length = head_result(
            self.app, self.http.send("HEAD", self.upload_url, self._headers())
        )
        if length is not None and length != self.app.size:
            raise Fatal(
                EX_PROTOCOL,
                f"the server's upload has length {length}, but {self.app.display} has "
                f"{self.app.size} bytes",
            )
        return offset

    def get_request_length(self) -> int:
        remainder = self.stop_at - self.offset
        if self.chunk_size <= 0:
            return int(remainder)
        return int(min(self.chunk_size, remainder))

    def _do_request(self) -> None:
        start = self.offset
        length = self.get_request_length()
        body = ChunkBody(self.stream, start, length, self.app.out.advance)
        headers = self._headers(
            {
                "Upload-Offset": str(start),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
            }
        )
        resp = self.http.send("PATCH", self.upload_url, headers, data=body)
        patch_result(self.app, resp, start, length)
        self.request = Response(resp)  # type: ignore[assignment]  # read by upload_chunk


class StreamUpload:
    """A stream longer than one chunk, sent with a deferred length (tus
    creation-defer-length): the chunk in flight is kept until the server confirms it;
    after a cut, HEAD says how much of it arrived and the rest is sent again. The last
    PATCH declares the length, and the SHA-256 for a server that takes it."""

    def __init__(self, app: Run, http: Http, stream: Stream, first: bytearray) -> None:
        self.app = app
        self.http = http
        self.stream = stream
        self.chunk = first
        self.base = 0  # the server offset of the chunk's first byte
        self.url: str | None = None
        self.auth = {"Authorization": f"Bearer {app.token}", "Tus-Resumable": "1.0.0"}

    @property
    def end(self) -> int:
        return self.base + len(self.chunk)

    def run(self) -> str:
        app = self.app
        offset = 0
        need_head = started = False
        while True:
            try:
                if self.url is None:
                    self.url = self._create()
                    offset, need_head = app.created_offset, False
                    if not started:
                        app.out.start(app.name, None, offset)
                        started = True
                elif need_head:
                    offset = self.head()
                    need_head = False
                app.progressed(offset)
                if offset >= self.end and not self.stream.eof:
                    self.base = self.end  # the server has the chunk: the next takes its place
                    self.chunk = bytearray()
                    self.chunk = self.stream.read_chunk(app.args.chunk_size)
                    if self.stream.eof:
                        app.sha256 = self.stream.sha256.hexdigest()
                elif offset >= self.end and app.seen.length == offset:
                    return self.url
                else:
                    offset = self._patch(offset)
            except Gone:
                if self.base > 0:
                    raise Fatal(
                        EX_GONE,
                        "the upload is gone from the server (expired or removed) after "
                        f"{human(self.base)}; {STREAM_LOST}",
                    ) from None
                app.out.say("the upload is gone from the server; starting a new one")
                app.gone_before, self.url, app.best = True, None, 0
            except Transient as exc:
                need_head = True
                app.wait_before_retry(exc)

    def _create(self) -> str:
        app = self.app
        # The random stream_id tells a repeated creation (whose answer was lost) from a
        # new one, for a server that looks for it.
        meta = metadata_header({"filename": app.name, "stream_id": secrets.token_hex(16)})
        headers = dict(self.auth, **{"Upload-Defer-Length": "1", "Upload-Metadata": meta})
        try:
            resp = self.http.send("POST", app.endpoint, headers, data=b"")
        except Transient as exc:
            if not exc.reason.startswith(("cannot", "TLS")):
                app.create_unsure = True
            raise
        url = creation_result(app, resp)
        app.fails = 0
        app.out.say(f'upload created; streaming {app.display} as "{app.name}"')
        return url

    def head(self) -> int:
        assert self.url is not None
        offset, length = head_result(self.app, self.http.send("HEAD", self.url, self.auth))
        if offset < self.base:
            raise Fatal(
                EX_PROTOCOL,
                f"the server has only {offset} bytes of the stream, but had confirmed "
                f"{self.base}; {STREAM_LOST}",
            )
        if offset > self.end:
            raise Fatal(
                EX_PROTOCOL, f"the server reports {offset} bytes, but only {self.end} were sent"
            )
        if length is not None and (not self.stream.eof or length != self.end):
            raise Fatal(
                EX_PROTOCOL,
                f"the server reports a length of {length} bytes for a stream that is not at "
                "its end",
            )
        return offset

    def _patch(self, offset: int) -> int:
        assert self.url is not None
        skip = offset - self.base
        length = len(self.chunk) - skip
        headers = dict(
            self.auth,
            **{
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
            },
        )
        if self.stream.eof:
            headers["Upload-Length"] = str(self.end)
            headers["Tuslog-Sha256"] = self.app.sha256
        body = ChunkBody(BufferFile(self.chunk), skip, length, self.app.out.advance)  # type: ignore[arg-type]
        resp = self.http.send("PATCH", self.url, headers, data=body)
        offset = patch_result(self.app, resp, offset, length)
        if self.stream.eof and offset == self.end and self.app.seen.length != self.end:
            raise Fatal(
                EX_PROTOCOL, f"the server did not take the stream's length ({self.end} bytes)"
            )
        return offset


# ------------------------------------------------------------------------------- the run
class Seen:
    """What the server said about the upload (Tuslog-* headers, Upload-Length)."""

    def __init__(self) -> None:
        self.state = ""
        self.sha256 = ""
        self.ticket = ""
        self.length: int | None = None


class Run:
    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.out = out
        self.args = args
        sort_operands(args)
        self.timeout: int = args.timeout
        self.verify: bool | str = True
        if args.insecure:
            self.verify = False
        elif args.cacert:
            self.verify = args.cacert
        self.base = normalise_base(args.host)
        self.endpoint = self.base + "/files/"
        self.origin = origin_of(self.base)
        self.path: str = args.file
        self.source = "stdin" if self.path == "-" else "dir" if os.path.isdir(self.path) else "file"
        self.display = {"stdin": "standard input", "dir": f"directory {self.path}"}.get(
            self.source, self.path
        )
        self.token = self._read_token(args.token, args.token_file)
        self.token_hint = self.token[:12] + "..."
        self.size: int | None = 0
        self.sha256 = ""
        self.name = clean_name(args.name or self._default_name())
        self.seen = Seen()
        self.contacted = False
        self.resuming = False
        self.create_unsure = False
        self.gone_before = False
        self.streaming = False
        self.best = 0
        self.fails = 0
        self.first_fail = 0.0
        self.created_offset = 0

    def _default_name(self) -> str:
        if self.source == "dir":
            return (
                os.path.basename(os.path.abspath(self.path).rstrip(os.sep)) or "root"
            ) + ".tar.gz"
        if self.source == "stdin":
            machine = socket.gethostname().split(".")[0]
            return f"stdin-{machine}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        return os.path.basename(self.path)

    def _read_token(self, token: str | None, token_file: str | None) -> str:
        if token_file:
            try:
                with open(token_file, encoding="utf-8", errors="replace") as handle:
                    token = handle.readline()
            except OSError as exc:
                raise Fatal(
                    EX_USAGE, f"--token-file: cannot read {token_file}: {exc.strerror}"
                ) from None
        elif token == "-":
            if self.source == "stdin":
                raise Fatal(
                    EX_USAGE,
                    "TOKEN cannot be - when the data comes from standard input: put the token "
                    "in a file and use --token-file FILE",
                )
            if sys.stdin.isatty():
                token = getpass.getpass(f"{PROG}: paste the upload token and press Enter: ")
            else:
                token = sys.stdin.readline()
        token = re.sub(r"[\s\"]", "", token or "")
        if not TOKEN_RE.match(token):
            raise Fatal(
                EX_USAGE,
                "TOKEN does not look like an upload token (tlu_xxxxxxxx_...); copy it again "
                "from the message support sent you",
            )
        return token

    def first_contact(self) -> bool:
        """No tus server answered yet in this run, and there is no upload to resume."""
        return not self.contacted and not self.resuming

    def note(self, resp: requests.Response) -> None:
        seen = self.seen
        seen.state = resp.headers.get("Tuslog-Upload-State", seen.state)
        seen.sha256 = resp.headers.get("Tuslog-Sha256", seen.sha256)
        seen.ticket = resp.headers.get("Tuslog-Ticket", seen.ticket)
        length = resp.headers.get("Upload-Length", "")
        if length.isdigit():
            seen.length = int(length)

    def check_source(self) -> None:
        path = self.path
        if self.source == "stdin":
            if sys.stdin.isatty():
                raise Fatal(
                    EX_USAGE,
                    "standard input is a terminal: pipe the data in, e.g. some-command | "
                    "python3 uploader.py HOST TOKEN - --name out.txt",
                )
        elif self.source == "dir":
            if not os.access(path, os.R_OK | os.X_OK):
                raise Fatal(EX_FILE, f"cannot read the directory {path} (permission denied?)")
        else:
            if not os.path.lexists(path):
                raise Fatal(EX_FILE, f"file not found: {path}")
            if not os.path.isfile(path):
                raise Fatal(EX_FILE, f"not a regular file: {path}")
            if not os.access(path, os.R_OK):
                raise Fatal(EX_FILE, f"cannot read {path} (permission denied?)")
            self.size = os.path.getsize(path)
        if self.source != "file" and self.args.chunk_size == 0:
            raise Fatal(
                EX_USAGE,
                "--chunk-size 0 cannot be used for a directory or standard input: the chunk "
                "in flight is kept until the server has it",
            )

    def hash_file(self, stream: IO[bytes]) -> str:
        size = self.size or 0
        self.out.say(f"computing the SHA-256 of {self.path} ({human(size)})...")
        digest = hashlib.sha256()
        bar = None
        if self.out.tty and not self.out.quiet and size > 256 << 20:
            bar = tqdm(
                total=size,
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

    def where(self) -> str:
        if self.size is None:
            return f"{human(self.best)} sent"
        return f"{percent(self.best, self.size)}%"

    def wait_before_retry(self, exc: Transient) -> None:
        self.fails += 1
        delay = 0
        if not exc.no_wait or self.fails > 1:
            delay = min(2 ** (self.fails - 1), MAX_BACKOFF)
        if exc.retry_after > delay:
            delay = min(exc.retry_after, MAX_RETRY_AFTER)
        if self.first_contact():
            # Never reached in this run: most likely a wrong HOST, or no network.
            now = time.monotonic()
            self.first_fail = self.first_fail or now
            delay = min(delay, FIRST_CONTACT_BACKOFF)
            if (
                self.fails > self.args.retries
                or now - self.first_fail + delay > FIRST_CONTACT_LIMIT
            ):
                raise Fatal(
                    EX_PROTOCOL,
                    f"cannot reach the server at {self.origin}: {exc.reason}. Check HOST (and "
                    "its port), your network or proxy; nothing was uploaded",
                )
        elif self.fails > self.args.retries:
            then = (
                STREAM_LOST
                if self.streaming
                else f"Run the same command again to resume from {self.where()}"
            )
            raise Fatal(
                EX_RETRIES,
                f"giving up after {self.args.retries} attempts without progress: {exc.reason}. "
                + then,
            )
        when = f"retrying in {delay}s (attempt {self.fails} of {self.args.retries})"
        self.out.retrying(f"{exc.reason} at {self.where()}; {when if delay else 'resuming'}")
        if delay:
            time.sleep(delay)

    def progressed(self, offset: int) -> None:
        if offset > self.best:
            self.best = offset
            self.fails = 0
        self.out.position(offset)

    def execute(self) -> dict[str, Any]:
        self.check_source()
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
        with requests.Session() as session:
            session.headers["User-Agent"] = (
                f"tuslog-uploader.py/{VERSION} python-requests/"
                f"{getattr(requests, '__version__', '?')}"
            )
            http = Http(self, session)
            if self.source != "file":
                return self._send_stream(http)
            try:
                stream = open(self.path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise Fatal(EX_FILE, f"cannot read {self.path}: {exc.strerror}") from None
            with stream:
                self.sha256 = self.hash_file(stream)
                state = State(self.endpoint, self.token, self.sha256, self.out)
                return self._upload(http, stream, state)

    def _send_stream(self, http: Http) -> dict[str, Any]:
        self.streaming = True
        source = Stream.open(self.path, self.out)
        try:
            first = source.read_chunk(self.args.chunk_size)
        except MemoryError:
            raise Fatal(
                EX_FILE, "no memory for the chunk in flight: use a smaller --chunk-size"
            ) from None
        if source.eof:
            # All of it fits in one chunk: its length and SHA-256 are known, and it is sent
            # like a file (the server verifies the declared SHA-256).
            self.size = len(first)
            self.sha256 = source.sha256.hexdigest()
            state = State(self.endpoint, self.token, self.sha256, self.out, enabled=False)
            return self._upload(http, io.BytesIO(bytes(first)), state)
        self.size = None
        self.out.say(
            f'uploading {self.display} as "{self.name}" (length unknown until its end) to '
            f"{self.origin} with token {self.token_hint}"
        )
        upload = StreamUpload(self, http, source, first)
        del first  # the upload holds the one chunk in flight
        url = upload.run()
        self.size = source.read_bytes
        return self._finish(url, upload.head)

    def _upload(self, http: Http, stream: IO[bytes], state: State) -> dict[str, Any]:
        stored = state.load()
        if stored:
            self.resuming = True
            self.out.say("resuming the upload started earlier for this file and token")
        self.out.say(
            f'uploading "{self.name}" ({human(self.size or 0)}) to {self.origin} with token '
            f"{self.token_hint}"
        )
        uploader: TuslogUploader | None = None
        started = False
        need_head = False
        while True:
            try:
                if uploader is None:
                    # With a stored URL tuspy asks the server for the offset (HEAD) here.
                    uploader = self._make_uploader(http, stream, stored)
                elif uploader.url is not None and need_head:
                    uploader.offset = uploader.get_offset()
                need_head = False
                if uploader.url is None:
                    url = uploader.create_url()
                    uploader.set_url(url)
                    # Not 0 when the server handed back this file's upload (a lost answer).
                    uploader.offset = self.created_offset
                    state.save(
                        url,
                        endpoint=self.endpoint,
                        sha256=self.sha256,
                        size=self.size,
                        name=self.name,
                    )
                    self.fails = 0
                    self.out.say(f"upload created; sending {human(self.size or 0)}")
                if not started:
                    self.out.start(self.name, self.size, uploader.offset)
                    started = True
                self.progressed(uploader.offset)
                if uploader.offset >= (self.size or 0):
                    return self._finish(uploader.upload_url, uploader.get_offset)
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

    def _make_uploader(self, http: Http, stream: IO[bytes], url: str | None) -> TuslogUploader:
        client = TusClient(self.endpoint, headers={"Authorization": f"Bearer {self.token}"})
        return TuslogUploader(
            http=http,
            app=self,
            client=client,
            file_stream=stream,
            stream=stream,
            url=url,
            chunk_size=self.args.chunk_size,
            metadata={"filename": self.name, "sha256": self.sha256},
        )

    def _finish(self, url: str, refresh: Callable[[], int]) -> dict[str, Any]:
        # The server has all bytes; ask for its verdict (HEAD). A server that has to read
        # the file again to hash it says "verifying": wait for it, as long as hashing this
        # size may reasonably take.
        size = self.size or 0
        seen = self.seen
        deadline = time.monotonic() + VERIFY_WAIT_BASE + size / VERIFY_WAIT_RATE
        told = False
        for attempt in itertools.count():
            if seen.state in ("verified", "corrupt") or (seen.state == "complete" and seen.sha256):
                break
            if time.monotonic() > deadline or (seen.state != "verifying" and attempt >= 10):
                break
            if seen.state == "verifying" and not told:
                self.out.say("all bytes arrived; the server is checking the SHA-256 of the file...")
                told = True
            if attempt:
                time.sleep(min(5.0, 1.0 + attempt / 4))
            try:
                refresh()
            except Transient:
                continue
            except Gone:
                raise Fatal(
                    EX_GONE, "the upload vanished from the server right after it completed"
                ) from None
        self.out.position(size, final=True)
        self.out.close()
        return self._receipt(url)

    def _receipt(self, url: str) -> dict[str, Any]:
        state, server_sha = self.seen.state, self.seen.sha256
        if state == "verifying":
            raise Fatal(
                EX_RETRIES,
                "all bytes arrived but the server is still checking the file; run the same "
                "command again later for the receipt (nothing is sent again)",
            )
        if state in ("verified", "corrupt"):
            verdict = state
        elif state in ("complete", ""):
            # The server computed the SHA-256 of what it stored but had none to check it
            # against (a stream): compare it with the SHA-256 of what was sent.
            if server_sha:
                verdict = MATCHED if server_sha == self.sha256 else "corrupt"
            else:
                verdict = "complete (the server reported no SHA-256)"
        else:
            raise Fatal(
                EX_PROTOCOL, f"the server has all bytes but reports the upload as {state!r}"
            )
        receipt: dict[str, Any] = {
            "ok": verdict != "corrupt",
            "exit_code": EX_CORRUPT if verdict == "corrupt" else EX_OK,
            "ticket": self.seen.ticket or None,
            "file": self.name,
            "source": self.source,
            "path": "-" if self.source == "stdin" else os.path.abspath(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "server_sha256": server_sha or None,
            "verification": "matched" if verdict == MATCHED else verdict,
            "upload_url": url,
        }
        if verdict == MATCHED:
            receipt["verification_note"] = MATCHED
        return receipt


def print_receipt(receipt: dict[str, Any], run: Run, out: Output) -> None:
    if out.as_json:
        print(json.dumps(receipt, ensure_ascii=False), flush=True)
        return
    print(f"ticket:   {receipt['ticket'] or 'unknown'}")
    print(f"file:     {receipt['file']}")
    if receipt["source"] != "file":
        print(f"source:   {run.display}")
    print(f"size:     {receipt['size']} bytes ({human(receipt['size'])})")
    print(f"sha256:   {receipt['sha256']}")
    print(f"server:   {receipt.get('verification_note') or receipt['verification']}")
    print(f"upload:   {receipt['upload_url']}", flush=True)


def fail(out: Output, code: int, message: str) -> int:
    out.close()
    out.error(message)
    if out.as_json:
        print(json.dumps({"ok": False, "exit_code": code, "error": message}), flush=True)
    return code


def stopped_message(run: Run | None, what: str) -> str:
    if run is None:
        return f"{what}; run the same command again"
    if run.streaming:
        return f"{what} after {human(run.best)}: {STREAM_LOST}"
    return f"{what} at {run.where()}; run the same command again to resume"


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
        return fail(out, EX_SIGINT, stopped_message(run, "interrupted"))
    except Stopped as exc:
        return fail(out, exc.code, stopped_message(run, exc.what))
    if receipt["exit_code"] != EX_CORRUPT:
        out.say(f"upload complete: the server confirmed all {receipt['size']} bytes")
    print_receipt(receipt, run, out)
    if receipt["exit_code"] == EX_CORRUPT:
        return fail(
            out,
            EX_CORRUPT,
            f"the server's SHA-256 ({receipt['server_sha256']}) does not match {run.display}; "
            "did it change while uploading? Tell support",
        )
    return EX_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # last resort: one line, no traceback
        print(f"{PROG}: error: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        sys.exit(EX_INTERNAL)
