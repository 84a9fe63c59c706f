"""Size-bounded, rotating service logs fed through a pipe.

A child given an open file as stdout writes to it directly, so its log grows without
bound. Instead the child writes into a pipe and a thread of ours appends to the file,
rotating it as logrotate does (path, path.1 ... path.N, path.1 the newest old one).

Rules:
- the file is split only between lines: an unterminated line is held in memory until
  its newline arrives, until EOF, or until it is max_bytes long;
- a line longer than max_bytes is split into pieces of max_bytes, each filling a file
  of its own, so no file ever exceeds max_bytes and nothing is held without bound;
- lines appear in the order they were completed; a note (a line from the supervisor)
  is never written inside a child's line;
- a failed write never stops the reading: the child must not block on a full pipe
  because its log cannot be written. The output is dropped, the first error kept in
  .error, and the next chunk tried again; once writing works, a line says how many
  bytes were lost;
- the files are their owner's alone (mode 0600, also one an earlier version left readable):
  a service may print a secret (Jupyter its URL with the token).

Usage by the supervisor:
    log = ServiceLog(path)
    log.note(f"=== starting {name}: {argv}")
    try:
        proc = subprocess.Popen(argv, stdout=log.write_end, stderr=subprocess.STDOUT)
    except OSError:
        log.close()
        raise
    log.started()
    ...  # once the child has exited:
    log.wait()  # its last lines are in the file: note() and tails come after them
    log.note(f"=== {name} exited with code {proc.returncode}")
    log.close()
"""

from __future__ import annotations

import errno
import os
import select
import threading
from pathlib import Path

from .files import open_private

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
CHUNK = 64 * 1024
#: how often the pump looks at the stop request while the pipe is quiet
POLL_SECONDS = 0.2
#: once close() gives up waiting for EOF, read at most this many chunks already in the
#: pipe: a chatty grandchild holding the pipe must not keep us reading forever
DRAIN_CHUNKS = 16


def log_tail(path: Path | None, lines: int = 40) -> list[str]:
    """The last `lines` lines of a log (of its last 16 KiB), [] when there is none."""
    if path is None:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return f.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


class ServiceLog:
    """A log file at `path` that takes a child's stdout+stderr from a pipe.

    Create it before Popen and pass `write_end` as stdout (stderr=subprocess.STDOUT);
    call started() once Popen succeeded, wait() and close() when the child has exited,
    close() alone when Popen failed. Raises OSError if the file cannot be opened.
    """

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS):
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        if backups < 0:
            raise ValueError(f"backups must not be negative, not {backups}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        #: the first OSError met while writing or rotating the file, None if none
        self.error: OSError | None = None

        self._lock = threading.Lock()  # the pump and note() share the file and counters
        self._fd: int | None = None  # the log file, opened O_APPEND
        self._size = 0  # bytes in the current file, counted as we write
        self._at_line_start = True  # the file ends with a newline (or is empty)
        self._pending = bytearray()  # the unterminated line read so far
        self._lost = 0  # bytes not written since the last successful write
        self._file_closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._open():
            raise self.error
        self._at_line_start = _ends_with_newline(self.path)
        try:
            self._read_end, self.write_end = os.pipe()  # both close-on-exec (PEP 446)
        except OSError:
            os.close(self._fd)
            raise

    # ------------------------------------------------------------------ lifecycle
    def started(self) -> None:
        """Popen succeeded: drop our copy of the write end and start copying the pipe.

        Without our copy, EOF arrives once the child and every descendant that
        inherited its stdout have exited.
        """
        if self._thread is not None or self._closed:
            return
        os.close(self.write_end)
        self.write_end = None
        self._thread = threading.Thread(target=self._pump, name=f"log {self.path.name}", daemon=True)
        self._thread.start()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` s for EOF; True once everything read is in the file.

        Call it when the child has exited, before note() or reading the file's tail, so
        that the child's last lines are there first. True at once if never started.
        """
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to `timeout` s for EOF, then stop reading; write what is held; close.

        A daemonised grandchild may hold the pipe open for ever, hence the bound: past
        it we read what is already in the pipe and close our end. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self.write_end is not None:  # started() was never called (Popen failed)
            os.close(self.write_end)
            self.write_end = None
        if self._thread is None:
            os.close(self._read_end)
        elif not self.wait(timeout):
            self._stop.set()
            # the pump sees the request within POLL_SECONDS and reads at most
            # DRAIN_CHUNKS more; only a write stuck in the kernel (hung disk) holds it up
            self._thread.join()
        with self._lock:
            self._flush_pending()
            if self._lost:  # the last writes failed: one more try to say what was lost
                self._emit(b"")
            self._file_closed = True
            self._close_file()

    # ------------------------------------------------------------------ writing
    def note(self, text: str) -> None:
        """Append a line of the supervisor's own, after every complete line read so far."""
        data = text.encode("utf-8", "backslashreplace")
        if not data.endswith(b"\n"):
            data += b"\n"
        with self._lock:
            if self._file_closed:
                raise ValueError(f"note on closed log {self.path}")
            if not self._at_line_start:  # e.g. an earlier run's last line had no newline
                data = b"\n" + data
            self._emit(data)

    def _pump(self) -> None:
        # owns the read end: closing it under a thread blocked on it could make the
        # thread read an unrelated file that reuses the number
        poller = select.poll()
        poller.register(self._read_end, select.POLLIN)
        drained = 0
        try:
            while True:
                stopping = self._stop.is_set()
                if stopping:
                    drained += 1
                    if drained > DRAIN_CHUNKS:
                        break
                ready = poller.poll(0 if stopping else int(POLL_SECONDS * 1000))
                if not ready:
                    if stopping:
                        break
                    continue
                chunk = os.read(self._read_end, CHUNK)
                if not chunk:  # EOF: every writer has exited
                    break
                with self._lock:
                    self._feed(chunk)
        except OSError as err:  # the pipe itself failed: nothing more can be read
            with self._lock:
                self._fail(err)
        finally:
            os.close(self._read_end)
            with self._lock:
                self._flush_pending()

    def _feed(self, chunk: bytes) -> None:
        """Write the complete lines; hold the unterminated rest (lock held)."""
        newline = chunk.rfind(b"\n")  # search only the new bytes: the held ones have none
        if newline >= 0:
            end = len(self._pending) + newline + 1
            self._pending += chunk
            self._emit(bytes(self._pending[:end]))
            del self._pending[:end]
        else:
            self._pending += chunk
        while len(self._pending) >= self.max_bytes:  # a line longer than a file: split it
            self._emit(bytes(self._pending[:self.max_bytes]))
            del self._pending[:self.max_bytes]

    def _flush_pending(self) -> None:
        """Write the held unterminated line as it is (at EOF or close; lock held)."""
        if self._pending and not self._file_closed:
            self._emit(bytes(self._pending))
        self._pending.clear()

    def _emit(self, block: bytes) -> None:
        """Write block, preceded by a line about output lost to earlier write errors."""
        if self._lost:
            lost, self._lost = self._lost, 0
            prefix = "" if self._at_line_start else "\n"
            line = (f"{prefix}=== mspass: {lost} bytes of output lost: "
                    f"cannot write {self.path}: {self.error}\n")
            if not self._write_block(line.encode("utf-8", "backslashreplace")):
                self._lost = lost  # say it next time; the line's own bytes do not count
        self._write_block(block)

    def _write_block(self, block: bytes) -> bool:
        """Append block, rotating first at the last line end that still fits."""
        ok = True
        while block:
            room = self.max_bytes - self._size
            if len(block) <= room:
                return self._write(block) and ok
            cut = block.rfind(b"\n", 0, max(room, 0)) + 1
            if cut == 0 and self._size == 0:
                cut = self.max_bytes  # a piece of an over-long line fills a file alone
            if cut:
                ok = self._write(block[:cut]) and ok
                block = block[cut:]
            if not self._rotate():
                return self._write(block) and ok  # over the limit rather than lose output
        return ok

    def _write(self, data: bytes) -> bool:
        """Append data to the current file; on error count it lost and say False."""
        if self._fd is None and not self._open():
            self._lost += len(data)
            return False
        view = memoryview(data)
        while view:
            try:
                n = self._write_fd(view)
                if n == 0:  # cannot happen for a file; guards the loop against spinning
                    raise OSError(errno.EIO, "write wrote nothing")
            except OSError as err:
                self._fail(err)
                self._lost += len(view)
                return False
            self._size += n
            self._at_line_start = view[n - 1] == ord("\n")
            view = view[n:]
        return True

    def _write_fd(self, data: memoryview) -> int:
        # the one place bytes reach the file: tests replace it to simulate a full disk
        return os.write(self._fd, data)

    # ------------------------------------------------------------------ files
    def _open(self) -> bool:
        if self._file_closed:  # nothing is written after close(), not even a lost-bytes line
            return False
        try:
            # the owner's alone: a log may hold a secret a service printed (Jupyter's URL with its token)
            self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size  # an earlier run's log counts too
        except OSError as err:
            self._fail(err)
            self._fd = None
            return False
        return True

    def _rotate(self) -> bool:
        """path.(n-1) -> path.n ... path -> path.1, then a fresh path. True if it is empty."""
        self._close_file()
        self._size = 0
        try:
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
            else:
                for n in range(self.backups - 1, 0, -1):
                    older = self._backup(n)
                    if older.exists():
                        os.replace(older, self._backup(n + 1))
                os.replace(self.path, self._backup(1))
        except OSError as err:
            self._fail(err)
        return self._open() and self._size == 0

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError as err:  # e.g. EIO on a network file system: data lost, say so
                self._fail(err)

    def _backup(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _fail(self, err: OSError) -> None:
        if self.error is None:
            self.error = err


def _ends_with_newline(path: Path) -> bool:
    """True if the file is empty or its last byte is a newline (reads one byte)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return True
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:
        return True
