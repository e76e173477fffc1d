"""Strict parsing of tus request headers. Every failure is a 400 that says what to fix."""

import base64
import binascii
import re

from tuslog import errors
from tuslog.uploads.checksums import ALGORITHMS as CHECKSUM_ALGORITHMS
from tuslog.uploads.checksums import Checksum
from tuslog.uploads.creation import Concatenation

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
MAX_METADATA_HEADER = 4096
MAX_FILENAME_BYTES = 255
_INT_RE = re.compile(r"^[0-9]{1,19}$")
_KEY_RE = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")  # printable ASCII, no space or comma
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_INT64_MAX = 2**63 - 1


def parse_uint(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not _INT_RE.fullmatch(value) or int(value) > _INT64_MAX:
        raise errors.BAD_REQUEST(f"{name} must be a non-negative integer, got {value[:40]!r}.")
    return int(value)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.BAD_REQUEST(f"{what} is not valid base64.") from None


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Upload-Metadata as text values. Values must be UTF-8 without control characters,
    so that nothing we later show or send back can smuggle a header or a line break."""
    if raw is None or not raw.strip():
        return {}
    if len(raw) > MAX_METADATA_HEADER:
        raise errors.BAD_REQUEST(f"Upload-Metadata is longer than {MAX_METADATA_HEADER} bytes.")
    if not raw.isascii():
        # Keys are ASCII and values base64; anything else (e.g. raw bytes that are not
        # UTF-8) could not be stored or echoed back on HEAD.
        raise errors.BAD_REQUEST("Upload-Metadata must be ASCII: keys and base64 values.")
    result: dict[str, str] = {}
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or not _KEY_RE.fullmatch(key) or len(parts) > 2:
            raise errors.BAD_REQUEST(
                "Upload-Metadata must be comma-separated 'key base64value' pairs."
            )
        if key in result:
            raise errors.BAD_REQUEST(f"Upload-Metadata repeats the key {key!r}.")
        decoded = _b64(parts[1], f"Upload-Metadata value of {key!r}") if len(parts) == 2 else b""
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.BAD_REQUEST(f"Upload-Metadata value of {key!r} is not UTF-8.") from None
        if _CONTROL_RE.search(text):
            raise errors.BAD_REQUEST(
                f"Upload-Metadata value of {key!r} contains control characters (CR, LF, …)."
            )
        result[key] = text
    return result


def display_filename(metadata: dict[str, str]) -> str:
    """The client's file name, for display only: never a path."""
    name = metadata.get("filename") or metadata.get("name") or ""
    if not name:
        return ""
    if "/" in name or "\\" in name or name in (".", ".."):
        raise errors.BAD_REQUEST("Metadata filename must be a plain file name, not a path.")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise errors.BAD_REQUEST(f"Metadata filename is longer than {MAX_FILENAME_BYTES} bytes.")
    return name


def declared_sha256(metadata: dict[str, str]) -> str | None:
    value = metadata.get("sha256")
    if value is None:
        return None
    value = value.strip().lower()
    if not _HEX64_RE.fullmatch(value):
        raise errors.BAD_REQUEST("Metadata sha256 must be 64 hexadecimal digits.")
    return value


def parse_sha256_header(raw: str | None) -> str | None:
    """``Tuslog-Sha256`` on the PATCH that declares a deferred length: the SHA-256 of the
    whole stream, known only once it has been sent (uploaders of directories and pipes)."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if not _HEX64_RE.fullmatch(value):
        raise errors.BAD_REQUEST("Tuslog-Sha256 must be 64 hexadecimal digits.")
    return value


def retry_key(metadata: dict[str, str]) -> str | None:
    """Metadata ``stream_id``: a random id an uploader gives a stream, so that a creation
    asked again after a lost 201 gets its upload back (there is no SHA-256 to match yet)."""
    value = metadata.get("stream_id")
    if value is None:
        return None
    if not 8 <= len(value) <= 64 or not value.isascii() or not value.isalnum():
        raise errors.BAD_REQUEST("Metadata stream_id must be 8 to 64 letters and digits.")
    return value


def parse_checksum(raw: str | None) -> Checksum | None:
    if raw is None:
        return None
    parts = raw.strip().split(" ")
    if len(parts) != 2:
        raise errors.BAD_REQUEST("Upload-Checksum must be '<algorithm> <base64 digest>'.")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise errors.CHECKSUM_ALGORITHM()
    digest = _b64(parts[1], "Upload-Checksum digest")
    if len(digest) != len(CHECKSUM_ALGORITHMS[algorithm]().digest()):
        raise errors.BAD_REQUEST(f"Upload-Checksum digest has the wrong length for {algorithm}.")
    return Checksum(algorithm, digest)


_UPLOAD_ID_IN_URL = re.compile(r"(?:^|/)files/([0-9a-f]{32})/?$")


def parse_concat(raw: str | None) -> Concatenation | None:
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "partial":
        return Concatenation(partial=True)
    if not raw.startswith("final;"):
        raise errors.CONCAT_INVALID("Upload-Concat must be 'partial' or 'final;<url> <url> …'.")
    ids = []
    for url in raw[len("final;") :].split():
        match = _UPLOAD_ID_IN_URL.search(url)
        if not match:
            raise errors.CONCAT_INVALID(f"Upload-Concat names an unknown upload URL {url[:80]!r}.")
        ids.append(match.group(1))
    if not ids:
        raise errors.CONCAT_INVALID("Upload-Concat: final needs at least one partial upload URL.")
    return Concatenation(partial=False, upload_ids=tuple(ids))
