"""The repository's own shape: each folder a lesson file or two, its supplied modules, and a
README with the same sections (README.md, "How a folder is laid out"). Marked `unit`: they
check this repository, not a student's folder.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grading
import harness
import pytest

pytestmark = pytest.mark.unit

SUPPLIED = "Supplied: not part of the lesson, read it if you are curious."
LESSONS = {"server.py", "client.py", "handshake.py"}  # what a folder teaches
SECTIONS = ["What it shows", "Protocol", "Run it", "Try", "Notice"]


def modules(folder: str) -> list[Path]:
    return sorted((harness.REPO / folder).glob("*.py"))


def test_copies_of_a_supplied_module_are_identical():
    """console.py (and any other supplied module found in several folders) is the same file,
    byte for byte, in every folder: one piece of machinery, one text to read."""
    copies: dict[str, dict[bytes, list[str]]] = {}
    for folder in grading.ASSIGNMENTS:
        for path in modules(folder):
            if path.name not in LESSONS:
                copies.setdefault(path.name, {}).setdefault(path.read_bytes(), []).append(folder)
    differing = {name: list(texts.values()) for name, texts in copies.items() if len(texts) > 1}
    assert not differing, f"copies that differ (grouped by content): {differing}"
    assert len(next(iter(copies.get("console.py", {None: []}).values()))) >= 2


@pytest.mark.parametrize("folder", grading.ASSIGNMENTS)
def test_a_supplied_module_says_so_first(folder: str):
    """Every module beside the lesson files says on its first line that it is supplied."""
    for path in modules(folder):
        if path.name not in LESSONS:
            doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
            assert doc.startswith(SUPPLIED), f"{folder}/{path.name} must begin: {SUPPLIED}"


@pytest.mark.parametrize("folder", grading.ASSIGNMENTS)
def test_a_folder_imports_nothing_from_another_folder(folder: str):
    """Copy one folder and it runs: the standard library, its library, and its own modules."""
    own = {path.stem for path in modules(folder)}
    for path in modules(folder):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in set(grading.ASSIGNMENTS) - {folder}, f"{path} imports {name}"
                assert top in own or top not in {"console", "jsonlog"}, f"{path} imports {name}"


@pytest.mark.parametrize("folder", grading.ASSIGNMENTS)
def test_folder_readme_has_the_one_shape(folder: str):
    """A title, then What it shows · Protocol · Run it · Try · Notice in that order (more
    sections may follow), and no reference to files outside the repository."""
    text = (harness.REPO / folder / "README.md").read_text("utf-8")
    assert re.match(rf"# {folder} — \S", text), f"{folder}/README.md: title `# {folder} — ...`"
    headings = re.findall(r"^## (.+?)\s*$", text, re.M)
    assert headings[: len(SECTIONS)] == SECTIONS, f"{folder}/README.md sections: {headings}"
    for outside in ("../shared", "shared/seeds", "CONTRACT.md"):
        assert outside not in text, f"{folder}/README.md points outside the repository: {outside}"
