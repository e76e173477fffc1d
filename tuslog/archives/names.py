"""Entry names and text lines as inert display strings.

Names come from the archive, so they are attacker-controlled. They are never used as file
system paths here; they are only shown. :func:`display_name` makes every character that
could hide, reorder or fake text visible as an escape: control characters, NUL, Unicode
format characters (bidi overrides and isolates U+202A-U+202E, U+2066-U+2069, zero-width
characters), line and paragraph separators, non-ASCII spaces, and bytes that were not valid
UTF-8 (decoded with ``surrogateescape``). The backslash itself is escaped too, so a name can
never pretend to contain an escape, and two different names never display the same.
"""

import re

# Characters that str.isprintable() rejects are Unicode "Other" (Cc, Cf, Cs, Co, Cn) and
# "Separator" (Zl, Zp, Zs except the ASCII space): exactly the set that must be escaped.
_SURROGATE_BYTES = range(0xDC80, 0xDD00)


def _escape_char(char: str) -> str:
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"  # a byte that was not valid UTF-8
    if code < 0x80:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_text(text: str, *, keep_tabs: bool = False, escape_backslash: bool = True) -> str:
    """Escape every character that is not plainly printable (see the module docstring)."""
    if text.isprintable() and (not escape_backslash or "\\" not in text):
        return text
    parts: list[str] = []
    for char in text:
        if char == "\\" and escape_backslash:
            parts.append("\\\\")
        elif char.isprintable() or (keep_tabs and char == "\t"):
            parts.append(char)
        else:
            parts.append(_escape_char(char))
    return "".join(parts)


def display_name(raw: str) -> str:
    """The display form of an entry name decoded with ``surrogateescape``."""
    return escape_text(raw)


def display_line(raw: str) -> str:
    """A line of an entry's text for display: controls, bidi and bad bytes escaped.

    Tabs stay, and backslashes stay as they are (Windows paths in logs stay readable); the
    result is still plain text that the portal must HTML-escape.
    """
    return escape_text(raw, keep_tabs=True, escape_backslash=False)


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_unsafe_path(raw: str) -> bool:
    """True for names that would escape an extraction folder: absolute, ``..``, drive."""
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        return True
    return ".." in re.split(r"[\\/]", raw)
