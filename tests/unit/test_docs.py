"""The README, docs/ and --help say what the code does, and the docs' links lead somewhere."""

import os
from pathlib import Path

from mspass_roles.cli import help_text
import dataclasses
import re

from mspass_roles.settings import DEFAULT_PORTS, VARIABLE_NAMES, VARIABLES, Settings, markdown_table

from tests.support.paths import REPO

README = (REPO / "README.md").read_text()
# the environment contract, with the generated table between these two markers
CONFIGURATION = REPO / "docs" / "configuration.md"
TABLE_START = "<!-- generated from mspass_roles.settings.markdown_table()"
TABLE_END = "<!-- end of the generated table -->"
# every page of the documentation: the README, CONTRIBUTING.md and docs/
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_configuration_page_has_the_environment_table_the_code_uses():
    """The table is generated: UPDATE_DOCS=1 rewrites it between its markers."""
    text = CONFIGURATION.read_text()
    head, rest = text.split(TABLE_START, 1)
    comment, rest = rest.split("-->", 1)
    _, tail = rest.split(TABLE_END, 1)
    fresh = f"{head}{TABLE_START}{comment}-->\n\n{markdown_table().strip()}\n{TABLE_END}{tail}"
    if os.environ.get("UPDATE_DOCS") and fresh != text:
        CONFIGURATION.write_text(fresh)
        text = fresh
    assert markdown_table() in text, ("docs/configuration.md's environment table differs from the code's: "
                                      "UPDATE_DOCS=1 .venv/bin/python -m pytest tests/unit/test_docs.py rewrites it")
    assert text.count(markdown_table().splitlines()[0]) == 1  # one table, in one file
    assert all(markdown_table().splitlines()[0] not in page.read_text() for page in DOCS if page != CONFIGURATION)


def test_help_lists_every_variable():
    text = help_text()
    assert all(name in text for name in VARIABLE_NAMES)


def test_readme_test_commands_are_make_targets():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    for target in ("install", "run-local", "test", "test-unit", "test-process", "bench"):
        assert f"\n{target}:" in makefile
        assert any(f"make {target}" in text or f"make install {target}" in text
                   for text in (page.read_text() for page in DOCS)), target


def test_every_setting_is_declared_once():
    fields = [var.field for var in VARIABLES]
    assert sorted(fields) == sorted(f.name for f in dataclasses.fields(Settings))  # no more, no fewer
    assert len(set(VARIABLE_NAMES)) == len(VARIABLE_NAMES)


def test_the_image_exposes_every_port_of_the_contract():
    expose = re.search(r"^EXPOSE (.*)$", (REPO / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert sorted(map(int, expose.split())) == sorted(DEFAULT_PORTS.values())


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces to
    hyphens, repeats numbered), outside code blocks."""
    anchors, seen = set(), {}
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if in_code or not (m := re.match(r"#{1,6} (.*)", line)):
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_every_relative_link_of_the_docs_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in DOCS:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in github_anchors(dest.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
