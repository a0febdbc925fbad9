"""Honest grading: correct solutions written differently from the reference must pass.

tests/alternatives/<folder>/<variant>/ holds a server.py and client.py for an assignment that
keep the contract and the folder README's protocol but differ from the reference wherever a
student may differ (asyncio instead of threads, other wording, other structure, other limits). The
suite runs against each one with --solutions, and every test that ran must pass: a failure
means the test asserts the reference's phrasing or structure instead of required behaviour.
Marked `unit`: they test this repository, not a student's folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grading
import harness
import pytest

pytestmark = pytest.mark.unit

ALTERNATIVES = Path(__file__).with_name("alternatives")
# tests/alternatives/<assignment>/<variant>/: one or more correct solutions per assignment.
SOLUTIONS = sorted(
    f"{path.parent.name}/{path.name}"
    for path in ALTERNATIVES.glob("*/*")
    if path.is_dir() and any((path / name).is_file() for name in ("server.py", "client.py"))
)
FOLDERS = sorted({solution.split("/")[0] for solution in SOLUTIONS})
SUITE_TIMEOUT = 600  # seconds for one assignment's suite, run one test at a time


def build_tree(solution: str, root: Path) -> Path:
    """A student-like tree: the alternative folder, plus the repository's static pages."""
    folder = solution.split("/")[0]
    tree = root / "solutions"
    shutil.copytree(
        ALTERNATIVES / solution, tree / folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    if (harness.REPO / "static").is_dir():
        shutil.copytree(harness.REPO / "static", tree / "static")
    # Data an assignment ships (ws_file_server/files/) a student copies rather than writes.
    for data in (harness.REPO / folder).iterdir():
        target = tree / folder / data.name
        if data.is_dir() and data.name != "__pycache__" and not target.exists():
            shutil.copytree(data, target)
    return tree


def test_every_alternative_names_an_assignment():
    unknown = [folder for folder in FOLDERS if folder not in grading.ASSIGNMENTS]
    assert not unknown, f"tests/alternatives/ has folders that are no assignment: {unknown}"


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
@pytest.mark.parametrize("solution", SOLUTIONS)
def test_alternative_solution_passes_the_suite(solution: str, tmp_path: Path):
    folder = solution.split("/")[0]
    if folder not in grading.ASSIGNMENTS:
        pytest.skip(f"{folder} is not an assignment")
    tree = build_tree(solution, tmp_path)
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(harness.REPO / "pyproject.toml"),
         "--rootdir", str(harness.REPO), f"--solutions={tree}", "--assignment", folder,
         f"--grade-json={results}", "-n", "0", "-q", "-p", "no:cacheprovider"],
        cwd=harness.REPO, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
    )  # fmt: skip
    assert results.is_file(), f"the suite did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    tests = json.loads(results.read_text("utf-8"))["tests"]
    assert tests, f"no test of {folder} ran:\n{run.stdout[-3000:]}"
    failed = [t for t in tests if t["score"] < t["max_score"]]
    report = "\n\n".join(f"=== {t['name']}\n{t['output'][-2500:]}" for t in failed)
    assert not failed, (
        f"{len(failed)} of {len(tests)} tests failed against the alternative solution "
        f"tests/alternatives/{solution}; each asserts something beyond the contract and the "
        f"assignment, or the alternative is wrong:\n{report}"
    )
