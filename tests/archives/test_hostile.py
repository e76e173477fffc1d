"""Hostile archives are normal input: each ends in a partial manifest that says why, never
a hang, unbounded memory or an unexpected exception."""

import gzip
import io
import lzma
import random
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from tests.archives.build import (
    END,
    opener,
    overlapping_zip,
    quoted_overlap_zip,
    raw_header,
    tar_bytes,
    tar_file,
    write_tar,
    zip_bytes,
)
from tuslog.archives import (
    Caps,
    DamagedArchive,
    EntryReader,
    EntryType,
    EntryUnavailable,
    LimitReached,
    SearchQuery,
    build_manifest,
    search_archive,
)

TEXT = b"".join(b"Nov  1 12:00:00 host kernel: message %d\n" % n for n in range(2000))


def read_all(path: Path, index: int, caps: Caps | None = None) -> bytes:
    with EntryReader(opener(path), index, caps) as reader:
        return b"".join(reader.chunks())


# --- decompression bombs ---------------------------------------------------------------


def test_zip_entry_that_inflates_too_far_stops_on_the_ratio(
    tmp_path: Path, small_caps: Caps
) -> None:
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bytes({"readme.txt": TEXT, "zeros.log": b"\0" * (40 << 20)}))

    manifest = build_manifest(opener(path), small_caps)  # listing reads no entry data
    assert manifest.complete and manifest.entries[1].size == 40 << 20

    with pytest.raises(LimitReached, match=r"expands more than 50:1 .* decompression bomb"):
        read_all(path, 1, small_caps)
    assert read_all(path, 0, small_caps) == TEXT  # the honest entry still reads
    result = search_archive(opener(path), SearchQuery("message 1999"), small_caps)
    assert [hit.path for hit in result.hits] == ["readme.txt"]
    assert result.summary.stopped is None  # the NUL-filled entry is binary: never inflated


def test_tar_gz_bomb_gives_a_partial_manifest(tmp_path: Path, small_caps: Caps) -> None:
    members = [tar_file("first.log", TEXT), tar_file("zeros", b"\0" * (40 << 20))]
    members.append(tar_file("after.log", TEXT))
    path = write_tar(tmp_path / "bomb.tgz", members, mode="w:gz")

    manifest = build_manifest(opener(path), small_caps)

    assert not manifest.complete
    assert manifest.problem is not None
    assert manifest.problem.startswith("could not read fully: the data expands more than 50:1")
    assert [entry.path for entry in manifest.entries] == ["first.log", "zeros"]


def test_total_decompressed_bytes_are_capped(tmp_path: Path) -> None:
    members = [tar_file(f"f{n}.log", TEXT * 10) for n in range(10)]
    path = write_tar(tmp_path / "big.tgz", members, mode="w:gz")

    manifest = build_manifest(opener(path), Caps(max_total_bytes=2 << 20))

    assert manifest.problem == (
        "could not read fully: more than 2.0 MiB would have to be decompressed"
    )
    assert 0 < len(manifest.entries) < 10


@pytest.mark.parametrize(
    "build", [lambda: overlapping_zip(b"\0" * (1 << 20), 100), quoted_overlap_zip]
)
def test_overlapping_zip_entries_are_listed_but_never_inflated(
    tmp_path: Path, build: object
) -> None:
    path = tmp_path / "overlap.zip"
    path.write_bytes(build())  # type: ignore[operator]

    manifest = build_manifest(opener(path))

    assert manifest.problem is not None and "overlap" in manifest.problem
    assert manifest.entries and all("x" in entry.flags for entry in manifest.entries)
    with pytest.raises(EntryUnavailable, match="zip bombs"):
        read_all(path, 0)
    summary = search_archive(opener(path), SearchQuery("x")).summary
    assert summary.bytes_searched == 0 and "overlap" in (summary.stopped or "")


def test_zip_entry_larger_than_declared_is_refused(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"a.log": TEXT}))
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")  # claims 100 bytes
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))

    with pytest.raises(DamagedArchive, match="beyond the size its header declares"):
        read_all(path, 0)


def test_xz_asking_for_too_much_decoder_memory_stops(tmp_path: Path) -> None:
    path = tmp_path / "big-dict.tar.xz"
    path.write_bytes(lzma.compress(tar_bytes([tar_file("a", TEXT)]), preset=9))

    manifest = build_manifest(opener(path), Caps(max_decoder_memory=16 << 20))

    assert manifest.problem == (
        "could not read fully: the xz data needs more than 16.0 MiB of memory to decode"
    )


# --- sheer size ---------------------------------------------------------------------------


def test_entries_past_the_cap_are_counted_not_listed(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "many.tar.gz", [tar_file(f"f{n}") for n in range(5000)], "w:gz")

    manifest = build_manifest(opener(path), Caps(max_entries=1000))

    assert len(manifest.entries) == manifest.counts.listed == 1000
    assert manifest.counts.entries == 5000
    assert manifest.problem == (
        "could not read fully: the archive has more than 1,000 entries; the first 1,000 are "
        "listed, 5,000 counted"
    )


def _peak_memory(path: Path, caps: Caps) -> int:
    tracemalloc.start()
    try:
        build_manifest(opener(path), caps)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _headers(path: Path, count: int) -> Path:
    path.write_bytes(raw_header(b"x") * count + END)
    return path


def test_memory_does_not_grow_with_the_number_of_entries(tmp_path: Path) -> None:
    small_file = _headers(tmp_path / "small.tar", 1_000)
    large_file = _headers(tmp_path / "large.tar", 10_000)
    capped = Caps(max_entries=100)

    small = _peak_memory(small_file, capped)
    large = _peak_memory(large_file, capped)
    listing_all = _peak_memory(large_file, Caps(max_entries=100_000))

    # Keeping the 9,000 extra entries costs over a megabyte (as listing them all shows);
    # past the cap nothing is kept per entry. (A plain tar: no decompression buffers.)
    assert listing_all > small + 1024 * 1024
    assert large < small + 16 * 1024


@pytest.mark.slow
def test_a_million_entries(tmp_path: Path) -> None:
    path = tmp_path / "million.tar.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        for thousand in range(1000):
            out.write(raw_header(b"d/%07d" % (thousand * 1000)) + raw_header(b"x") * 999)
        out.write(END)

    manifest = build_manifest(opener(path))

    assert manifest.counts.entries == 1_000_000
    assert len(manifest.entries) == 100_000 and manifest.entries[1000].path == "d/0001000"
    assert manifest.problem is not None and "first 100,000 are listed" in manifest.problem


# --- damage -------------------------------------------------------------------------------


def test_truncated_tar_gz_lists_what_came_before(tmp_path: Path) -> None:
    members = [tar_file(f"log{n}.txt", random.Random(n).randbytes(50_000)) for n in range(10)]
    whole = gzip.compress(tar_bytes(members))
    path = tmp_path / "cut.tgz"
    path.write_bytes(whole[: len(whole) // 2])

    manifest = build_manifest(opener(path))

    assert manifest.problem == (
        "could not read fully: the gzip data ends early (the file is truncated)"
    )
    assert 3 <= len(manifest.entries) < 10


@pytest.mark.parametrize(
    ("cut", "why"), [(1536 + 100, "inside a header"), (1536 + 512 + 200, "inside the data")]
)
def test_truncated_plain_tar(tmp_path: Path, cut: int, why: str) -> None:
    data = tar_bytes([tar_file("a", b"x" * 600), tar_file("b", b"y" * 600)], tarfile.USTAR_FORMAT)
    path = tmp_path / "cut.tar"
    path.write_bytes(data[:cut])

    manifest = build_manifest(opener(path))

    assert manifest.problem is not None and why in manifest.problem
    assert manifest.entries[0].path == "a"


class _Unseekable(io.RawIOBase):
    """An output zipfile cannot seek in: it writes sizes after the data (flag bit 3)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)


def _streamed_zip(files: dict[str, bytes]) -> bytes:
    out = _Unseekable()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return bytes(out.data)


@pytest.mark.parametrize("streamed", [False, True])
def test_truncated_zip_is_listed_from_its_local_headers(tmp_path: Path, streamed: bool) -> None:
    files = {"a.log": TEXT, "dir/": b"", "b.log": TEXT[:5000], "c.log": TEXT}
    data = _streamed_zip(files) if streamed else zip_bytes(files)
    # Streamed: cut inside c.log's data. Otherwise: just before the central directory.
    cut = data.find(b"c.log") + 200 if streamed else data.find(b"PK\x01\x02")
    path = tmp_path / "cut.zip"
    path.write_bytes(data[:cut])

    manifest = build_manifest(opener(path))

    assert manifest.format == "zip"
    assert manifest.problem == (
        "could not read fully: the zip has no end-of-central-directory record "
        "(the file is truncated)"
    )
    listed = [(entry.path, entry.type, entry.size) for entry in manifest.entries]
    assert listed[:3] == [
        ("a.log", EntryType.FILE, len(TEXT)),
        ("dir", EntryType.DIR, 0),
        ("b.log", EntryType.FILE, 5000),
    ]
    assert read_all(path, 2) == TEXT[:5000]
    if streamed:
        assert listed[3][0] == "c.log" and "x" in manifest.entries[3].flags
        with pytest.raises(EntryUnavailable, match="cut off by the end of the file"):
            read_all(path, 3)


def test_zip_that_is_only_a_start_says_so(tmp_path: Path) -> None:
    path = tmp_path / "start.zip"
    path.write_bytes(zip_bytes({"a.log": TEXT})[:10])

    manifest = build_manifest(opener(path))

    assert manifest.entries == [] and manifest.problem is not None
    assert "no end-of-central-directory record" in manifest.problem


def test_corrupt_gzip_and_bad_tar_header(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(tar_bytes([tar_file(f"f{n}", TEXT) for n in range(5)])))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.tgz"
    corrupt.write_bytes(bytes(data))
    plain = bytearray(tar_bytes([tar_file("a", b"1"), tar_file("b", b"2")], tarfile.USTAR_FORMAT))
    plain[1024 + 148] ^= 0x01  # the second header's checksum no longer matches
    bad_header = tmp_path / "bad.tar"
    bad_header.write_bytes(bytes(plain))

    first = build_manifest(opener(corrupt))
    second = build_manifest(opener(bad_header))

    assert first.problem is not None and "gzip data is corrupt" in first.problem
    assert second.problem == (
        "could not read fully: no valid tar header at byte 1024 (bad checksum)"
    )
    assert [entry.path for entry in second.entries] == ["a"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip", "tar"])
def test_random_damage_never_raises(tmp_path: Path, kind: str) -> None:
    members = [tar_file(f"dir/file{n}.log", TEXT[: 3000 * n]) for n in range(6)]
    members.append(tar_file("dir/link", type=tarfile.SYMTYPE, linkname="file1.log"))
    if kind == "zip":
        pristine = zip_bytes({info.name: data for info, data in members})
    else:
        pristine = tar_bytes(members)
        pristine = gzip.compress(pristine) if kind == "tar.gz" else pristine
    rng = random.Random(1234)
    path = tmp_path / "damaged"
    problems = 0
    for _ in range(150):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.randint(len(data) // 2, len(data))]))
        manifest = build_manifest(opener(path))
        problems += manifest.problem is not None
        search_archive(opener(path), SearchQuery("message 1"))  # must not raise either
    assert problems > 100
