"""The suite's command-line options and its grading report, loaded with `-p course_plugin`.

    pytest --solutions=DIR                 grade the student tree DIR (or COURSE_SOLUTIONS=DIR)
    pytest --assignment chat_tcp ...       only these assignments (repeatable)
    pytest --grade-json results.json       also write the scores as Gradescope's results.json

Under --solutions, tests marked `unit` (they import this repository's modules) are skipped,
and the run ends with a table of points per assignment (weights in tests/weights.toml).

Why a plugin and not conftest.py: pytest reads its options before it loads any conftest.py,
and while an option is still unknown it takes its value for a test path and imports
DIR/tests/conftest.py - a student's code, running inside the grader. Registered by a `-p`
plugin, the option is known early. Even earlier, pytest picks its configuration file from
the paths it sees, so the value must be attached: `--solutions=DIR`.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import grading
import harness
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grading")
    group.addoption(
        "--solutions",
        metavar="DIR",
        default=os.environ.get(harness.SOLUTIONS_ENV) or None,
        help="grade the scripts in DIR (laid out like this repository) instead of the "
        f"reference code; also ${harness.SOLUTIONS_ENV}",
    )
    group.addoption(
        "--assignment",
        action="append",
        metavar="NAME",
        choices=grading.ASSIGNMENTS,
        help="run only this assignment's tests (repeatable): " + ", ".join(grading.ASSIGNMENTS),
    )
    group.addoption(
        "--grade-json",
        metavar="FILE",
        help="write the scores to FILE in the shape of Gradescope's results.json",
    )


def pytest_configure(config: pytest.Config) -> None:
    if "--solutions" in config.invocation_params.args:
        raise pytest.UsageError(
            "write --solutions=DIR, with '=' (or set COURSE_SOLUTIONS=DIR): pytest decides "
            "where its configuration is before it knows this option, so with a space it takes "
            "DIR for a test path and may load the configuration and conftest.py found there"
        )
    solutions = config.getoption("--solutions")
    harness.set_solutions_root(Path(solutions).resolve() if solutions else None)
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(grading.Report(config), "course_grading_report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("--assignment")
    if chosen:
        deselected = [item for item in items if grading.assignment_of(item.nodeid) not in chosen]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item not in deselected]
    if harness.grading():
        skip = pytest.mark.skip(reason="unit test of the reference code; skipped under --solutions")
        for item in items:
            if "unit" in item.keywords:
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, add what the test checks and what each script it ran printed."""
    report = yield
    if report.failed:
        doc = inspect.cleandoc(getattr(getattr(item, "obj", None), "__doc__", None) or "")
        if doc and call.when == "call":
            report.sections.append(("what this test checks", doc))
        for proc in item.funcargs.get("procs", []) if hasattr(item, "funcargs") else []:
            report.sections.append((f"output of {proc.label}", proc.describe()))
    return report
