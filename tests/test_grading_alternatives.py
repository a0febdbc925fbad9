"""Honest grading: correct solutions written differently from the reference must pass.

tests/alternatives/<folder>/<variant>/ holds a server.py and client.py for an assignment that
keep the contract and the folder README's protocol but differ from the reference wherever a
student may differ (asyncio instead of threads, a selectors loop, other wording, other limits,
other structure, a greeting and an id in one frame, a send timeout instead of a byte bound).
The suite runs against each one with --solutions, and every `core` and `contract` test of its
assignment must pass: a failure means the test asserts the reference's phrasing or structure
instead of required behaviour. (`robustness` and `interface` tests may ask for more than a
correct solution must do, and weigh less.) Marked `unit`: they test this repository.
"""

from __future__ import annotations

import grading
import pytest
import selftest

pytestmark = pytest.mark.unit

SOLUTIONS = sorted(
    f"{path.parent.name}/{path.name}"
    for path in selftest.ALTERNATIVES.glob("*/*")
    if path.is_dir() and any((path / name).is_file() for name in ("server.py", "client.py"))
)
REQUIRED_TIERS = ["core", "contract"]


def test_every_alternative_names_an_assignment():
    unknown = [s for s in SOLUTIONS if s.split("/")[0] not in grading.ASSIGNMENTS]
    assert not unknown, f"tests/alternatives/ has folders that are no assignment: {unknown}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("solution", SOLUTIONS)
def test_alternative_solution_passes_the_suite(solution: str, tmp_path):
    folder = solution.split("/")[0]
    tree = selftest.tree_of({folder: selftest.ALTERNATIVES / solution}, tmp_path)
    tiers = [f"--tier={tier}" for tier in REQUIRED_TIERS]
    results, output = selftest.grade(tree, f"--assignment={folder}", *tiers, jobs=2)
    tests = results["tests"]
    assert tests, f"no test of {folder} ran:\n{output}"
    failed = [t for t in tests if t["status"] != "passed"]
    report = "\n\n".join(f"=== {t['name']}\n{t['output'][-2500:]}" for t in failed)
    assert not failed, (
        f"{len(failed)} of {len(tests)} tests failed against the alternative solution "
        f"tests/alternatives/{solution}; each asserts something beyond the contract and the "
        f"assignment, or the alternative is wrong:\n{report}"
    )
