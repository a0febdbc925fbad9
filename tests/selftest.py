"""Grade a tree with this suite in a pytest run of its own: the grader's self-tests, and
tools/stability.py, use it to see which verdicts the suite gives a known solution."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

ALTERNATIVES = Path(__file__).with_name("alternatives")
BROKEN = Path(__file__).with_name("broken")


def tree_of(folders: dict[str, Path], root: Path) -> Path:
    """A student-like tree: `folders` maps an assignment to the folder that answers it.

    The repository's static pages come along, and so does the data an assignment ships
    (ws_file_server/files/), which a student copies rather than writes.
    """
    tree = root / "solutions"
    for name, folder in folders.items():
        shutil.copytree(folder, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        for data in (harness.REPO / name).iterdir():
            target = tree / name / data.name
            if data.is_dir() and data.name != "__pycache__" and not target.exists():
                shutil.copytree(data, target)
    if (harness.REPO / "static").is_dir():
        shutil.copytree(harness.REPO / "static", tree / "static")
    return tree


def grade(tree: Path, *args: str, jobs: int = 0, timeout: float = 900) -> tuple[dict, str]:
    """Run the suite against `tree`; return the results.json it wrote and the run's output.

    `jobs` is pytest-xdist's -n (0: one test at a time). Raises AssertionError when the run
    left no results (it crashed, or its options were wrong).
    """
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-c", str(harness.REPO / "pyproject.toml"),
             "--rootdir", str(harness.REPO), f"--solutions={tree}", f"--grade-json={results}",
             "-n", str(jobs), "-q", "-p", "no:cacheprovider", *args],
            cwd=harness.REPO, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        output = run.stdout[-4000:] + run.stderr[-2000:]
        assert results.is_file(), f"the suite did not run:\n{output}"
        return json.loads(results.read_text("utf-8")), output


def verdicts(results: dict) -> dict[str, str]:
    """Each test's verdict: passed, failed, or not run (because its gate failed)."""
    found = {}
    for test in results["tests"]:
        not_run = test["status"] == "failed" and test["output"].find("**Not run:**") >= 0
        found[test["name"]] = "not run" if not_run else test["status"]
    return found
