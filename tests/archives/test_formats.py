"""Every supported format is recognised by its bytes and listed in full."""

import bz2
import gzip
import json
import lzma
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.archives.build import MTIME, opener, tar_bytes, tar_file, write_tar, zip_bytes
from tuslog.archives import Caps, EntryType, Kind, Manifest, build_manifest, detect
from tuslog.archives.decoders import zstd  # the stdlib module from Python 3.14 on
from tuslog.archives.limits import Budget

LOG = b"".join(
    b"2025-11-01 12:00:%02d host1 sshd[42]: line %d\n" % (n % 60, n) for n in range(3000)
)


def sample_members() -> list[tuple[tarfile.TarInfo, bytes]]:
    return [
        tar_file("var", type=tarfile.DIRTYPE),
        tar_file("var/log", type=tarfile.DIRTYPE),
        tar_file("var/log/syslog", LOG),
        tar_file("var/log/empty.log"),
        tar_file("var/log/current", type=tarfile.SYMTYPE, linkname="syslog"),
        tar_file("var/log/again", type=tarfile.LNKTYPE, linkname="var/log/syslog"),
        tar_file("dev/null", type=tarfile.CHRTYPE),
    ]


def listing(manifest: Manifest) -> list[tuple[str, EntryType, int, str | None]]:
    return [(e.path, e.type, e.size, e.link) for e in manifest.entries]


EXPECTED = [
    ("var", EntryType.DIR, 0, None),
    ("var/log", EntryType.DIR, 0, None),
    ("var/log/syslog", EntryType.FILE, len(LOG), None),
    ("var/log/empty.log", EntryType.FILE, 0, None),
    ("var/log/current", EntryType.SYMLINK, 0, "syslog"),
    ("var/log/again", EntryType.HARDLINK, 0, "var/log/syslog"),
    ("dev/null", EntryType.OTHER, 0, None),
]

COMPRESSORS = {
    Kind.TAR: lambda data: data,
    Kind.TAR_GZ: gzip.compress,
    Kind.TAR_XZ: lzma.compress,
    Kind.TAR_BZ2: bz2.compress,
    Kind.TAR_ZST: zstd.compress,
}


@pytest.mark.parametrize("kind", list(COMPRESSORS))
@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_formats_are_listed_in_full(tmp_path: Path, kind: Kind, fmt: int) -> None:
    path = tmp_path / "bundle.bin"  # the name says nothing: detection reads bytes
    path.write_bytes(COMPRESSORS[kind](tar_bytes(sample_members(), fmt)))

    manifest = build_manifest(opener(path))

    assert manifest.format == kind.value
    assert manifest.complete and manifest.problem is None
    assert listing(manifest) == EXPECTED
    assert manifest.entries[2].mtime == MTIME
    counts = manifest.counts
    assert (counts.entries, counts.files, counts.dirs, counts.symlinks) == (7, 2, 2, 1)
    assert (counts.hardlinks, counts.other, counts.total_size) == (1, 1, len(LOG))
    assert manifest.bytes_read == path.stat().st_size or kind is Kind.TAR


def test_old_v7_tar_is_recognised_by_its_checksum(tmp_path: Path) -> None:
    info, data = tar_file("old.txt", b"v7 data\n")
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[257:265] = b"\0" * 8  # no ustar magic: a v7 header
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    path = tmp_path / "old"
    path.write_bytes(bytes(header) + data.ljust(512, b"\0") + b"\0" * 1024)

    manifest = build_manifest(opener(path))

    assert manifest.format == "tar"
    assert listing(manifest) == [("old.txt", EntryType.FILE, 8, None)]


def test_zip_is_listed_with_directories_and_times(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(zip_bytes({"logs/": b"", "logs/app.log": LOG, "logs/empty.txt": b""}))

    manifest = build_manifest(opener(path))

    assert manifest.format == "zip" and manifest.complete
    assert listing(manifest) == [
        ("logs", EntryType.DIR, 0, None),
        ("logs/app.log", EntryType.FILE, len(LOG), None),
        ("logs/empty.txt", EntryType.FILE, 0, None),
    ]
    assert manifest.entries[1].mtime == MTIME


def test_empty_zip_is_an_archive_with_no_entries(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w"):
        pass

    manifest = build_manifest(opener(path))

    assert (manifest.format, manifest.entries, manifest.complete) == ("zip", [], True)


@pytest.mark.parametrize(
    ("compress", "kind"),
    [(lzma.compress, "xz"), (bz2.compress, "bz2"), (zstd.compress, "zst")],
)
def test_single_compressed_file_is_one_entry_named_after_the_upload(
    tmp_path: Path, compress: object, kind: str
) -> None:
    path = tmp_path / "stored-name"
    path.write_bytes(compress(LOG))  # type: ignore[operator]

    manifest = build_manifest(opener(path), filename=f"messages.{kind}")

    assert manifest.format == kind
    assert listing(manifest) == [("messages", EntryType.FILE, len(LOG), None)]


def test_single_gzip_file_is_named_by_its_header(tmp_path: Path) -> None:
    path = tmp_path / "x"
    with path.open("wb") as raw, gzip.GzipFile("kern.log", "wb", fileobj=raw) as gz:
        gz.write(LOG)
    nameless = tmp_path / "y"
    nameless.write_bytes(gzip.compress(LOG))

    assert build_manifest(opener(path), filename="a.gz").entries[0].path == "kern.log"
    assert build_manifest(opener(nameless), filename="dmesg.gz").entries[0].path == "dmesg"


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    data = tar_bytes(sample_members())
    path = tmp_path / "pigz-like"
    path.write_bytes(gzip.compress(data[:1000]) + gzip.compress(data[1000:]))

    manifest = build_manifest(opener(path))

    assert manifest.complete and listing(manifest) == EXPECTED


@pytest.mark.parametrize(
    "content", [b"", b"plain text, not an archive\n" * 100, bytes(range(256)) * 4]
)
def test_anything_else_is_not_an_archive(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.tar.gz"  # a lying name changes nothing
    path.write_bytes(content)

    manifest = build_manifest(opener(path), filename="file.tar.gz")

    assert manifest.format is None and not manifest.is_archive
    assert detect(opener(path), Budget(Caps())).kind is None


def test_manifest_json_is_compact_and_round_trips(tmp_path: Path) -> None:
    members = [tar_file(f"var/log/app/service-{n:06d}.log", b"x" * n) for n in range(5_000)]
    members.append(tar_file("link", type=tarfile.SYMTYPE, linkname="target\u202e"))
    path = write_tar(tmp_path / "many.tar", members)

    manifest = build_manifest(opener(path))
    text = json.dumps(manifest.to_json(), separators=(",", ":"))
    again = Manifest.from_json(json.loads(text))

    assert again.entries == manifest.entries
    assert again.to_json() == manifest.to_json()
    paths = sum(len(entry.path) for entry in manifest.entries)
    assert len(text) - paths < 32 * len(manifest.entries)  # vs ~90 as one object per entry
    assert again.entries[-1].link == "target\\u202e"


TOOLS = {
    "tar -czf": ["tar", "-czf"],
    "tar -cJf": ["tar", "-cJf"],
    "tar --zstd -cf": ["tar", "--zstd", "-cf"],
    "zip -ry": ["zip", "-qry"],
}


@pytest.mark.parametrize("tool", list(TOOLS))
def test_archives_made_by_the_command_line_tools(tmp_path: Path, tool: str) -> None:
    command = TOOLS[tool]
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    source = tmp_path / "logs"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "app.log").write_bytes(LOG)
    (source / "latest").symlink_to("sub/app.log")
    target = tmp_path / "out.bin"
    subprocess.run([*command, str(target), "logs"], cwd=tmp_path, check=True)

    manifest = build_manifest(opener(target))

    found = {(e.path.rstrip("/"), e.type, e.size, e.link) for e in manifest.entries}
    assert manifest.complete
    assert ("logs/sub/app.log", EntryType.FILE, len(LOG), None) in found
    assert ("logs/latest", EntryType.SYMLINK, 0, "sub/app.log") in found


@pytest.mark.parametrize("tar_format", ["gnu", "posix"])
def test_sparse_files_from_gnu_tar(tmp_path: Path, tar_format: str) -> None:
    if shutil.which("tar") is None:
        pytest.skip("tar is not installed")
    source = tmp_path / "logs"
    source.mkdir()
    with (source / "lastlog").open("wb") as sparse:  # mostly a hole, like /var/log/lastlog
        sparse.seek(50_000_000)
        sparse.write(b"end")
    (source / "zz.log").write_bytes(LOG)
    target = tmp_path / "sparse.tar"
    command = ["tar", f"--format={tar_format}", "--sparse", "-cf", str(target)]
    subprocess.run([*command, "logs/lastlog", "logs/zz.log"], cwd=tmp_path, check=True)

    manifest = build_manifest(opener(target))

    assert manifest.complete
    assert listing(manifest) == [
        ("logs/lastlog", EntryType.FILE, 50_000_003, None),
        ("logs/zz.log", EntryType.FILE, len(LOG), None),
    ]
    assert manifest.entries[0].flags == "x"  # listed; its content is not shown
