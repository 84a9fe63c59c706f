"""A program on a pseudo-terminal (tmux-free): what a user types in a terminal, tested."""

from __future__ import annotations

import os
import pty
import re
import select

from tests.support.wait import wait_until


class Terminal:
    """A program on a pseudo-terminal, as a user runs it in theirs: Ctrl-C is a keystroke
    the terminal turns into SIGINT for the program's process group."""

    def __init__(self, argv: list[str], cwd, env: dict[str, str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec, never return into pytest
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], argv, {**os.environ, **env})
            finally:
                os._exit(127)
        self.text = ""

    def read(self) -> str:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the program ended and closed the terminal
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace")
        return self.text

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        return wait_until(lambda: re.search(pattern, self.read()), timeout, f"{pattern!r} on the terminal",
                          details=lambda: self.text[-3000:])

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait_exit(self, timeout: float) -> int:
        def ended():
            self.read()  # keep the terminal drained: a full one would block the program
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            return (status,) if pid else None

        status, = wait_until(ended, timeout, "the program's exit", details=lambda: self.text[-3000:])
        self.read()
        return os.waitstatus_to_exitcode(status)
