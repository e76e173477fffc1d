"""Hostile names, links, time and cancellation: inert, never followed, always bounded."""

import io
import random
import tarfile
import threading
import zipfile
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.archives.build import (
    END,
    opener,
    padded,
    raw_header,
    tar_file,
    write_tar,
    zip_bytes,
)
from tuslog.archives import (
    Cancelled,
    Caps,
    EntryReader,
    EntryType,
    EntryUnavailable,
    SearchQuery,
    build_manifest,
    preview_entry,
    search_archive,
)

TEXT = b"".join(b"Nov  1 12:00:00 host kernel: message %d\n" % n for n in range(2000))


def read_all(path: Path, index: int, caps: Caps | None = None) -> bytes:
    with EntryReader(opener(path), index, caps) as reader:
        return b"".join(reader.chunks())


# --- links and names ----------------------------------------------------------------------


def test_symlink_loops_are_listed_and_never_followed(tmp_path: Path) -> None:
    members = [
        tar_file("a", type=tarfile.SYMTYPE, linkname="b"),
        tar_file("b", type=tarfile.SYMTYPE, linkname="a"),
        tar_file("self", type=tarfile.SYMTYPE, linkname="."),
        tar_file("up", type=tarfile.SYMTYPE, linkname="../../../../etc/passwd"),
        tar_file("h", type=tarfile.LNKTYPE, linkname="h"),
    ]
    path = write_tar(tmp_path / "loops.tgz", members, "w:gz")

    manifest = build_manifest(opener(path))

    assert manifest.complete
    assert [(e.type, e.link) for e in manifest.entries][:4] == [
        (EntryType.SYMLINK, "b"),
        (EntryType.SYMLINK, "a"),
        (EntryType.SYMLINK, "."),
        (EntryType.SYMLINK, "../../../../etc/passwd"),
    ]
    for index in range(5):
        with pytest.raises(EntryUnavailable, match="link"):
            read_all(path, index)
    assert search_archive(opener(path), SearchQuery("root")).summary.entries_searched == 0


def test_absurdly_long_names_are_cut_and_marked(tmp_path: Path) -> None:
    long_name = "d/" + "x" * 100_000
    path = write_tar(tmp_path / "long.tar", [tar_file(long_name, b"data")])

    manifest = build_manifest(opener(path))

    entry = manifest.entries[0]
    assert manifest.complete and "c" in entry.flags and manifest.counts.names_cut == 1
    assert entry.path == "d/" + "x" * 4094 + "…[95906 more characters]"
    assert read_all(path, 0) == b"data"


@pytest.mark.parametrize("kind", [b"L", b"x"])
def test_extended_header_claiming_gigabytes_is_refused(tmp_path: Path, kind: bytes) -> None:
    data = raw_header(b"ok.txt", 3) + padded(b"abc")
    data += raw_header(b"././@LongLink", 2**31, kind) + b"a" * 4096
    path = tmp_path / "huge-name.tar"
    path.write_bytes(data)

    manifest = build_manifest(opener(path))

    assert manifest.problem == (
        "could not read fully: an extended header (long name or pax) of 2.0 GiB exceeds the "
        "limit of 1.0 MiB"
    )
    assert [entry.path for entry in manifest.entries] == ["ok.txt"]


def test_hostile_names_come_out_inert_and_visible(tmp_path: Path) -> None:
    names = [
        b"bad\xff\xfe.log",  # invalid UTF-8
        b"esc\x1b[31mred\x07",  # a terminal escape and a bell
        "invoice\u202egnp.exe".encode(),  # right-to-left override
        "iso\u2066late\u2069d".encode(),
        b"../../etc/passwd",
        b"/etc/shadow",
        b"back\\slash",
    ]
    data = b"".join(raw_header(name, 1) + padded(b"z") for name in names)
    pax = b"%d path=nul\0byte\n" % (len("path=nul\0byte\n") + 3)
    data += raw_header(b"PaxHeader", len(pax), b"x") + padded(pax) + raw_header(b"ignored", 0)
    path = tmp_path / "names.tar"
    path.write_bytes(data + END)

    manifest = build_manifest(opener(path))

    shown = [(entry.path, entry.flags) for entry in manifest.entries]
    assert shown == [
        ("bad\\xff\\xfe.log", "e"),
        ("esc\\x1b[31mred\\x07", "e"),
        ("invoice\\u202egnp.exe", "e"),
        ("iso\\u2066late\\u2069d", "e"),
        ("../../etc/passwd", "u"),
        ("/etc/shadow", "u"),
        ("back\\\\slash", "e"),
        ("nul\\x00byte", "e"),
    ]
    for entry in manifest.entries:
        assert entry.path.isprintable()
    assert (manifest.counts.names_escaped, manifest.counts.names_unsafe) == (6, 2)


def test_hostile_zip_names(tmp_path: Path) -> None:
    path = tmp_path / "names.zip"
    path.write_bytes(zip_bytes({"a\u202eb.txt": b"1", "../x": b"2", "C:\\Windows\\x": b"3"}))

    manifest = build_manifest(opener(path))

    assert [(e.path, e.flags) for e in manifest.entries] == [
        ("a\\u202eb.txt", "e"),
        ("../x", "u"),
        ("C:\\\\Windows\\\\x", "eu"),
    ]


# --- time and cancellation ----------------------------------------------------------------


class _CancelOnRead(io.FileIO):
    """A file that sets the job's cancel event on its third read (a user pressing Cancel)."""

    def __init__(self, path: Path, event: threading.Event) -> None:
        super().__init__(path, "rb")
        self.event, self.reads = event, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 3:
            self.event.set()
        return super().read(size)


def test_cancel_event_stops_the_job(tmp_path: Path) -> None:
    members = [tar_file(f"f{n}", random.Random(n).randbytes(300_000)) for n in range(20)]
    path = write_tar(tmp_path / "a.tgz", members, "w:gz")
    event = threading.Event()

    def cancelling_opener() -> BinaryIO:
        return _CancelOnRead(path, event)  # type: ignore[return-value]

    with pytest.raises(Cancelled):
        build_manifest(cancelling_opener, Caps(), event)
    with pytest.raises(Cancelled):
        search_archive(opener(path), SearchQuery("x"), Caps(), event)


def test_time_budget_gives_a_partial_result(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tgz", [tar_file("a.log", TEXT)], "w:gz")

    manifest = build_manifest(opener(path), Caps(time_budget=0))
    preview = preview_entry(opener(path), 0, Caps(time_budget=10))

    assert manifest.problem == "could not read fully: the time budget of 0 s ran out"
    assert preview.problem is None and preview.total_lines == 2000


def test_zip_with_prepended_bytes_still_lists(tmp_path: Path) -> None:
    """Self-extracting archives: a stub before the zip shifts every offset."""
    path = tmp_path / "sfx.zip"
    path.write_bytes(b"PK\x03\x04" + zip_bytes({"a.log": TEXT}))
    with zipfile.ZipFile(path) as check:
        assert check.read("a.log") == TEXT

    assert read_all(path, 0) == TEXT
