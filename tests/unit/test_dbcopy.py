"""Copies of a tmp database to the work dir: consistent, incremental, never half-swapped.

Real SQLite databases in WAL mode, as FerretDB writes them."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3

import pytest

from mspass_roles import dbcopy


def writer(path):
    """A connection like FerretDB's: WAL mode, committed rows stay in the -wal file."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # keep every row in the WAL
    conn.execute("CREATE TABLE IF NOT EXISTS docs (n INTEGER)")
    return conn


def rows(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [n for (n,) in conn.execute("SELECT n FROM docs ORDER BY n")]
    finally:
        conn.close()


def age(root, seconds=10):
    """Make every file look older than the copier's freshness window."""
    past = (os.stat(root).st_mtime - seconds) * 1e9
    for dirpath, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), ns=(int(past), int(past)))


@pytest.fixture
def dirs(tmp_path):
    live, dest = tmp_path / "live", tmp_path / "work" / "db"
    live.mkdir()
    return live, dest


def test_a_running_database_is_copied_with_the_rows_still_in_its_wal(dirs):
    live, dest = dirs
    conn = writer(live / "mspass.sqlite")
    conn.executemany("INSERT INTO docs VALUES (?)", [(i,) for i in range(500)])
    assert (live / "mspass.sqlite-wal").stat().st_size > 0

    report = dbcopy.Copier(live, dest).copy(running=True)

    assert not (dest / "mspass.sqlite-wal").exists()  # folded into the copy
    assert rows(dest / "mspass.sqlite") == list(range(500))
    assert (report.copied, report.linked) == (1, 0)
    conn.close()


def test_unchanged_files_are_linked_and_changed_ones_copied(dirs):
    live, dest = dirs
    for name in ("a", "b", "c"):
        conn = writer(live / f"{name}.sqlite")
        conn.execute("INSERT INTO docs VALUES (1)")
        conn.close()
    (live / "state.json").write_text("{}")
    age(live)
    copier = dbcopy.Copier(live, dest)
    assert copier.copy(running=True).copied == 4

    again = copier.copy(running=True)
    assert (again.copied, again.linked) == (0, 4)

    conn = writer(live / "b.sqlite")
    conn.execute("INSERT INTO docs VALUES (2)")
    conn.close()
    third = copier.copy(running=True)
    assert (third.copied, third.linked) == (1, 3)
    assert rows(dest / "b.sqlite") == [1, 2]
    assert rows(dest / "a.sqlite") == [1]


def test_a_file_changed_just_now_is_copied_again_next_time(dirs):
    live, dest = dirs
    (live / "state.json").write_text("{}")  # mtime: now
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False)
    assert copier.copy(running=False).copied == 1


def test_files_the_server_deleted_disappear_from_the_copy(dirs):
    live, dest = dirs
    (live / "old.sqlite").write_bytes(b"")
    (live / "keep.txt").write_text("x")
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False)
    (live / "old.sqlite").unlink()
    copier.copy(running=False)
    assert sorted(p.name for p in dest.iterdir()) == [dbcopy.MANIFEST, "keep.txt"]


def test_a_failed_copy_leaves_the_last_complete_one(dirs, monkeypatch):
    live, dest = dirs
    (live / "one.txt").write_text("first")
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False)
    (live / "one.txt").write_text("second")

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", disk_full)
    with pytest.raises(OSError):
        copier.copy(running=False)
    assert (dest / "one.txt").read_text() == "first"

    monkeypatch.undo()
    copier.copy(running=False)  # the leftover incoming copy is no obstacle
    assert (dest / "one.txt").read_text() == "second"
    assert not dbcopy.incoming(dest).exists()


@pytest.mark.parametrize("crash", ["during the copy", "between the renames", "before the clean-up"])
def test_recover_after_a_crash_keeps_the_last_complete_copy(tmp_path, crash):
    dest = tmp_path / "db"
    if crash == "during the copy":
        dest.mkdir()
        (dest / "f").write_text("complete")
        dbcopy.incoming(dest).mkdir()
        (dbcopy.incoming(dest) / "f").write_text("half")
    elif crash == "between the renames":
        dbcopy.previous(dest).mkdir()
        (dbcopy.previous(dest) / "f").write_text("complete")
        dbcopy.incoming(dest).mkdir()
        (dbcopy.incoming(dest) / "f").write_text("not fsynced, maybe")
    else:
        dest.mkdir()
        (dest / "f").write_text("complete")
        dbcopy.previous(dest).mkdir()
        (dbcopy.previous(dest) / "f").write_text("older")

    assert dbcopy.recover(dest) is not None or crash == "before the clean-up"
    assert (dest / "f").read_text() == "complete"
    assert not dbcopy.incoming(dest).exists() and not dbcopy.previous(dest).exists()
    assert dbcopy.recover(dest) is None


def test_restore_starts_the_live_directory_from_the_last_copy(dirs):
    live, dest = dirs
    (live / "stale.sqlite").write_text("from a crashed session")
    dest.mkdir(parents=True)
    (dest / "mspass.sqlite").write_text("saved")
    (dest / dbcopy.MANIFEST).write_text("{}")
    dbcopy.restore(dest, live)
    assert sorted(p.name for p in live.iterdir()) == ["mspass.sqlite"]


def test_the_server_is_frozen_only_while_it_runs(dirs):
    live, dest = dirs
    (live / "f").write_text("x")
    calls = []

    @contextlib.contextmanager
    def freeze():
        calls.append("lock")
        yield
        calls.append("unlock")

    copier = dbcopy.Copier(live, dest, freeze=freeze)
    copier.copy(running=True)
    assert calls == ["lock", "unlock"]
    copier.copy(running=False)
    assert calls == ["lock", "unlock"]


def test_a_periodic_copy_after_the_last_one_changes_nothing(dirs):
    """A periodic copy that waited for the final copy's lock must not copy the live
    directory the final copy removed: that would swap an empty copy in."""
    live, dest = dirs
    (live / "f").write_text("data")
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False)
    shutil.rmtree(live)
    assert copier.copy(running=True).copied == 0
    assert (dest / "f").read_text() == "data"


def test_no_copy_of_a_missing_live_directory(dirs):
    live, dest = dirs
    (live / "f").write_text("data")
    dbcopy.Copier(live, dest).copy(running=True)
    shutil.rmtree(live)
    with pytest.raises(FileNotFoundError):
        dbcopy.Copier(live, dest).copy(running=True)
    assert (dest / "f").read_text() == "data"
