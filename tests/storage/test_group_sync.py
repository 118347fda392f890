"""The drive's group commit (drives/group_sync.py): a barrier returns only after a flush that began after
it was called, and callers that arrive while one runs share the next."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from storage_engine.drives import group_sync
from storage_engine.drives.group_sync import GroupSync


class _Recorder:
    """Stands in for syncfs: records which writes each flush covers; the first flush waits for ``go``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes = 0                    # writes made so far (each caller makes one, then waits)
        self.flushes: list[int] = []       # for each flush that finished: the writes made before it began
        self.go = threading.Event()
        self.fail_first = False

    def __call__(self, path: str) -> None:
        with self.lock:
            covered = self.writes
            first = not self.flushes and not self.go.is_set()
        if first:
            assert self.go.wait(30)
            if self.fail_first:
                raise OSError(5, "Input/output error", path)
        with self.lock:
            self.flushes.append(covered)


def _waiters(sync: GroupSync) -> int:
    return len(sync._cond._waiters)        # type: ignore[attr-defined]  # threads parked in wait()


def _run(sync: GroupSync, recorder: _Recorder, tmp_path: Path, callers: int) -> list[BaseException | int]:
    results: list[BaseException | int] = [0] * callers

    def caller(i: int) -> None:
        with recorder.lock:
            recorder.writes += 1
            mine = recorder.writes
        try:
            sync.barrier(str(tmp_path))
            with recorder.lock:
                assert any(covered >= mine for covered in recorder.flushes), "returned before its write was flushed"
        except BaseException as exc:      # noqa: BLE001 - handed to the test
            results[i] = exc

    first = threading.Thread(target=caller, args=(0,))
    first.start()
    for _ in range(3000):                  # the first flush is running (held at ``go``)
        if sync._running:
            break
        threading.Event().wait(0.01)
    rest = [threading.Thread(target=caller, args=(i,)) for i in range(1, callers)]
    for t in rest:
        t.start()
    for _ in range(3000):                  # every later caller waits for the next flush
        if _waiters(sync) == callers - 1:
            break
        threading.Event().wait(0.01)
    assert _waiters(sync) == callers - 1
    recorder.go.set()
    for t in [first, *rest]:
        t.join(30)
    return results


def test_callers_that_arrive_during_a_flush_share_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(group_sync, "_sync", recorder)
    results = _run(GroupSync(), recorder, tmp_path, callers=10)
    assert results == [0] * 10
    assert len(recorder.flushes) == 2      # the one that was running, and one for all nine that came later
    assert recorder.flushes[0] == 1 and recorder.flushes[1] == 10


def test_a_failed_flush_fails_its_caller_and_the_others_flush_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    recorder.fail_first = True
    monkeypatch.setattr(group_sync, "_sync", recorder)
    results = _run(GroupSync(), recorder, tmp_path, callers=5)
    assert isinstance(results[0], OSError)
    assert results[1:] == [0] * 4
    assert recorder.flushes == [5]


def test_drives_on_one_file_system_share_it(tmp_path: Path) -> None:
    sync = GroupSync.for_drive(str(tmp_path), "on")
    if sync is None:
        pytest.skip("no syncfs here")
    (tmp_path / "a").mkdir()
    assert GroupSync.for_drive(str(tmp_path / "a"), "on") is sync
    assert GroupSync.for_drive(str(tmp_path / "b" / "not-yet"), "on") is sync
    sync.barrier(str(tmp_path))            # the real syncfs


def test_by_default_only_a_drive_with_a_file_system_of_its_own_has_one(tmp_path: Path) -> None:
    if GroupSync.for_drive(str(tmp_path), "on") is None:
        pytest.skip("no syncfs here")
    assert GroupSync.for_drive(str(tmp_path)) is None         # a directory of a shared file system
    assert GroupSync.for_drive("/") is not None                # a mount point
    assert GroupSync.for_drive("/", "off") is None
