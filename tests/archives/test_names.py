"""Entry names and lines become inert, visible display strings."""

import pytest

from tuslog.archives import display_line, display_name
from tuslog.archives.names import is_unsafe_path

BAD_BYTE = b"\xff".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("var/log/syslog", "var/log/syslog"),
        ("café/日本語.log", "café/日本語.log"),
        ("nul\0x", "nul\\x00x"),
        ("new\nline\r", "new\\x0aline\\x0d"),
        ("tab\there", "tab\\x09here"),
        ("esc\x1b[0m", "esc\\x1b[0m"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85", "c1\\u0085"),
        ("rlo\u202eexe.txt", "rlo\\u202eexe.txt"),
        ("lre\u202a pdf\u202c", "lre\\u202a pdf\\u202c"),
        ("isolates\u2066\u2067\u2068\u2069", "isolates\\u2066\\u2067\\u2068\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028sep", "line\\u2028sep"),
        ("nb\u00a0space", "nb\\u00a0space"),
        (f"bad{BAD_BYTE}byte", "bad\\xffbyte"),
        ("back\\slash", "back\\\\slash"),
        ("fake\\x41", "fake\\\\x41"),
        ("private\ue000", "private\\ue000"),
        ("astral\U000e0001", "astral\\U000e0001"),
    ],
)
def test_display_name(raw: str, shown: str) -> None:
    assert display_name(raw) == shown
    assert shown.isprintable()


def test_display_names_are_distinct_for_distinct_names() -> None:
    names = ["a\\x00", "a\0", "a\\\\", "a\\", f"a{BAD_BYTE}", "a\\xff", "a\xff"]
    assert len({display_name(name) for name in names}) == len(names)


def test_display_line_keeps_tabs_and_backslashes() -> None:
    assert display_line("C:\\logs\tERROR \u202e\x1b[1m") == "C:\\logs\tERROR \\u202e\\x1b[1m"


@pytest.mark.parametrize(
    ("raw", "unsafe"),
    [
        ("var/log/x", False),
        ("..hidden/x", False),
        ("a/../../x", True),
        ("..", True),
        ("/etc/passwd", True),
        ("\\\\server\\share", True),
        ("C:/Windows", True),
        ("c:\\x", True),
        ("dir\\..\\x", True),
    ],
)
def test_unsafe_paths(raw: str, unsafe: bool) -> None:
    assert is_unsafe_path(raw) is unsafe
