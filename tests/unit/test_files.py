"""mspass_roles/files.py: private files."""

from __future__ import annotations

import stat

import pytest

from mspass_roles.files import write_private


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
