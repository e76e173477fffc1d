"""The manifest job: queued when an upload finishes, made in the background, stored; put
back at a stop and taken up again by the janitor; one at a time per upload, at most
TUSLOG_ARCHIVE_JOBS at once; forgotten with its upload."""

import asyncio
import errno
import io
import random
import tarfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sqlalchemy import update

from tests.conftest import make_settings
from tests.fakes import FaultyStore
from tests.inspection.support import (
    BUNDLE,
    BUNDLE_DIRS,
    SlowReads,
    create,
    running,
    send,
    settled,
    tar_gz,
    upload,
)
from tuslog import errors
from tuslog.db.models import ArchiveManifest, ManifestState, UploadState, utcnow
from tuslog.settings import Settings
from tuslog.uploads import manifests
from tuslog.uploads.archive_reading import ArchiveReading
from tuslog.uploads.inspection import Inspection, new_holder
from tuslog.uploads.pools import ClaimedJob


async def _row(engine: Any, upload_id: str) -> ArchiveManifest | None:
    async with engine.parts.db.session() as session:
        return await session.get(ArchiveManifest, upload_id)


async def _set(engine: Any, upload_id: str, **values: Any) -> None:
    async with engine.parts.db.begin() as session:
        await session.execute(
            update(ArchiveManifest).where(ArchiveManifest.upload_id == upload_id).values(values)
        )


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return [member.name for member in archive.getmembers()]


@pytest.mark.parametrize("declared", ["match", None, "0" * 64])
async def test_a_finished_upload_is_listed_in_the_background(
    settings: Settings, declared: str | None
) -> None:
    """Verified, complete and corrupt uploads all get their manifest (a corrupt one is
    what arrived, and the list says whether it is usable)."""
    data = tar_gz(BUNDLE, BUNDLE_DIRS)
    async with running(settings) as engine:
        done = await upload(engine, data, declared=declared)
        await settled(engine)
        status, manifest = await ArchiveReading(engine.parts).manifest(done.id)
    expected_state = {"match": "verified", None: "complete"}.get(declared, "corrupt")
    assert (done.state.value, status.upload_state) == (expected_state, expected_state)
    assert (status.state, status.format, status.complete, status.problem) == (
        "done",
        "tar.gz",
        True,
        None,
    )
    assert [entry.path for entry in manifest.entries] == _names(data)
    assert status.counts["files"] == len(BUNDLE)
    assert status.counts["total_size"] == sum(len(content) for content in BUNDLE.values())


async def test_a_file_that_is_not_an_archive(settings: Settings) -> None:
    async with running(settings) as engine:
        done = await upload(engine, b"just a text file\n" * 100, filename="notes.txt")
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        status = await reading.status(done.id)
        with pytest.raises(errors.TuslogError) as listed:
            await reading.listing(done.id)
        with pytest.raises(errors.TuslogError) as previewed:
            await reading.preview(done.id, 0, actor="t")
    assert (status.state, status.format) == ("not_an_archive", None)
    assert listed.value.code == previewed.value.code == errors.ARCHIVE_NOT_AN_ARCHIVE.code


async def test_an_upload_verified_in_the_background_is_listed_after(settings: Settings) -> None:
    """Its last bytes reach a process that lacks the running hash (another worker got the
    first ones): the verifier reads it again, records the SHA-256, and only then is the
    manifest queued."""
    data = tar_gz(BUNDLE)
    async with running(settings) as first, running(settings) as second:
        created, token = await create(first, data)
        half = await send(first, created, token, data, 0, len(data) // 2)
        finished = await send(second, half, token, data, half.offset, len(data))
        assert finished.shown_state == "verifying"
        await settled(second)
        status = await ArchiveReading(second.parts).status(created.id)
    assert (status.upload_state, status.state, status.complete) == ("verified", "done", True)


async def test_a_partial_upload_gets_no_manifest(settings: Settings) -> None:
    data = tar_gz(BUNDLE)
    async with running(settings) as engine:
        created, token = await create(engine, data, partial=True)
        await send(engine, created, token, data, 0, len(data))
        await settled(engine)
        assert await _row(engine, created.id) is None
        await engine.janitor.sweep()  # finds no finished upload without a manifest either
        await settled(engine)
        assert await _row(engine, created.id) is None
        with pytest.raises(errors.TuslogError) as refused:
            await ArchiveReading(engine.parts).status(created.id)
    assert refused.value.code == errors.ARCHIVE_NOT_AN_ARCHIVE.code
    assert "partial upload" in refused.value.message


def _random_bundle() -> bytes:
    """A tar.gz that does not compress (so reading it slowly takes a while)."""
    return tar_gz({"var/log/noise.bin": random.Random(7).randbytes(400_000), **BUNDLE})


async def test_a_stop_puts_the_job_back_and_the_janitor_takes_it_up(
    settings: Settings,
) -> None:
    store = FaultyStore(settings.storage_dir)
    slow = SlowReads(store)
    async with running(settings, store) as engine:
        done = await upload(engine, _random_bundle())
        assert await asyncio.to_thread(slow.started.wait, 10)
    # stopped while the job was reading: it let go, unfinished, and did not count
    async with running(settings) as engine:
        row = await _row(engine, done.id)
        assert row is not None
        assert (row.state, row.attempts, row.claimed_by, row.problem) == (
            ManifestState.PENDING,
            0,
            None,
            None,
        )
        await engine.janitor.sweep()
        await settled(engine)
        status = await ArchiveReading(engine.parts).status(done.id)
    assert (status.state, status.complete, status.counts["files"]) == ("done", True, 5)


async def test_a_stop_gives_back_the_claims_of_jobs_not_started_yet(
    database_url: str, tmp_path: Path
) -> None:
    """One worker reads slowly; two more uploads finish meanwhile, their jobs claimed by
    their completions and queued here. The stop puts them back to pending at once, not
    counted as an attempt: they do not wait for their claims to run out."""
    settings = make_settings(database_url, tmp_path, archive_jobs=1)
    store = FaultyStore(settings.storage_dir)
    slow = SlowReads(store)
    async with running(settings, store) as engine:
        first = await upload(engine, _random_bundle())
        assert await asyncio.to_thread(slow.started.wait, 10)
        queued = [
            await upload(engine, tar_gz({f"log{n}.txt": b"x\n"}), number=f"SR-{n}")
            for n in range(2, 4)
        ]
        for done in queued:
            row = await _row(engine, done.id)
            assert row is not None and (row.state, row.attempts) == (ManifestState.RUNNING, 1)
    async with running(settings) as engine:
        rows = [await _row(engine, done.id) for done in [first, *queued]]
        assert [(row.state, row.attempts, row.claimed_by) for row in rows if row] == [
            (ManifestState.PENDING, 0, None)
        ] * 3
        await engine.janitor.sweep()
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        states = [(await reading.status(done.id)).state for done in [first, *queued]]
    assert states == ["done"] * 3


async def test_an_upload_finished_after_a_stop_began_leaves_its_job_pending(
    settings: Settings,
) -> None:
    """A PATCH saved during a graceful stop completes its upload, but no worker of this
    process starts any more: the job is left to the next process at once, not claimed
    for the length of a lease."""
    async with running(settings) as engine:
        engine.parts.pools.background.stopping.set()  # the stop's first step
        done = await upload(engine, tar_gz(BUNDLE))
        row = await _row(engine, done.id)
        assert row is not None
        assert (row.state, row.attempts, row.claimed_by) == (ManifestState.PENDING, 0, None)
    async with running(settings) as engine:
        await engine.janitor.sweep()
        await settled(engine)
        status = await ArchiveReading(engine.parts).status(done.id)
    assert (status.state, status.complete) == ("done", True)


async def test_a_claim_committed_as_a_stop_begins_is_given_back(settings: Settings) -> None:
    """The completion's transaction and the stop cross: the row is committed claimed by
    this process, and then no worker may start. The claim goes back at once."""
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        holder = new_holder()
        lease = utcnow() + manifests.LEASE
        claimed = {"state": ManifestState.RUNNING, "claimed_by": holder, "data": None}
        await _set(engine, done.id, **claimed, claimed_until=lease, attempts=1)
        engine.parts.pools.background.stopping.set()  # the stop's first step
        await Inspection(engine.parts).claimed(done, holder)
        row = await _row(engine, done.id)
        assert row is not None
        assert (row.state, row.attempts, row.claimed_by) == (ManifestState.PENDING, 0, None)
        assert not engine.parts.pools.manifest_jobs.mine


async def test_a_dead_workers_job_is_taken_over_and_a_live_one_left_alone(
    settings: Settings,
) -> None:
    past, future = utcnow() - timedelta(seconds=1), utcnow() + timedelta(hours=1)
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        dead = {"state": ManifestState.RUNNING, "claimed_by": "gone:1:x", "data": None}

        await _set(engine, done.id, **dead, claimed_until=past, attempts=1)
        await engine.janitor.sweep()
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and (row.state, row.attempts) == (ManifestState.DONE, 2)

        await _set(engine, done.id, **dead, claimed_until=past, attempts=manifests.MAX_ATTEMPTS)
        await engine.janitor.sweep()
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and row.state is ManifestState.FAILED
        assert row.problem is not None and "gave up after 3 attempts" in row.problem
        with pytest.raises(errors.TuslogError) as failed:
            await ArchiveReading(engine.parts).listing(done.id)
        assert failed.value.code == errors.ARCHIVE_UNREADABLE.code

        await _set(engine, done.id, **dead, claimed_until=future, attempts=1)
        await engine.janitor.sweep()
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and (row.state, row.claimed_by) == (
            ManifestState.RUNNING,
            "gone:1:x",
        )


async def test_the_finishing_process_claims_its_own_job_by_id_and_nothing_else(
    settings: Settings,
) -> None:
    """An upload that finishes here is read here, claimed by its id: no search of the
    table, so another pending job waits for the janitor's pass; a job that another live
    process holds is left to it."""
    future = utcnow() + timedelta(hours=1)
    async with running(settings) as engine:
        first = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        await _set(engine, first.id, state=ManifestState.PENDING, data=None, attempts=0)
        second = await upload(engine, tar_gz(BUNDLE), number="SR-2")
        await settled(engine)
        rows = [await _row(engine, first.id), await _row(engine, second.id)]
        assert [row.state if row else None for row in rows] == [
            ManifestState.PENDING,
            ManifestState.DONE,
        ]

        held = {"state": ManifestState.RUNNING, "claimed_by": "other:1:x"}
        await _set(engine, first.id, **held, claimed_until=future)
        Inspection(engine.parts).queued(first.id)
        await settled(engine)
        row = await _row(engine, first.id)
        assert row is not None and (row.state, row.claimed_by, row.attempts) == (
            ManifestState.RUNNING,
            "other:1:x",
            0,
        )

        await _set(engine, first.id, state=ManifestState.PENDING, claimed_by=None)
        await _set(engine, first.id, claimed_until=None)
        Inspection(engine.parts).queued(first.id)
        await settled(engine)
        row = await _row(engine, first.id)
        assert row is not None and (row.state, row.attempts) == (ManifestState.DONE, 1)


async def test_the_janitor_queues_finished_uploads_that_have_no_manifest(
    settings: Settings,
) -> None:
    """Uploads finished before this version, by a final concatenation, or in a process
    that died before it queued the manifest."""
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        async with engine.parts.db.begin() as session:
            await manifests.forget(session, done.id)
        reading = ArchiveReading(engine.parts)
        status = await reading.status(done.id)
        assert (status.state, status.queued_at) == ("pending", None)
        with pytest.raises(errors.TuslogError) as early:
            await reading.listing(done.id)
        assert early.value.code == errors.MANIFEST_NOT_READY.code

        await engine.janitor.sweep()
        await settled(engine)
        assert (await reading.status(done.id)).state == "done"


async def test_a_deleted_upload_loses_its_manifest(settings: Settings) -> None:
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        assert await _row(engine, done.id) is not None
        assert await engine.ending.end(done.id, UploadState.DELETED, "staff", None)
        await engine.janitor.sweep()
        assert await _row(engine, done.id) is None
        with pytest.raises(errors.TuslogError) as gone:
            await ArchiveReading(engine.parts).status(done.id)
    assert gone.value.code == errors.UPLOAD_GONE.code


async def test_deleting_an_upload_stops_its_job(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifests, "LEASE", timedelta(seconds=0.3))  # watched every 0.1 s
    store = FaultyStore(settings.storage_dir)
    slow = SlowReads(store)
    data = _random_bundle()
    async with running(settings, store) as engine:
        done = await upload(engine, data)
        assert await asyncio.to_thread(slow.started.wait, 10)
        assert await engine.ending.end(done.id, UploadState.DELETED, "staff", None)
        await settled(engine)
        assert await _row(engine, done.id) is None
    assert slow.bytes_read < len(data) / 2  # stopped, not read to its end


class _Gauge:
    """Counts the upload files open at once; the first one opened waits (up to 1 s) for
    a second, so that work which may overlap does."""

    def __init__(self) -> None:
        self.open_now = 0
        self.most = 0
        self._changed = threading.Condition()
        self._first = True

    def open(self, real: Any, upload_id: str) -> Any:
        inner = real(upload_id)
        with self._changed:
            self.open_now += 1
            self.most = max(self.most, self.open_now)
            self._changed.notify_all()
            if self._first:
                self._first = False
                self._changed.wait_for(lambda: self.open_now >= 2, timeout=1)
        return _Counted(inner, self)

    def closed(self) -> None:
        with self._changed:
            self.open_now -= 1


class _Counted:
    def __init__(self, inner: BinaryIO, gauge: _Gauge) -> None:
        self._inner, self._gauge, self._closed = inner, gauge, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._gauge.closed()
        self._inner.close()

    def __enter__(self) -> "_Counted":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.mark.parametrize("jobs", [1, 2])
async def test_at_most_archive_jobs_manifests_are_made_at_once(
    database_url: str, tmp_path: Path, jobs: int
) -> None:
    settings = make_settings(database_url, tmp_path, archive_jobs=jobs)
    store = FaultyStore(settings.storage_dir)
    gauge = _Gauge()
    store.intercept("open_reader", gauge.open)
    async with running(settings, store) as engine:
        uploads = [
            await upload(engine, tar_gz({f"log{n}.txt": b"x\n" * n}), number=f"SR-{n}")
            for n in range(3)
        ]
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        states = [(await reading.status(done.id)).state for done in uploads]
    assert states == ["done"] * 3
    assert gauge.most == jobs


@pytest.mark.parametrize("jobs", [1, 2])
async def test_the_janitors_search_runs_archive_jobs_workers(
    database_url: str, tmp_path: Path, jobs: int
) -> None:
    """Jobs found by searching the table (queued by the janitor) also get
    TUSLOG_ARCHIVE_JOBS workers at once, not one."""
    settings = make_settings(database_url, tmp_path, archive_jobs=jobs)
    store = FaultyStore(settings.storage_dir)
    async with running(settings, store) as engine:
        uploads = [
            await upload(engine, tar_gz({f"log{n}.txt": b"x\n" * n}), number=f"SR-{n}")
            for n in range(3)
        ]
        await settled(engine)
        async with engine.parts.db.begin() as session:
            for done in uploads:
                await manifests.forget(session, done.id)
        gauge = _Gauge()
        store.intercept("open_reader", gauge.open)
        await engine.janitor.sweep()
        await settled(engine)
        reading = ArchiveReading(engine.parts)
        states = [(await reading.status(done.id)).state for done in uploads]
    assert states == ["done"] * 3
    assert gauge.most == jobs


async def test_a_storage_failure_is_tried_again_later(settings: Settings) -> None:
    store = FaultyStore(settings.storage_dir)
    store.fail("open_reader", OSError(errno.EIO, "Input/output error"))
    async with running(settings, store) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and (row.state, row.attempts) == (ManifestState.PENDING, 1)
        assert row.problem is not None and "Input/output error" in row.problem
        assert row.claimed_until is not None and row.claimed_until > utcnow()  # not at once

        store.fail("open_reader", None)
        await engine.janitor.sweep()
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and row.state is ManifestState.PENDING  # still waiting

        await _set(engine, done.id, claimed_until=utcnow() - timedelta(seconds=1))
        await engine.janitor.sweep()
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and (row.state, row.problem) == (ManifestState.DONE, None)


async def test_missing_data_fails_the_manifest(settings: Settings) -> None:
    store = FaultyStore(settings.storage_dir)
    store.fail("open_reader", FileNotFoundError(errno.ENOENT, "No such file"))
    async with running(settings, store) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        row = await _row(engine, done.id)
    assert row is not None and row.state is ManifestState.FAILED
    assert row.problem == "could not read: the upload's data is missing from the storage"


async def test_the_finishing_transaction_claims_the_job_and_a_late_start_checks_the_claim(
    settings: Settings,
) -> None:
    """The completion's transaction adds the manifest row claimed already by this process
    (no transaction of its own to claim it). A job that waited here for a third of the
    lease renews its claim first: if another process took the job meanwhile (the claim
    ran out), its row is left as that process has it; if the claim is still ours, the
    renewed job is read and stored."""
    async with running(settings) as engine:
        done = await upload(engine, tar_gz(BUNDLE))
        await settled(engine)
        row = await _row(engine, done.id)
        assert row is not None and (row.state, row.attempts) == (ManifestState.DONE, 1)

        jobs = engine.parts.pools.manifest_jobs
        late = asyncio.get_running_loop().time() - manifests.LEASE.total_seconds()
        future = utcnow() + timedelta(hours=1)
        for holder in ("other:1:x", "mine:1:x"):
            await _set(engine, done.id, state=ManifestState.RUNNING, finished_at=None)
            await _set(engine, done.id, claimed_by=holder, claimed_until=future)
            jobs.mine.append(ClaimedJob(done, "mine:1:x", late))  # our claim, long queued
            Inspection(engine.parts).wake()
            await settled(engine)
            row = await _row(engine, done.id)
            assert row is not None
            if holder == "other:1:x":  # taken over meanwhile: left to the other process
                assert (row.state, row.claimed_by, row.finished_at) == (
                    ManifestState.RUNNING,
                    holder,
                    None,
                )
            else:  # still ours: renewed, read and stored
                assert (row.state, row.claimed_by) == (ManifestState.DONE, None)
                assert row.finished_at is not None
