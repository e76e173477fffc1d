"""The last line of defence for secrets in logs: whatever a message says, upload tokens,
API keys, bearer credentials, session cookies and ``password=``/``code=`` values are
masked before a line is written. Code never logs them on purpose; this catches a library
(or a future line) that echoes a header or a URL."""

import logging
import re

_PATTERNS = (
    # tuslog's own secrets: tlu_<prefix>_<secret> (upload tokens), tlk_… (API keys)
    re.compile(r"\b(tl[a-z]_[A-Za-z0-9]{4,16}_)[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']+"),
    re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)[^\s,;\"']+"),
    re.compile(r"(?i)\b((?:password|passwd|secret|totp|code|session|api_key|token)=)[^\s&,;\"']+"),
    re.compile(r"(?i)\b(cookie[\"']?\s*[:=]\s*[\"']?)[^\r\n\"']+"),
)
MASK = "[redacted]"
# A word that every one of the patterns needs, searched for in the case-folded text: a
# superset of what the case-insensitive patterns match (the long s, the Kelvin sign too).
# Most lines, every access-log line among them, name none. Four times faster than one
# search with (?i), which is hardly faster than the five substitutions it saves.
_CLUES = re.compile(
    r"tl[a-z]_|bearer|authorization|cookie"
    r"|(?:password|passwd|secret|totp|code|session|api_key|token)="
)


def scrub(text: str) -> str:
    if _CLUES.search(text.casefold()) is None:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for name, value in list(vars(record).items()):  # ``extra`` fields (JSON lines)
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, scrub(value))
        if record.exc_info:  # formatted here, once, so that it can be scrubbed
            record.exc_text = record.exc_text or logging.Formatter().formatException(
                record.exc_info
            )
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
