"""Hostile archives are normal input: uploaded and listed like any other, each ends with a
stored, browsable partial manifest whose problem says "could not read fully: why" (caps
come from the TUSLOG_ARCHIVE_* settings), never an exception or a hang."""

import functools
import io
import lzma
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.archives.build import MTIME, overlapping_zip, tar_bytes, tar_file
from tests.conftest import make_settings
from tests.inspection.support import SYSLOG, running, settled, tar_gz, upload
from tuslog import errors
from tuslog.uploads.archive_reading import ArchiveReading


@functools.cache
def _ratio_bomb() -> bytes:
    """Past the first 64 MiB (where the ratio starts to count) zeros expand ~1000:1."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for info, data in (tar_file("first.log", SYSLOG), tar_file("zeros", b"\0" * (80 << 20))):
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _many(count: int) -> bytes:
    return tar_gz({f"logs/f{n}.log": b"x\n" for n in range(count)})


def _truncated() -> bytes:
    data = tar_gz({"a.log": SYSLOG, "b.log": SYSLOG[::-1], "c.log": SYSLOG})
    return data[: len(data) * 2 // 3]


def _damaged() -> bytes:
    data = bytearray(tar_gz({"a.log": SYSLOG, "b.log": SYSLOG[::-1], "c.log": SYSLOG}))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    return bytes(data)


def _greedy_xz() -> bytes:
    """An xz stream that asks for an 8 MiB dictionary."""
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 8 << 20}]
    return lzma.compress(tar_bytes([tar_file("a.log", SYSLOG)]), lzma.FORMAT_XZ, filters=filters)


CASES: dict[str, tuple[Callable[[], bytes], dict[str, Any], str, int]] = {
    # name: (archive, settings, what the problem says, entries listed)
    "ratio bomb": (_ratio_bomb, {}, "the data expands more than 200:1", 2),
    "bytes cap": (_ratio_bomb, {"archive_max_bytes": "8M"}, "more than 8.0 MiB would", 2),
    "zip bomb": (
        lambda: overlapping_zip(b"\0" * (1 << 20), 100),
        {},
        "overlap",
        100,
    ),
    "a million entries (here: 250)": (
        lambda: _many(250),
        {"archive_max_entries": 100},
        "more than 100 entries; the first 100 are listed, 250 counted",
        100,
    ),
    "truncated": (_truncated, {}, "truncated", 2),
    "damaged": (_damaged, {}, "corrupt", 1),
    "decoder memory": (_greedy_xz, {"archive_max_decoder_memory": "1M"}, "memory", 0),
    "time budget": (lambda: _many(2000), {"archive_time_budget": 0.000001}, "time budget", 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_hostile_archive_ends_with_its_problem_and_a_partial_manifest(
    database_url: str, tmp_path: Path, case: str
) -> None:
    build, overrides, why, listed = CASES[case]
    settings = make_settings(database_url, tmp_path, **overrides)
    async with running(settings) as engine:
        done = await upload(engine, build(), filename="bundle.tar.gz")
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        status = await reading.status(done.id)
        listing = await reading.listing(done.id, limit=1000) if status.ready else None
    assert (status.state, status.complete) == ("done", False), status
    assert status.problem is not None and status.problem.startswith("could not read fully: ")
    assert why in status.problem
    assert status.counts["listed"] >= listed
    assert listing is not None  # the partial list can be browsed
    if listed:
        assert listing.total > 0


async def test_links_are_listed_and_never_followed(settings: Any) -> None:
    """A symlink loop, a link out of the archive and a hard link: listed with targets,
    the manifest is complete (nothing is followed), and opening a link says why not."""
    members = [
        tar_file("loop/a", type=tarfile.SYMTYPE, linkname="b"),
        tar_file("loop/b", type=tarfile.SYMTYPE, linkname="a"),
        tar_file("loop/up", type=tarfile.SYMTYPE, linkname="../../../etc/passwd"),
        tar_file("real.log", b"real\n"),
        tar_file("hard.log", type=tarfile.LNKTYPE, linkname="real.log"),
    ]
    async with running(settings) as engine:
        done = await upload(engine, tar_bytes(members), filename="links.tar")
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        status, manifest = await reading.manifest(done.id)
        refusals = []
        for index in (0, 2, 4):
            with pytest.raises(errors.TuslogError) as refused:
                await reading.preview(done.id, index, actor="t")
            refusals.append((refused.value.code, refused.value.message))
    assert (status.state, status.complete, status.problem) == ("done", True, None)
    assert [(e.path, e.type.value, e.link) for e in manifest.entries] == [
        ("loop/a", "symlink", "b"),
        ("loop/b", "symlink", "a"),
        ("loop/up", "symlink", "../../../etc/passwd"),
        ("real.log", "file", None),
        ("hard.log", "hardlink", "real.log"),
    ]
    assert [code for code, _ in refusals] == [errors.ARCHIVE_ENTRY_UNAVAILABLE.code] * 3
    assert "links are not followed" in refusals[0][1]
    assert "open the entry it links to" in refusals[2][1]
    assert all(entry.mtime == MTIME for entry in manifest.entries)
