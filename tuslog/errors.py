"""The one error catalogue. Services raise these; each surface renders them once.

``TOKEN_INVALID(...)`` builds a fresh :class:`TuslogError`; the definitions themselves are
never raised, so no traceback state is shared between requests.
"""

from dataclasses import dataclass, field


class TuslogError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        *,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.headers = headers or {}


@dataclass(frozen=True)
class ErrorDef:
    code: str
    status: int
    message: str
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        message: str | None = None,
        *,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> TuslogError:
        return TuslogError(
            self.code,
            message or self.message,
            self.status,
            retry_after=retry_after if retry_after is not None else self.retry_after,
            headers={**self.headers, **(headers or {})},
        )


CATALOGUE: dict[str, ErrorDef] = {}


def _define(code: str, status: int, message: str, **kwargs: object) -> ErrorDef:
    """Add an error to the catalogue; a code defined twice is a bug, caught at import."""
    if code in CATALOGUE:
        raise ValueError(f"error code {code!r} is defined twice")
    definition = ErrorDef(code, status, message, **kwargs)  # type: ignore[arg-type]
    CATALOGUE[code] = definition
    return definition


# --- request shape ----------------------------------------------------------------------
BAD_REQUEST = _define("bad_request", 400, "The request is malformed.")
UNSUPPORTED_VERSION = _define(
    "unsupported_version", 412, "Tus-Resumable must be 1.0.0.", headers={"Tus-Version": "1.0.0"}
)
BAD_CONTENT_TYPE = _define(
    "bad_content_type", 415, "PATCH needs Content-Type: application/offset+octet-stream."
)
CONTENT_ENCODING_REFUSED = _define(
    "content_encoding_refused",
    415,
    "Send the upload's bytes as they are: no Content-Encoding (compress the file itself "
    "if you want it smaller).",
    headers={"Accept-Encoding": "identity"},
)
TRANSFER_ENCODING_UNSUPPORTED = _define(
    "transfer_encoding_unsupported",
    501,
    "Only 'Transfer-Encoding: chunked' is understood; send the bytes as they are.",
)
METHOD_NOT_ALLOWED = _define("method_not_allowed", 405, "This method is not allowed here.")
EXPECTATION_FAILED = _define(
    "expectation_failed", 417, "Only 'Expect: 100-continue' is understood; drop the header."
)
CHECKSUM_ALGORITHM = _define(
    "checksum_algorithm_unsupported",
    400,
    "Unsupported Upload-Checksum algorithm; use sha1, sha256, md5 or crc32.",
)
CHECKSUM_MISMATCH = _define(
    "checksum_mismatch", 460, "Upload-Checksum does not match the body; the chunk was discarded."
)

# --- tokens -----------------------------------------------------------------------------
TOKEN_INVALID = _define(
    "token_invalid",
    401,
    "Upload token missing, unknown, expired, used up or revoked; ask support for a new one.",
    headers={"WWW-Authenticate": 'Bearer realm="tuslog"'},
)
TOKEN_NOT_OWNER = _define("token_not_owner", 403, "This upload belongs to another upload token.")
RATE_LIMITED = _define(
    "rate_limited", 429, "Too many failed token attempts from this address; wait and retry."
)

# --- uploads ----------------------------------------------------------------------------
UPLOAD_NOT_FOUND = _define("upload_not_found", 404, "No such upload.")
UPLOAD_GONE = _define("upload_gone", 410, "This upload expired or was terminated; start a new one.")
UPLOAD_FINISHED = _define("upload_finished", 403, "This upload is already complete.")
FINAL_NOT_PATCHABLE = _define(
    "final_not_patchable", 403, "A final concatenated upload takes no PATCH; it is complete."
)
OFFSET_MISMATCH = _define(
    "offset_mismatch", 409, "Upload-Offset does not match the server's offset; HEAD and resume."
)
TOO_LARGE = _define("too_large", 413, "The upload is larger than the server accepts.")
QUOTA_EXCEEDED = _define("quota_exceeded", 413, "The upload exceeds this token's byte quota.")
NO_SPACE = _define(
    "insufficient_storage", 507, "Not enough free disk space on the server for this upload."
)
DISK_FULL = _define(
    "disk_full",
    503,
    "The server's disk filled up; what arrived was kept. Retry later to resume.",
    retry_after=60,
)
UPLOAD_LOCKED = _define(
    "upload_locked", 423, "Another request is writing this upload; retry shortly.", retry_after=1
)
CONCAT_INVALID = _define(
    "concat_invalid", 400, "Upload-Concat must name finished partial uploads of this token."
)
READ_TIMEOUT = _define(
    "read_timeout", 408, "No data arrived for too long; what arrived was kept. Resume with HEAD."
)
STORAGE_UNAVAILABLE = _define(
    "storage_unavailable",
    503,
    "The server cannot use its storage right now. Retry later; HEAD tells what was kept.",
    retry_after=60,
)
SERVER_BUSY = _define(
    "server_busy",
    503,
    "The server is busy with other uploads right now; retry in a few seconds.",
    retry_after=5,
)
SHUTTING_DOWN = _define(
    "shutting_down",
    503,
    "The server is restarting; what arrived was kept. Resume in a few seconds.",
    retry_after=5,
)

UPLOAD_NOT_READY = _define(
    "upload_not_ready", 409, "This upload is not finished yet; wait until it is complete."
)
UPLOAD_CORRUPT = _define(
    "upload_corrupt",
    409,
    "This upload does not match the SHA-256 its client declared; it is probably damaged.",
)
RANGE_NOT_SATISFIABLE = _define(
    "range_not_satisfiable", 416, "The requested byte range is outside the upload."
)

# --- staff-side objects ------------------------------------------------------------------
TICKET_NOT_FOUND = _define("ticket_not_found", 404, "No such ticket.")
TICKET_EXISTS = _define("ticket_exists", 409, "A ticket with this number already exists.")
TOKEN_NOT_FOUND = _define("token_not_found", 404, "No such upload token.")
INVALID_VALUE = _define("invalid_value", 422, "A value is invalid.")
DATABASE_UNAVAILABLE = _define(
    "database_unavailable",
    503,
    "The server cannot reach its database right now; retry shortly.",
    retry_after=5,
)

# --- staff accounts and sign-in (tuslog.services.accounts, .signin, .sessions) -----------
INVALID_CREDENTIALS = _define("invalid_credentials", 401, "Wrong email or password.")
SIGN_IN_LOCKED = _define(
    "sign_in_locked", 429, "Too many failed attempts; wait a few minutes and try again."
)
SECOND_FACTOR_INVALID = _define(
    "second_factor_invalid",
    401,
    "That code is wrong, expired or already used; enter the current code from your "
    "authenticator app or an unused recovery code.",
)
SECOND_FACTOR_REQUIRED = _define(
    "second_factor_required", 403, "Enter a code from your authenticator app first."
)
SESSION_INVALID = _define(
    "session_invalid", 401, "You are not signed in, or your session ended; sign in again."
)
CSRF_FAILED = _define(
    "csrf_failed", 403, "The form expired or came from another site; reload the page and retry."
)
ADMIN_REQUIRED = _define("admin_required", 403, "Only administrators can do this.")
ALREADY_ENROLLED = _define(
    "already_enrolled",
    409,
    "Two-factor authentication is already set up for this account; sign in with a code.",
)
NOT_ENROLLED = _define(
    "not_enrolled", 409, "Set up two-factor authentication first (scan the QR code)."
)
WEAK_PASSWORD = _define("weak_password", 422, "Choose a longer, less predictable password.")
USER_EXISTS = _define("user_exists", 409, "A user with this email already exists.")
USER_NOT_FOUND = _define("user_not_found", 404, "No such user.")
LAST_ADMIN = _define(
    "last_admin",
    409,
    "This is the last active administrator; make another user an administrator first.",
)
TOTP_KEY_MISSING = _define(
    "totp_key_missing",
    503,
    "Two-factor secrets cannot be read: TUSLOG_TOTP_KEYS lacks the key they were stored with.",
)

# --- REST API (tuslog.api, tuslog.services.apikeys, .webhooks) ----------------------------
API_KEY_INVALID = _define(
    "api_key_invalid",
    401,
    "API key missing, unknown, expired or revoked. Send Authorization: Bearer <API key> "
    "(tlk_…); upload tokens (tlu_…) are not accepted here.",
    headers={"WWW-Authenticate": 'Bearer realm="tuslog-api"'},
)
API_AUTH_LOCKED = _define(
    "api_auth_locked", 429, "Too many failed API key attempts from this address; wait and retry."
)
SCOPE_MISSING = _define("scope_missing", 403, "This API key lacks the scope this call needs.")
NOT_FOUND = _define("not_found", 404, "No such API endpoint; see /api/v1/docs.")
VALIDATION_FAILED = _define(
    "validation_failed", 422, "The request has invalid or unknown fields; see errors."
)
JSON_REQUIRED = _define(
    "json_required", 415, "Send the request body as JSON (Content-Type: application/json)."
)
BODY_TOO_LARGE = _define("body_too_large", 413, "The request body is too large for this API.")
PRECONDITION_FAILED = _define(
    "precondition_failed",
    412,
    "If-Match does not match the current ETag: someone changed this meanwhile. GET it "
    "again, reapply your change and send the new ETag.",
)
PRECONDITION_REQUIRED = _define(
    "precondition_required",
    428,
    "Send If-Match with the ETag from your last GET, so that no one's change is overwritten.",
)
API_KEY_NOT_FOUND = _define("api_key_not_found", 404, "No such API key.")
WEBHOOK_NOT_FOUND = _define("webhook_not_found", 404, "No such webhook endpoint.")
DELIVERY_NOT_FOUND = _define("delivery_not_found", 404, "No such webhook delivery.")
WEBHOOK_TARGET_REFUSED = _define(
    "webhook_target_refused",
    422,
    "Webhook URLs must be http(s) and reach a public address; private, loopback and "
    "link-local ones only when TUSLOG_WEBHOOK_ALLOWED_NETWORKS includes them.",
)
INTERNAL_ERROR = _define("internal_error", 500, "Internal server error; retry shortly.")
# --- looking inside archives (tuslog.uploads.archive_reading) ----------------------------
MANIFEST_NOT_READY = _define(
    "manifest_not_ready",
    409,
    "This archive's list of entries is still being made; try again in a moment.",
    retry_after=5,
)
ARCHIVE_NOT_AN_ARCHIVE = _define(
    "archive_not_an_archive",
    422,
    "This upload is not an archive tuslog can look into (tar, tar.gz, tar.xz, tar.zst, "
    "tar.bz2, zip, or one .gz, .xz, .zst or .bz2 file); download it instead.",
)
ARCHIVE_UNREADABLE = _define(
    "archive_unreadable",
    422,
    "The archive could not be read as far as this entry; download the whole upload instead.",
)
ARCHIVE_ENTRY_NOT_FOUND = _define(
    "archive_entry_not_found", 404, "The archive's list of entries has no such entry."
)
ARCHIVE_ENTRY_UNAVAILABLE = _define(
    "archive_entry_unavailable",
    409,
    "This entry has no content to show (a folder, a link, or encrypted data).",
)
ARCHIVE_PATTERN_INVALID = _define(
    "archive_pattern_invalid", 400, "The search pattern cannot be used; correct it."
)
