"""Copies of a tmp database to the work dir: consistent, incremental, never half-committed,
never renaming the directory they go to (a mount point), and never overwriting a newer
database a killed session left in /tmp.

Real SQLite databases in WAL mode, as FerretDB writes them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

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
    assert (report.copied, report.unchanged) == (1, 0)
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
    assert (again.copied, again.unchanged) == (0, 4)

    conn = writer(live / "b.sqlite")
    conn.execute("INSERT INTO docs VALUES (2)")
    conn.close()
    third = copier.copy(running=True)
    assert (third.copied, third.unchanged) == (1, 3)
    assert rows(dest / "b.sqlite") == [1, 2]
    assert rows(dest / "a.sqlite") == [1]


def test_a_file_changed_just_now_is_copied_again_next_time(dirs):
    live, dest = dirs
    (live / "state.json").write_text("{}")  # mtime: now
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False, final=False)
    assert copier.copy(running=False, final=False).copied == 1


def test_files_the_server_deleted_disappear_from_the_copy(dirs):
    live, dest = dirs
    (live / "old.sqlite").write_bytes(b"")
    (live / "keep.txt").write_text("x")
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False, final=False)
    (live / "old.sqlite").unlink()
    copier.copy(running=False, final=False)
    assert sorted(p.name for p in dest.iterdir()) == [dbcopy.MANIFEST, "keep.txt"]


def test_a_failed_copy_leaves_the_last_complete_one_and_no_staged_files(dirs, monkeypatch):
    live, dest = dirs
    (live / "one.txt").write_text("first")
    copier = dbcopy.Copier(live, dest)
    copier.copy(running=False, final=False)
    (live / "one.txt").write_text("second")

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", disk_full)
    with pytest.raises(OSError):
        copier.copy(running=True)
    assert (dest / "one.txt").read_text() == "first"
    assert not dbcopy.stage(dest).exists()  # its room is free for the next try

    monkeypatch.undo()
    copier.copy(running=True)
    assert (dest / "one.txt").read_text() == "second"


def test_the_copy_never_renames_or_replaces_the_directory_it_goes_to(dirs):
    """MSPASS_DB_DIR as a named volume, bind mount or tmpfs is a mount point: renaming it
    fails with EBUSY, and the swap of two directories lost every copy (22,157 of 22,157
    documents, issue 23). The directory must stay the same inode through every copy."""
    live, dest = dirs
    dest.mkdir(parents=True)
    inode = dest.stat().st_ino
    parent = sorted(p.name for p in dest.parent.iterdir())
    copier = dbcopy.Copier(live, dest)
    for n in range(3):
        conn = writer(live / "mspass.sqlite")
        conn.execute("INSERT INTO docs VALUES (?)", (n,))
        conn.close()
        copier.copy(running=True)
    copier.finish()
    assert dest.stat().st_ino == inode
    assert sorted(p.name for p in dest.parent.iterdir()) == parent  # nothing made beside it
    assert rows(dest / "mspass.sqlite") == [0, 1, 2]


@pytest.mark.parametrize("crash", ["while staging", "during the commit", "before the clean-up"])
def test_recover_after_a_crash_keeps_a_complete_copy(tmp_path, crash):
    dest = tmp_path / "db"
    dest.mkdir()
    (dest / "f").write_text("old")
    (dest / "gone").write_text("old")
    (dest / dbcopy.MANIFEST).write_text('{"files": {"f": [1], "gone": [1]}, "copy": "c1"}')
    staged = dbcopy.stage(dest)
    staged.mkdir()
    (staged / "f").write_text("new")
    (staged / "g").write_text("new")
    manifest = '{"files": {"f": [2], "g": [2]}, "copy": "c2"}'
    if crash == "during the commit":  # f already moved in, the manifest staged (committed)
        os.replace(staged / "f", dest / "f")
        (staged / dbcopy.MANIFEST).write_text(manifest)
    elif crash == "before the clean-up":
        for name in ("f", "g"):
            os.replace(staged / name, dest / name)
        (dest / "gone").unlink()
        (dest / dbcopy.MANIFEST).write_text(manifest)

    assert dbcopy.recover(dest) is not None
    if crash == "while staging":  # never committed: the old copy stands
        assert {p.name: p.read_text() for p in dest.iterdir() if p.name != dbcopy.MANIFEST} == {
            "f": "old", "gone": "old"}
        assert dbcopy.read_manifest(dest)["copy"] == "c1"
    else:
        assert {p.name: p.read_text() for p in dest.iterdir() if p.name != dbcopy.MANIFEST} == {
            "f": "new", "g": "new"}
        assert dbcopy.read_manifest(dest)["copy"] == "c2"
    assert not staged.exists()
    assert dbcopy.recover(dest) is None


def test_restore_starts_the_live_directory_from_the_last_copy(dirs):
    live, dest = dirs
    (live / "stale.sqlite").write_text("from an unknown session")
    dest.mkdir(parents=True)
    (dest / "mspass.sqlite").write_text("saved")
    (dest / dbcopy.MANIFEST).write_text("{}")
    said = dbcopy.Copier(live, dest).restore()
    assert sorted(p.name for p in live.iterdir()) == ["mspass.sqlite"]
    # a live directory nobody can vouch for is set aside, not deleted
    assert "set it aside" in said
    assert (live.with_name("live.stale") / "stale.sqlite").read_text() == "from an unknown session"


def killed_writer(path, rows_before_kill):
    """A process that writes rows to a WAL database and is killed with SIGKILL (docker kill,
    OOM): its last rows are in the -wal file, never checkpointed."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
            "c.execute('CREATE TABLE IF NOT EXISTS docs (n INTEGER)')\n"
            "c.executemany('INSERT INTO docs VALUES (?)', [(i,) for i in range(int(sys.argv[2]))])\n"
            "print('written', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(rows_before_kill)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_session_leaves_a_newer_database_that_the_next_start_keeps(dirs):
    """docker kill, then docker start: the container's /tmp still held the live database,
    newer than the last periodic copy, and the start replaced it by that copy: 24,351 of
    24,351 documents lost (issue 23)."""
    live, dest = dirs
    first = dbcopy.Copier(live, dest)
    first.restore()
    killed_writer(live / "mspass.sqlite", 10)
    first.copy(running=True)  # a periodic copy: 10 rows
    killed_writer(live / "mspass.sqlite", 25)  # 25 more, then killed before the next copy
    assert rows(dest / "mspass.sqlite") == list(range(10))

    said = dbcopy.Copier(live, dest).restore()  # the next start, a new process

    assert "kept the database" in said
    assert rows(live / "mspass.sqlite") == sorted(list(range(10)) + list(range(25)))
    assert rows(dest / "mspass.sqlite") == sorted(list(range(10)) + list(range(25)))  # and saved at once


def test_a_killed_session_before_its_first_copy_is_kept_too(dirs):
    live, dest = dirs
    dbcopy.Copier(live, dest).restore()
    killed_writer(live / "mspass.sqlite", 7)
    assert "kept the database" in dbcopy.Copier(live, dest).restore()
    assert rows(dest / "mspass.sqlite") == list(range(7))


def test_a_live_database_the_copy_has_moved_on_from_is_set_aside(tmp_path):
    """HPC: a job killed on node A leaves /tmp's database; a later job on node B writes more
    and copies it back; a third job on A must start from that copy, not from A's leftover."""
    dest = tmp_path / "db"
    on_a, on_b = tmp_path / "a" / "live", tmp_path / "b" / "live"
    on_a.parent.mkdir()
    on_b.parent.mkdir()
    dbcopy.Copier(on_a, dest).restore()
    killed_writer(on_a / "mspass.sqlite", 3)
    b = dbcopy.Copier(on_b, dest)
    b.restore()
    killed_writer(on_b / "mspass.sqlite", 5)
    b.finish()

    said = dbcopy.Copier(on_a, dest).restore()

    assert "moved on from" in said
    assert rows(on_a / "mspass.sqlite") == list(range(5))
    assert rows(on_a.with_name("live.stale") / "mspass.sqlite") == list(range(3))
    assert rows(dest / "mspass.sqlite") == list(range(5))


def test_a_restore_that_failed_halfway_is_never_taken_for_a_database(dirs, monkeypatch):
    """ENOSPC in a small /tmp: the half-restored live directory must not be kept and copied
    over the good copy at the next start."""
    live, dest = dirs
    first = dbcopy.Copier(live, dest)
    first.restore()
    for name in ("a", "b"):
        (live / f"{name}.txt").write_text(name)
    first.finish()

    def disk_full(src, dst, *a, **k):
        if src.endswith("b.txt"):
            raise OSError(28, "No space left on device")
        return shutil.copy2(src, dst)

    monkeypatch.setattr(dbcopy.shutil, "copytree", lambda s, d, **k: (d.mkdir(exist_ok=True), disk_full(
        str(s / "a.txt"), str(d / "a.txt")), disk_full(str(s / "b.txt"), str(d / "b.txt"))))
    with pytest.raises(OSError):
        dbcopy.Copier(live, dest).restore()
    monkeypatch.undo()

    assert "set it aside" in dbcopy.Copier(live, dest).restore()
    assert sorted(p.name for p in live.iterdir()) == ["a.txt", "b.txt"]
    assert sorted(p.name for p in dest.iterdir()) == [dbcopy.MANIFEST, "a.txt", "b.txt"]


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
    copier.finish()
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
