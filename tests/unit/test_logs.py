"""logs: a child's output reaches a size-bounded, rotating file through a pipe."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from mspass_roles import logs
from mspass_roles.logs import ServiceLog


def run(log: ServiceLog, code: str, *, unbuffered: bool = False, timeout: float = 30) -> None:
    """Run Python code as a service whose stdout and stderr go to log, to its end."""
    argv = [sys.executable, *(["-u"] if unbuffered else []), "-c", code]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log.write_end, stderr=subprocess.STDOUT)
    log.started()
    assert proc.wait(timeout) == 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def numbered(n: int) -> list[bytes]:
    """The lines PRINT_NUMBERED prints: n lines of exactly 20 bytes each."""
    return [f"line {i:05d} xxxxxxxx\n".encode() for i in range(n)]


PRINT_NUMBERED = "import sys\nfor i in range({n}):\n    sys.stdout.write(f'line {{i:05d}} xxxxxxxx\\n')"


def test_output_and_notes_arrive_complete_and_in_order(tmp_path):
    fds = open_fds()
    path = tmp_path / "logs" / "db.log"  # the directory does not exist yet
    log = ServiceLog(path)
    log.note("=== starting db")
    code = ("import sys\n"
            "for i in range(2000):\n"
            "    print(f'out {i}')\n"
            "    if i % 100 == 0:\n"
            "        print(f'err {i}', file=sys.stderr)\n")
    run(log, code, unbuffered=True)  # unbuffered: stdout and stderr interleave as written
    assert log.wait(5)
    log.note("=== db exited")
    since = time.monotonic()
    log.close()
    # EOF came when the child exited: the supervisor holds no copy of the write end
    assert time.monotonic() - since < 1.0
    expected = ["=== starting db"]
    for i in range(2000):
        expected.append(f"out {i}")
        if i % 100 == 0:
            expected.append(f"err {i}")
    expected.append("=== db exited")
    assert path.read_bytes() == "".join(f"{line}\n" for line in expected).encode()
    assert log.error is None
    assert open_fds() == fds


def test_notes_from_another_thread_never_split_the_childs_lines(tmp_path):
    log = ServiceLog(tmp_path / "db.log")
    stop = threading.Event()
    sent = []

    def supervisor():
        while not stop.is_set() and len(sent) < 500:
            sent.append(f"=== note {len(sent)}")
            log.note(sent[-1])
            time.sleep(0.001)

    noter = threading.Thread(target=supervisor)
    noter.start()
    try:
        # block-buffered stdout: the pipe gets 8 KiB writes that end inside lines
        run(log, "for i in range(20000): print(f'out {i} ' + 'y' * (i % 50))")
    finally:
        stop.set()
        noter.join()
    log.close()
    lines = log.path.read_text().splitlines()
    assert [x for x in lines if x.startswith("out ")] == [f"out {i} " + "y" * (i % 50) for i in range(20000)]
    assert [x for x in lines if x.startswith("=== ")] == sent
    assert len(lines) == 20000 + len(sent)


def test_rotation_keeps_the_newest_lines_in_at_most_backups_old_files(tmp_path):
    path = tmp_path / "db.log"
    log = ServiceLog(path, max_bytes=1000, backups=3)
    run(log, PRINT_NUMBERED.format(n=1010))
    log.close()
    lines = numbered(1010)
    # 50 lines of 20 bytes fill a file exactly; the oldest files were dropped
    assert path.read_bytes() == b"".join(lines[1000:])
    assert (tmp_path / "db.log.1").read_bytes() == b"".join(lines[950:1000])
    assert (tmp_path / "db.log.2").read_bytes() == b"".join(lines[900:950])
    assert (tmp_path / "db.log.3").read_bytes() == b"".join(lines[850:900])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.log", "db.log.1", "db.log.2", "db.log.3"]


def test_output_that_fills_the_file_exactly_does_not_rotate_it(tmp_path):
    path = tmp_path / "db.log"
    log = ServiceLog(path, max_bytes=1000, backups=3)
    run(log, PRINT_NUMBERED.format(n=50))
    log.close()
    assert path.read_bytes() == b"".join(numbered(50))
    assert [p.name for p in tmp_path.iterdir()] == ["db.log"]


def test_rotation_splits_only_between_lines(tmp_path):
    path = tmp_path / "db.log"
    log = ServiceLog(path, max_bytes=1000, backups=3)
    # lines of 1 to 120 bytes, in 8 KiB writes that end inside lines
    code = "for i in range(3000): print(f'{i} ' + 'z' * (i % 117))"
    run(log, code)
    log.close()
    expected = b"".join(f"{i} {'z' * (i % 117)}\n".encode() for i in range(3000))
    files = [tmp_path / f"db.log.{n}" for n in (3, 2, 1)] + [path]
    kept = b""
    for f in files:
        data = f.read_bytes()
        assert len(data) <= 1000
        assert data.endswith(b"\n")
        kept += data
    for older, newer in zip(files, files[1:]):
        # an old file was rotated only because the next line did not fit
        next_line = newer.read_bytes().split(b"\n")[0] + b"\n"
        assert older.stat().st_size + len(next_line) > 1000
    # the newest lines intact, from a line start; the oldest dropped
    assert expected.endswith(kept)
    assert len(kept) < len(expected) and expected[-len(kept) - 1:-len(kept)] == b"\n"
    assert len(kept) > 3 * 880  # old files are nearly full (lines are at most 121 bytes)
    assert not (tmp_path / "db.log.4").exists()


def test_a_line_longer_than_max_bytes_fills_files_of_its_own(tmp_path):
    path = tmp_path / "db.log"
    log = ServiceLog(path, max_bytes=100, backups=3)
    run(log, "print('a' * 30); print('B' * 250); print('c' * 30)")
    log.close()
    assert (tmp_path / "db.log.3").read_bytes() == b"a" * 30 + b"\n"
    assert (tmp_path / "db.log.2").read_bytes() == b"B" * 100
    assert (tmp_path / "db.log.1").read_bytes() == b"B" * 100
    assert path.read_bytes() == b"B" * 50 + b"\n" + b"c" * 30 + b"\n"


def test_no_backups_keeps_only_the_current_file(tmp_path):
    path = tmp_path / "db.log"
    log = ServiceLog(path, max_bytes=100, backups=0)
    run(log, PRINT_NUMBERED.format(n=12))
    log.close()
    assert path.read_bytes() == b"".join(numbered(12)[10:])
    assert [p.name for p in tmp_path.iterdir()] == ["db.log"]


def test_a_restarted_service_appends_and_the_old_content_counts(tmp_path):
    path = tmp_path / "db.log"
    old = b"old run line\n" * 50  # 650 bytes
    path.write_bytes(old)
    log = ServiceLog(path, max_bytes=1000)
    log.note("=== restarted")  # 14 bytes: 664
    run(log, PRINT_NUMBERED.format(n=30))
    log.close()
    lines = numbered(30)
    # 664 + 16 * 20 = 984: the 17th line no longer fits
    assert (tmp_path / "db.log.1").read_bytes() == old + b"=== restarted\n" + b"".join(lines[:16])
    assert path.read_bytes() == b"".join(lines[16:])


def test_a_note_after_an_unterminated_line_starts_a_new_line(tmp_path):
    path = tmp_path / "db.log"
    path.write_bytes(b"killed mid-li")
    log = ServiceLog(path)
    log.note("=== restarted")
    log.close()
    assert path.read_bytes() == b"killed mid-li\n=== restarted\n"


def test_invalid_utf8_and_a_partial_last_line_are_kept_as_bytes(tmp_path):
    log = ServiceLog(tmp_path / "db.log")
    run(log, r"import sys; sys.stdout.buffer.write(b'ok\n\xff\xfe bad \xc3\x28\nno newline \xe2\x82')")
    assert log.wait(5)  # as the supervisor does: the child's last bytes are in before a note
    log.note("=== exited")
    log.close()
    assert log.path.read_bytes() == b"ok\n\xff\xfe bad \xc3\x28\nno newline \xe2\x82\n=== exited\n"


def test_close_gives_up_on_a_grandchild_that_holds_the_pipe(tmp_path):
    log = ServiceLog(tmp_path / "db.log")
    proc = subprocess.Popen(["sh", "-c", "echo started; sleep 30 & exit 0"], stdin=subprocess.DEVNULL,
                            stdout=log.write_end, stderr=subprocess.STDOUT, start_new_session=True)
    log.started()
    try:
        assert proc.wait(10) == 0
        assert log.wait(0.3) is False  # the sleep still holds the write end
        since = time.monotonic()
        log.close(timeout=1.0)
        took = time.monotonic() - since
        assert 1.0 <= took < 1.0 + logs.POLL_SECONDS + 1.0
        assert log.path.read_bytes() == b"started\n"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the sleep, in the shell's session
        except ProcessLookupError:
            pass


def test_close_without_started_after_popen_failed_leaks_nothing(tmp_path):
    fds = open_fds()
    log = ServiceLog(tmp_path / "db.log")
    assert open_fds() == fds + 3  # the file and the pipe's two ends
    with pytest.raises(FileNotFoundError):
        subprocess.Popen([str(tmp_path / "no-such-program")], stdout=log.write_end, stderr=subprocess.STDOUT)
    since = time.monotonic()
    log.close()
    log.close()  # idempotent
    assert time.monotonic() - since < 0.5
    assert open_fds() == fds
    with pytest.raises(ValueError):
        log.note("too late")


def test_write_errors_keep_the_pipe_drained_and_are_remembered(tmp_path, monkeypatch):
    log = ServiceLog(tmp_path / "db.log")

    def disk_full(_data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(log, "_write_fd", disk_full)
    # 4 MiB, far more than a pipe holds: the child ends only if we keep reading
    run(log, "import sys\nfor _ in range(512): sys.stdout.write('w' * 8191 + '\\n')", timeout=20)
    log.close()
    assert log.error is not None and log.error.errno == errno.ENOSPC
    assert log.path.read_bytes() == b""


@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="no /dev/full")
def test_a_real_full_device_keeps_the_pipe_drained(tmp_path):
    path = tmp_path / "db.log"
    path.symlink_to("/dev/full")  # every write fails with ENOSPC
    log = ServiceLog(path)
    run(log, "import sys\nfor _ in range(512): sys.stdout.write('w' * 8191 + '\\n')", timeout=20)
    log.close()
    assert log.error is not None and log.error.errno == errno.ENOSPC


def test_writing_resumes_after_an_error_and_says_what_was_lost(tmp_path, monkeypatch):
    log = ServiceLog(tmp_path / "db.log")
    real = log._write_fd
    failures = []

    def fails_three_times(data):
        if len(failures) < 3:
            code = errno.EIO if failures else errno.ENOSPC
            failures.append(bytes(data))
            raise OSError(code, os.strerror(code))
        return real(data)

    monkeypatch.setattr(log, "_write_fd", fails_three_times)
    run(log, PRINT_NUMBERED.format(n=5000))
    log.close()
    expected = b"".join(numbered(5000))
    content = log.path.read_bytes()
    first, rest = content.split(b"\n", 1)
    match = re.fullmatch(rb"=== mspass: (\d+) bytes of output lost: cannot write .*db\.log: .*No space.*",
                         first)
    assert match, first
    # the lost line may itself have failed once: it reports every byte of the child's lost
    lost = sum(len(x) for x in failures if not x.startswith(b"=== mspass"))
    assert int(match.group(1)) == lost == len(expected) - len(rest)
    assert expected.endswith(rest)
    assert log.error is not None and log.error.errno == errno.ENOSPC  # the first error, not the last


def test_output_lost_to_the_last_writes_is_reported_at_close(tmp_path, monkeypatch):
    """Every chunk of a quick child failed (a full disk): close() still says what was lost."""
    log = ServiceLog(tmp_path / "db.log")
    real = log._write_fd
    failing = [True]
    monkeypatch.setattr(log, "_write_fd", lambda data: real(data) if not failing[0] else os.write(-1, data))
    run(log, PRINT_NUMBERED.format(n=100))
    assert log.wait(5)
    failing[0] = False  # the disk has room again by the time the service ends
    log.close()
    content = log.path.read_bytes()
    assert re.fullmatch(rb"=== mspass: 2000 bytes of output lost: cannot write .*db\.log: .*Bad file descriptor.*\n",
                        content), content


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"backups": -1}])
def test_nonsense_limits_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        ServiceLog(tmp_path / "db.log", **kwargs)


def test_logs_are_the_owners_alone_new_rotated_and_earlier_ones(tmp_path):
    """A log may hold a secret a service printed (Jupyter's URL with its token): mode 0600
    whatever the umask, also for a fresh file after rotation and for one left readable."""
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "jupyter-n1.log"
        log = ServiceLog(path, max_bytes=40, backups=1)
        assert path.stat().st_mode & 0o777 == 0o600
        log.note("http://127.0.0.1:8888/lab?token=abc123")
        log.note("a second line, past max_bytes: the file rotates")
        log.close()
        assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
            "jupyter-n1.log": 0o600, "jupyter-n1.log.1": 0o600}

        earlier = tmp_path / "db-n1.log"
        earlier.write_text("an earlier version's log\n")
        earlier.chmod(0o644)
        ServiceLog(earlier).close()
        assert earlier.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)
