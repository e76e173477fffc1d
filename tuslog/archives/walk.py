"""One iteration over the entries of any supported archive, given its detected kind."""

from collections.abc import Generator

from tuslog.archives.decoders import ChunkStream, FileStream, decoded_chunks
from tuslog.archives.detect import Detected, Kind, Opener
from tuslog.archives.limits import Budget, DamagedArchive
from tuslog.archives.members import EntryType, Member
from tuslog.archives.tar_walk import iter_tar
from tuslog.archives.zip_scan import scan_local_headers
from tuslog.archives.zip_walk import NoCentralDirectory, iter_zip


def walk(opener: Opener, detected: Detected, budget: Budget) -> Generator[Member, None, None]:
    """Yield the entries in archive order. Close the generator to close the file.

    A tar member's ``chunks`` must be read before the next entry is asked for. A single
    compressed file is one entry whose size is only known once its data has been read.
    """
    with opener() as raw:
        if detected.kind is Kind.ZIP:
            try:
                yield from iter_zip(raw, budget)
            except NoCentralDirectory as missing:
                try:
                    yield from scan_local_headers(raw, budget)  # list what the file still has
                except DamagedArchive as also:
                    raise DamagedArchive(f"{missing.reason}; {also.reason}") from None
                raise
        elif detected.kind is Kind.TAR:
            yield from iter_tar(FileStream(raw, budget), budget)
        elif detected.is_tar and detected.codec:
            yield from iter_tar(ChunkStream(decoded_chunks(raw, detected.codec, budget)), budget)
        elif detected.codec:
            chunks = decoded_chunks(raw, detected.codec, budget)
            name = detected.member_name or "data"
            yield Member(0, name, EntryType.FILE, size=-1, mtime=None, chunks=lambda: chunks)
