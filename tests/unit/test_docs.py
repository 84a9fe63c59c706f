"""The README and --help say what the code does."""

from pathlib import Path

from mspass_roles.cli import help_text
import dataclasses
import re

from mspass_roles.settings import DEFAULT_PORTS, VARIABLE_NAMES, VARIABLES, Settings, markdown_table

from tests.support.paths import REPO

README = (REPO / "README.md").read_text()


def test_readme_has_the_environment_table_the_code_uses():
    assert markdown_table() in README


def test_help_lists_every_variable():
    text = help_text()
    assert all(name in text for name in VARIABLE_NAMES)


def test_readme_test_commands_are_make_targets():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    for target in ("install", "run-local", "test", "test-unit", "test-process", "bench"):
        assert f"\n{target}:" in makefile
        assert f"make {target}" in README or f"make install {target}" in README


def test_every_setting_is_declared_once():
    fields = [var.field for var in VARIABLES]
    assert sorted(fields) == sorted(f.name for f in dataclasses.fields(Settings))  # no more, no fewer
    assert len(set(VARIABLE_NAMES)) == len(VARIABLE_NAMES)


def test_the_image_exposes_every_port_of_the_contract():
    expose = re.search(r"^EXPOSE (.*)$", (REPO / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert sorted(map(int, expose.split())) == sorted(DEFAULT_PORTS.values())
