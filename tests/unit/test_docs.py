"""The README and --help say what the code does."""

from pathlib import Path

from mspass_roles.cli import help_text
from mspass_roles.settings import VARIABLE_NAMES, markdown_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


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
