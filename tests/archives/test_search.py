"""Search across an archive's text entries: RE2 patterns, context lines, budgets."""

import codecs
import gzip
import lzma
import tarfile
from pathlib import Path

import pytest

from tests.archives.build import opener, tar_file, write_tar, zip_bytes
from tuslog.archives import (
    Caps,
    Hit,
    PatternError,
    SearchQuery,
    SearchSummary,
    iter_search,
    search_archive,
)


def numbered(count: int, needle_every: int) -> list[str]:
    return [
        f"2025-11-01 host app[{n}]: " + ("NEEDLE found" if n % needle_every == 0 else "routine")
        for n in range(1, count + 1)
    ]


LINES = numbered(120_000, 997)  # ~5 MiB: hits fall on every side of the 1 MiB chunk borders
BIG = ("\n".join(LINES) + "\n").encode()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("search")
    members = [
        tar_file("var/log/app.log", BIG),
        tar_file("var/log/core.bin", b"NEEDLE\0binary"),
        tar_file(
            "var/log/win.log", codecs.BOM_UTF16_LE + "x\r\nNeedle in UTF-16\r\n".encode("utf-16-le")
        ),
        tar_file("etc/app.conf", b"needle = lower case\n"),
        tar_file("var/log/link", type=tarfile.SYMTYPE, linkname="app.log"),
    ]
    return write_tar(folder / "bundle.tgz", members, "w:gz")


def test_every_match_with_exact_context_across_chunk_borders(bundle: Path) -> None:
    result = search_archive(opener(bundle), SearchQuery(r"NEEDLE \w+$", context=3, max_hits=10_000))

    expected = [n for n in range(1, len(LINES) + 1) if n % 997 == 0]
    hits = [hit for hit in result.hits if hit.path == "var/log/app.log"]
    assert [hit.line.number for hit in hits] == expected
    for hit in hits:
        n = hit.line.number
        assert hit.line.text == LINES[n - 1]
        assert [(line.number, line.text) for line in hit.before] == [
            (k, LINES[k - 1]) for k in range(n - 3, n)
        ]
        assert [(line.number, line.text) for line in hit.after] == [
            (k, LINES[k - 1]) for k in range(n + 1, n + 4)
        ]
    assert result.summary.complete and result.summary.hits == len(result.hits)
    assert result.summary.entries_binary == 1  # core.bin: NUL in its first bytes


def test_context_at_the_ends_of_an_entry(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "t.tar", [tar_file("a", b"hit first\nb\nc\nhit last")])

    hits = search_archive(opener(path), SearchQuery("hit", context=2)).hits

    assert [
        (h.line.number, [c.number for c in h.before], [c.number for c in h.after]) for h in hits
    ] == [
        (1, [], [2, 3]),
        (4, [2, 3], []),
    ]


def test_fixed_strings_and_case(bundle: Path) -> None:
    exact = search_archive(opener(bundle), SearchQuery("needle", fixed=True)).hits
    any_case = search_archive(
        opener(bundle), SearchQuery("needle", fixed=True, ignore_case=True, max_hits=10_000)
    ).hits
    query = SearchQuery("app[1", fixed=True, context=0, max_hits=100_000)
    literal = search_archive(opener(bundle), query).hits

    assert [(hit.path, hit.line.text) for hit in exact] == [("etc/app.conf", "needle = lower case")]
    assert {hit.path for hit in any_case} == {"var/log/app.log", "var/log/win.log", "etc/app.conf"}
    assert literal[0].line.text == LINES[0]
    assert len(literal) == sum("app[1" in line for line in LINES)


def test_utf16_entries_are_searched_as_text(bundle: Path) -> None:
    hits = search_archive(opener(bundle), SearchQuery("Needle in", paths="*/win.log")).hits

    assert [(hit.line.number, hit.line.text) for hit in hits] == [(2, "Needle in UTF-16")]


def test_path_filter(bundle: Path) -> None:
    result = search_archive(opener(bundle), SearchQuery("(?i)needle", paths="etc/*"))

    assert [hit.path for hit in result.hits] == ["etc/app.conf"]
    assert result.summary.entries_searched == 1


def test_max_hits_stops_and_says_so(bundle: Path) -> None:
    result = search_archive(opener(bundle), SearchQuery("routine", max_hits=5))

    assert len(result.hits) == 5 and [hit.line.number for hit in result.hits] == [1, 2, 3, 4, 5]
    assert result.summary.stopped == "stopped at 5 matches" and not result.summary.complete


def test_byte_budget_stops_and_says_how_far_it_got(bundle: Path) -> None:
    result = search_archive(opener(bundle), SearchQuery("NEEDLE"), Caps(max_total_bytes=2 << 20))

    summary = result.summary
    assert summary.stopped is not None and not summary.complete
    assert summary.stopped.startswith(
        "could not search fully: more than 2.0 MiB would have to be decompressed; searched 1 "
        "entries ("
    )
    assert summary.stopped.endswith("the last one being 'var/log/app.log'")
    assert 0 < len(result.hits) < 120  # what was found before the budget ran out is kept


@pytest.mark.timeout(30)
def test_catastrophic_patterns_run_in_linear_time(tmp_path: Path) -> None:
    """``(a+)+$`` takes Python's ``re`` exponential time on "aaa…b"; RE2 takes microseconds."""
    evil = b"a" * 50_000 + b"b\n"
    path = write_tar(tmp_path / "t.tar", [tar_file("a.log", evil * 20 + b"aaa\n")])

    hits = search_archive(opener(path), SearchQuery(r"^(a+)+$", context=0)).hits

    assert [hit.line.number for hit in hits] == [21]


def test_a_match_inside_a_line_of_megabytes(tmp_path: Path) -> None:
    line = b"x" * 3_000_000 + b" ERROR here " + b"y" * 100
    path = write_tar(tmp_path / "t.tar", [tar_file("one.json", b"before\n" + line + b"\nafter\n")])

    hits = search_archive(opener(path), SearchQuery("ERROR here", context=1)).hits

    assert len(hits) == 1 and hits[0].line.number == 2
    assert hits[0].line.text.endswith("…[cut at 2,000 characters]")


def test_zip_entries_are_searched(tmp_path: Path) -> None:
    path = tmp_path / "w.zip"
    path.write_bytes(zip_bytes({"a/1.log": b"one\ntwo ERROR\n", "a/2.log": b"ERROR again\n"}))

    hits = search_archive(opener(path), SearchQuery("ERROR")).hits

    assert [(h.path, h.line.number) for h in hits] == [("a/1.log", 2), ("a/2.log", 1)]


def test_iter_search_yields_hits_then_one_summary(bundle: Path) -> None:
    items = list(iter_search(opener(bundle), SearchQuery("NEEDLE found", max_hits=3)))

    assert [type(item) for item in items] == [Hit, Hit, Hit, SearchSummary]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "invalid escape sequence.*no backreferences or look-around"),
        (r"foo(?=bar)", "no backreferences or look-around"),
        ("(unclosed", "missing \\)"),
        ("", "empty"),
        ("a" * 1001, "longer than 1000"),
    ],
)
def test_unusable_patterns_are_refused_before_reading(pattern: str, why: str) -> None:
    def never_opened() -> None:
        raise AssertionError("the archive was opened")

    with pytest.raises(PatternError, match=why):
        search_archive(never_opened, SearchQuery(pattern))  # type: ignore[arg-type]


def test_not_an_archive_searches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("NEEDLE\n")

    result = search_archive(opener(path), SearchQuery("NEEDLE"))

    assert result.hits == [] and result.summary.entries_searched == 0


def test_rotated_compressed_logs_are_searched_inside(tmp_path: Path) -> None:
    rotated = gzip.compress(b"old line\nNEEDLE in syslog.2.gz\n")
    damaged = bytearray(gzip.compress(b"no match here\n" * 5000))
    damaged[40:80] = bytes(40)
    members = [
        tar_file("var/log/syslog.2.gz", rotated),
        tar_file("var/log/syslog.3.gz", bytes(damaged)),
        tar_file("var/log/kern.log.1.xz", lzma.compress(b"NEEDLE in xz\n")),
        tar_file("var/log/syslog", b"NEEDLE now\n"),
    ]
    path = write_tar(tmp_path / "rotated.tgz", members, "w:gz")

    result = search_archive(opener(path), SearchQuery("NEEDLE"))

    assert [(h.path, h.line.number, h.line.text) for h in result.hits] == [
        ("var/log/syslog.2.gz", 2, "NEEDLE in syslog.2.gz"),
        ("var/log/kern.log.1.xz", 1, "NEEDLE in xz"),
        ("var/log/syslog", 1, "NEEDLE now"),
    ]
    assert result.summary.complete and result.summary.entries_unreadable == 1
