"""mspass_roles/files.py: private files."""

from __future__ import annotations

import os
import stat

import pytest

from mspass_roles.files import keep_output_private, write_private


def test_a_private_file_is_its_owners_alone_and_may_be_replaced(tmp_path):
    path = tmp_path / "conf"
    write_private(path, "first\n")
    write_private(path, "second\n")
    assert path.read_text() == "second\n" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_exclusive_private_file_is_never_replaced(tmp_path):
    path = tmp_path / "secret"
    write_private(path, "made once", exclusive=True)
    with pytest.raises(FileExistsError):
        write_private(path, "another", exclusive=True)
    assert path.read_text() == "made once" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_batch_jobs_output_file_is_made_private_and_a_pipe_left_alone(tmp_path):
    out = tmp_path / "mspass_42.out"
    out.write_text("")
    out.chmod(0o644)  # as Slurm makes it with a umask of 022
    read, write = os.pipe()
    with out.open("a") as job_output, os.fdopen(read) as r, os.fdopen(write, "w") as w:
        keep_output_private(job_output, w, object())  # object(): no file behind it
        assert stat.S_IMODE(os.fstat(w.fileno()).st_mode) == stat.S_IMODE(os.fstat(r.fileno()).st_mode)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
