"""Files only their owner may read (secrets, configurations that hold them, backups)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def open_private(path: Path, flags: int) -> int:
    """os.open of a file that only its owner may read: created 0600, and one of ours an earlier
    version left readable is made 0600 (O_CREAT is added to `flags`)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        found = os.fstat(fd)
        if found.st_mode & 0o077 and found.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write `text` to `path` with mode 0600 from its creation, so it is never readable by
    others, not even for an instant. `exclusive`: refuse to replace an existing file (a
    secret made once is never overwritten)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o600), "w") as f:
        f.write(text)


def keep_output_private(*streams) -> None:
    """A batch job's output file (Slurm's --output, made with the submitter's umask), which is
    to hold Jupyter's token, made 0600; a terminal, a pipe or somebody else's file is left as is."""
    for stream in streams:
        try:
            fd = stream.fileno()
            found = os.fstat(fd)
            if stat.S_ISREG(found.st_mode) and found.st_uid == os.getuid() and found.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        except (AttributeError, ValueError, OSError):
            continue
