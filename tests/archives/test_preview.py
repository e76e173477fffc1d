"""Previews and pages of text entries, single-entry reads, and what cannot be read."""

import codecs
import gzip
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.archives.build import opener, tar_file, write_tar, zip_bytes
from tuslog.archives import (
    Caps,
    EntryReader,
    EntryUnavailable,
    preview_entry,
    read_page,
)

LINES = [f"2025-11-01T12:00:00Z host app[7]: request {n} done" for n in range(1, 20_001)]
LOG = ("\n".join(LINES) + "\n").encode()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    members = [
        tar_file("logs", type=tarfile.DIRTYPE),
        tar_file("logs/app.log", LOG),
        tar_file("logs/core", b"\x7fELF\0\0\0" + bytes(range(256)) * 10),
        tar_file("logs/short.txt", b"one\ntwo\nthree"),
        tar_file(
            "logs/windows.log",
            codecs.BOM_UTF16_LE + "Ereignis 1\r\nÄnderung\r\n".encode("utf-16-le"),
        ),
        tar_file("logs/evil.txt", "ok\x1b[2J\u202eevil\\path\tx\n".encode() + b"bad \xff byte\n"),
        tar_file("logs/current", type=tarfile.SYMTYPE, linkname="app.log"),
        tar_file("logs/empty.log"),
    ]
    return write_tar(tmp_path / "bundle.tgz", members, "w:gz")


def test_head_and_tail_have_the_right_line_numbers(bundle: Path) -> None:
    preview = preview_entry(opener(bundle), 1, head_bytes=4096, tail_bytes=4096)

    assert preview.path == "logs/app.log" and preview.encoding == "utf-8"
    assert preview.head[0].number == 1 and preview.head[0].text == LINES[0]
    assert all(line.text == LINES[line.number - 1] for line in preview.head + preview.tail)
    assert preview.tail[-1].number == 20_000 == preview.total_lines
    assert preview.head[-1].number < 100 < preview.tail[0].number
    assert preview.bytes_read == len(LOG) and preview.problem is None


def test_small_entries_come_whole_in_the_head(bundle: Path) -> None:
    preview = preview_entry(opener(bundle), 3)

    assert [(line.number, line.text) for line in preview.head] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]
    assert preview.tail == [] and preview.total_lines == 3
    assert preview_entry(opener(bundle), 7).total_lines == 0


def test_binary_entries_show_nothing(bundle: Path) -> None:
    preview = preview_entry(opener(bundle), 2)

    assert preview.binary and preview.head == [] and preview.tail == []


def test_utf16_logs_from_windows_are_readable(bundle: Path) -> None:
    preview = preview_entry(opener(bundle), 4)

    assert preview.encoding == "utf-16-le"
    assert [line.text for line in preview.head] == ["Ereignis 1", "Änderung"]


def test_control_and_bidi_characters_in_lines_are_escaped(bundle: Path) -> None:
    preview = preview_entry(opener(bundle), 5)

    assert [line.text for line in preview.head] == [
        "ok\\x1b[2J\\u202eevil\\path\tx",
        "bad \\xff byte",
    ]


@pytest.mark.parametrize(("first", "expected"), [(1, [1, 2, 3]), (19_999, [19_999, 20_000])])
def test_pages(bundle: Path, first: int, expected: list[int]) -> None:
    page = read_page(opener(bundle), 1, first_line=first, max_lines=3)

    assert [line.number for line in page.lines] == expected
    assert all(line.text == LINES[line.number - 1] for line in page.lines)
    assert page.next_line == (4 if first == 1 else None)


def test_page_stops_at_its_byte_limit(bundle: Path) -> None:
    page = read_page(opener(bundle), 1, first_line=10, max_lines=500, max_bytes=1000)

    assert page.lines[0].number == 10 and 15 < len(page.lines) < 30
    assert page.next_line == page.lines[-1].number + 1


def test_very_long_lines_are_cut(tmp_path: Path) -> None:
    path = write_tar(
        tmp_path / "long.tar", [tar_file("one-line.json", b"{" + b"x" * 3_000_000 + b"}")]
    )

    preview = preview_entry(opener(path), 0)
    page = read_page(opener(path), 0)

    assert preview.head[0].text.endswith("…[cut at 2,000 characters]")
    assert len(preview.head[0].text) < 2100 and preview.total_lines == 1
    assert page.lines[0].text == preview.head[0].text


def test_read_streams_a_whole_entry(bundle: Path) -> None:
    with EntryReader(opener(bundle), 1) as reader:
        assert reader.path == "logs/app.log" and reader.size == len(LOG)
        assert b"".join(reader.chunks()) == LOG


def test_read_a_single_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "syslog.1.gz"
    path.write_bytes(gzip.compress(LOG))

    with EntryReader(opener(path), 0, filename="syslog.1.gz") as reader:
        assert reader.path == "syslog.1" and reader.size is None
        assert b"".join(reader.chunks()) == LOG


@pytest.mark.parametrize(
    ("index", "why"),
    [
        (0, "a dir, not a file"),
        (6, "symbolic link; links are not followed"),
        (99, "no entry number 99"),
        (-1, "no entry"),
    ],
)
def test_entries_without_data_to_show(bundle: Path, index: int, why: str) -> None:
    with pytest.raises(EntryUnavailable, match=why):
        preview_entry(opener(bundle), index)


def test_not_an_archive_has_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")

    with pytest.raises(EntryUnavailable, match="not an archive"):
        EntryReader(opener(path), 0)


def test_encrypted_and_unsupported_zip_entries(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"secret.txt": b"s" * 100, "big.bin": b"b" * 100}))
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 1)
    data[first + 8] |= 1  # the "encrypted" flag
    data[second + 10 : second + 12] = (9).to_bytes(2, "little")  # Deflate64
    path = tmp_path / "w.zip"
    path.write_bytes(bytes(data))

    with pytest.raises(EntryUnavailable, match="encrypted"):
        EntryReader(opener(path), 0)
    with pytest.raises(EntryUnavailable, match="Deflate64, which is not supported"):
        EntryReader(opener(path), 1)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_methods(tmp_path: Path, method: int) -> None:
    path = tmp_path / "m.zip"
    path.write_bytes(zip_bytes({"a.log": LOG}, method))

    with EntryReader(opener(path), 0) as reader:
        assert b"".join(reader.chunks()) == LOG


def test_damage_inside_an_entry_is_reported_with_what_was_read(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"a.log": LOG}, zipfile.ZIP_STORED))
    data[len(LOG) // 2] ^= 0xFF  # a flipped byte: the CRC-32 no longer matches
    path = tmp_path / "flip.zip"
    path.write_bytes(bytes(data))

    preview = preview_entry(opener(path), 0, Caps())

    assert preview.problem is not None and "CRC-32 mismatch" in preview.problem
    assert preview.head[0].text == LINES[0] and preview.total_lines is None


def test_a_very_long_last_line_shows_its_end(tmp_path: Path) -> None:
    data = b"first\n" + b"y" * 100_000 + b"\nlast " + b"z" * 50_000
    path = write_tar(tmp_path / "t.tar", [tar_file("t.log", data)])

    preview = preview_entry(opener(path), 0, head_bytes=1024, tail_bytes=1024)

    assert [(line.number, line.text) for line in preview.head] == [(1, "first")]
    assert [line.number for line in preview.tail] == [3]
    assert preview.tail[0].text == "…" + "z" * 1024
    assert preview.total_lines == 3


def test_a_preview_stopped_early_shows_no_tail(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "t.tgz", [tar_file("app.log", LOG * 20)], "w:gz")

    preview = preview_entry(opener(path), 0, Caps(max_total_bytes=2 << 20), head_bytes=1024)

    assert preview.problem == (
        "could not read fully: more than 2.0 MiB would have to be decompressed"
    )
    assert [line.text for line in preview.head] == LINES[: len(preview.head)]
    assert preview.tail == [] and preview.total_lines is None


def test_compressed_entries_are_previewed_decompressed(tmp_path: Path) -> None:
    damaged = bytearray(gzip.compress(LOG))
    damaged[len(damaged) // 2 : len(damaged) // 2 + 50] = bytes(50)
    members = [tar_file("app.log.1.gz", gzip.compress(LOG)), tar_file("app.log.2.gz", damaged)]
    path = write_tar(tmp_path / "rotated.tar", members)

    preview = preview_entry(opener(path), 0, head_bytes=1024, tail_bytes=1024)
    broken = preview_entry(opener(path), 1, head_bytes=1024)

    assert (preview.compression, preview.encoding, preview.total_lines) == ("gzip", "utf-8", 20_000)
    assert preview.head[0].text == LINES[0] and preview.tail[-1].text == LINES[-1]
    assert broken.problem is not None
    assert broken.problem.startswith("could not read fully: its gzip content is damaged")
    assert broken.head[0].text == LINES[0]
