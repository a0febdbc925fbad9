"""The suite's command-line options and its grading report, loaded with `-p course_plugin`.

    pytest --solutions=DIR                 grade the student tree DIR (or COURSE_SOLUTIONS=DIR)
    pytest --assignment chat_tcp ...       only these assignments (repeatable)
    pytest --tier core --tier contract     only these tiers (repeatable)
    pytest --time-scale 2                  every wait twice as long (or COURSE_TIME_SCALE=2)
    pytest --visible-only                  only what Gradescope shows a student (weights.toml)
    pytest --grade-json results.json       also write the scores as Gradescope's results.json

Under --solutions, tests marked `unit` (they import this repository's modules) are skipped,
and the run ends with a table of points per assignment and tier (tests/weights.toml).

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
        "--tier",
        action="append",
        metavar="TIER",
        choices=grading.TIERS,
        help="run only the tests of this tier (repeatable): " + ", ".join(grading.TIERS),
    )
    group.addoption(
        "--time-scale",
        type=float,
        metavar="X",
        default=float(os.environ.get(harness.TIME_SCALE_ENV) or 1),
        help="multiply every wait of the suite by X, for slow or loaded machines "
        f"(default 1; also ${harness.TIME_SCALE_ENV})",
    )
    group.addoption(
        "--visible-only",
        action="store_true",
        help="run only the tests whose visibility (tests/weights.toml) is `visible`: what "
        "Gradescope shows a student when they submit",
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
    scale = config.getoption("--time-scale")
    if not scale > 0:
        raise pytest.UsageError("--time-scale must be above 0")
    # More xdist workers than cores load the machine: every wait stretches in proportion,
    # so that a verdict does not depend on how many tests run beside it.
    # Only an xdist worker counts them: a pytest run that a self-test starts inherits its
    # parent's PYTEST_XDIST_WORKER_COUNT, and its time scale already (that would count twice).
    workers = config.workerinput["workercount"] if hasattr(config, "workerinput") else 0
    scale *= max(1.0, workers / (os.cpu_count() or 1))
    harness.configure_time_scale(scale)
    os.environ[harness.TIME_SCALE_ENV] = str(scale)  # for the scripts the self-tests start
    if not hasattr(config, "workerinput"):  # the xdist controller, or a run without xdist
        config.pluginmanager.register(grading.Report(config), "course_grading_report")


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`, the default: two workers per core. A test spends most of its time waiting
    for a script to start or answer, so two at a time keep a core busy."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own variable wins
    return 2 * (os.cpu_count() or 1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = grading.Settings.load()
    problems = grading.label_items(items, settings) + settings.unknown_keys(items)
    if problems:
        raise pytest.UsageError("the tests and tests/weights.toml disagree:\n  " +
                                "\n  ".join(problems))  # fmt: skip
    chosen, tiers = config.getoption("--assignment"), config.getoption("--tier")
    visible_only = config.getoption("--visible-only")
    keep = [
        item
        for item in items
        if (not chosen or grading.assignment_of(item.nodeid) in chosen)
        and (not tiers or grading.tier_of(item) in tiers)
        and (not visible_only or dict(item.user_properties).get("visibility") == "visible")
    ]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    if harness.grading():
        skip = pytest.mark.skip(reason="unit test of the reference code; skipped under --solutions")
        for item in items:
            if "unit" in item.keywords:
                item.add_marker(skip)
    if harness.TIME_SCALE != 1:  # pytest-timeout's limit per test scales too
        default = float(config.getini("timeout") or 0)
        for item in items:
            marker = item.get_closest_marker("timeout")
            limit = float(marker.args[0]) if marker and marker.args else default
            if limit:
                item.add_marker(pytest.mark.timeout(harness.scaled(limit)), append=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure, add what the test checks, what each script it ran printed, and the hint."""
    report = yield
    if report.failed:
        doc = inspect.cleandoc(getattr(getattr(item, "obj", None), "__doc__", None) or "")
        if doc and call.when == "call":
            report.sections.append(("what this test checks", doc))
        for proc in item.funcargs.get("procs", []) if hasattr(item, "funcargs") else []:
            report.sections.append((f"output of {proc.label}", proc.describe()))
        if call.when == "call" and (hint := grading.hint_of(item)):
            report.sections.append(("hint", hint))
    return report
