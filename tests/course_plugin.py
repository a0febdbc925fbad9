"""The suite's command-line options, loaded with `-p course_plugin` (see pyproject.toml).

`pytest --solutions DIR` (or COURSE_SOLUTIONS=DIR) runs the whole suite against a student's
tree laid out like this repository; tests marked `unit` import this repository's modules and
are skipped then.

Why a plugin and not conftest.py: pytest reads its options before it loads any conftest.py,
and while `--solutions` is still unknown it takes DIR for a test path and imports
DIR/tests/conftest.py - a student's code, running inside the grader. Registered by a `-p`
plugin, the option is known early and DIR is only ever a value.
"""

from __future__ import annotations

import os
from pathlib import Path

import harness
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--solutions",
        metavar="DIR",
        default=os.environ.get(harness.SOLUTIONS_ENV) or None,
        help="grade the scripts in DIR (laid out like this repository) instead of the "
        f"reference code; also ${harness.SOLUTIONS_ENV}",
    )


def pytest_configure(config: pytest.Config) -> None:
    solutions = config.getoption("--solutions")
    harness.set_solutions_root(Path(solutions).resolve() if solutions else None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not harness.grading():
        return
    skip = pytest.mark.skip(reason="unit test of the reference code; skipped under --solutions")
    for item in items:
        if "unit" in item.keywords:
            item.add_marker(skip)
