"""tools/classroom/classroom.yml and tools/check.py: the GitHub Classroom workflow, and the
check a student runs before submitting.

Only GitHub can run the workflow; here it must be valid, have the steps Classroom's reporter
needs, and its grading command - run exactly as written, against a copy of the reference
echo_tcp - must report full points in the format of Classroom's runners. The student's check
must leave out the tests that Gradescope does not show a student (tests/weights.toml
[visibility]), in a run of its own and on xdist workers too. Marked `unit`: they test this
repository's tooling.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grading
import harness
import pytest
import yaml

sys.path.insert(0, str(harness.REPO / "tools"))
import check

pytestmark = pytest.mark.unit

WORKFLOW = harness.REPO / "tools" / "classroom" / "classroom.yml"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
# The visibility the student-check tests give echo_tcp's tests in a copy of the suite.
VISIBILITY = """[visibility]
robustness = "hidden"
"test_contract.py::test_client_survives_input_that_is_not_utf8" = "visible"
"test_echo_tcp.py::test_long_reply_is_printed_whole" = "after_due_date"
"""


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the variables of the pytest run that tests us."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop(harness.SOLUTIONS_ENV, None)
    return {**env, **extra}


def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    data["on"] = data.pop("on", None) or data.pop(True, None)  # YAML 1.1 reads `on` as true
    return data


def steps() -> list[dict]:
    (job,) = workflow()["jobs"].values()
    return job["steps"]


def grading_step() -> dict:
    (step,) = [s for s in steps() if "check.py" in s.get("run", "")]
    return step


# --- the workflow --------------------------------------------------------------------------------
def test_workflow_has_the_steps_classroom_needs():
    data = workflow()
    assert "push" in data["on"] and data["permissions"]["checks"] == "write"
    env = data["env"]
    assert re.fullmatch(r"[0-9a-f]{40}", env["COURSE_REF"]), "COURSE_REF must be a full commit"
    assert set(env["ASSIGNMENTS"].split()) <= set(grading.ASSIGNMENTS)
    (job,) = data["jobs"].values()
    assert job["runs-on"].startswith("ubuntu") and "github-classroom[bot]" in job["if"]
    checkouts = {s["with"]["path"]: s["with"] for s in job["steps"]
                 if s.get("uses", "").startswith("actions/checkout@")}  # fmt: skip
    assert set(checkouts) == {"submission", "suite"}
    assert checkouts["suite"]["repository"] == "${{ env.COURSE_REPOSITORY }}"
    assert checkouts["suite"]["ref"] == "${{ env.COURSE_REF }}"
    install = "\n".join(s.get("run", "") for s in job["steps"])
    tools = ["uv sync --locked --project suite", "netcat-openbsd", "curl", "redis-server",
              "playwright install --with-deps chromium", "CHROMIUM="]  # fmt: skip
    for needed in tools:
        assert needed in install, f"the workflow does not install {needed}"
    grade = grading_step()
    (reporter,) = [s for s in job["steps"] if s.get("uses") == REPORTER]
    assert job["steps"][-1] is reporter, "the reporter comes last, after the grading step"
    assert reporter["with"]["runners"] == grade["id"]
    assert reporter["env"] == {f"{grade['id'].upper()}_RESULTS":
                               f"${{{{ steps.{grade['id']}.outputs.result }}}}"}  # fmt: skip
    assert re.fullmatch(r"[a-zA-Z0-9]+", grade["id"]), "the reporter's runners are alphanumeric"
    for step in job["steps"]:
        if "uses" in step:
            assert re.search(r"@v\d+$", step["uses"]), f"pin a major version: {step['uses']}"
        if "run" in step:
            syntax = subprocess.run(["bash", "-n", "-c", step["run"]], capture_output=True)
            assert syntax.returncode == 0, f"{step['name']}: {syntax.stderr.decode()}"


@pytest.mark.timeout(300)
def test_workflow_command_grades_the_reference_with_full_points(tmp_path: Path):
    """The grading step's command, as written, in a workspace laid out as the workflow's:
    the course repository in suite/, the student's repository in submission/."""
    (tmp_path / "suite").symlink_to(harness.REPO)
    submission = tmp_path / "submission"
    shutil.copytree(harness.REPO / "echo_tcp", submission / "echo_tcp",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    env = clean_env(**workflow()["env"], GITHUB_OUTPUT=str(outputs))
    assert env["ASSIGNMENTS"] == "echo_tcp", "the test expects the template's own assignment"
    run = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", grading_step()["run"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=12 * harness.WAIT,
    )  # fmt: skip
    output = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    lines = outputs.read_text().splitlines()
    assert lines[0] == "earlier=1", "GITHUB_OUTPUT is appended to, not replaced"
    (encoded,) = [line.removeprefix("result=") for line in lines if line.startswith("result=")]
    result = json.loads(base64.b64decode(encoded))
    assert result["version"] == 1 and result["status"] == "pass", output
    assert result["max_score"] == 10
    assert abs(sum(t["score"] for t in result["tests"]) - 10) < 0.01 * len(result["tests"])
    assert {t["status"] for t in result["tests"]} == {"pass"}
    assert "Classroom: 10 / 10 points (pass)" in run.stdout


def test_classroom_result_adds_up_and_withholds_what_is_not_visible():
    def test(number, name, status, score, visibility="visible"):
        return {"number": number, "name": name, "status": status, "score": score,
                "max_score": 2, "output": f"feedback of {name}", "tags": ["echo_tcp", "core"],
                "visibility": visibility}  # fmt: skip

    results = {"score": 5, "extra_data": {"max_score": 10}, "tests": [
        test("1.1", "a", "passed", 2), test("1.2", "b", "failed", 0),
        test("1.3", "secret", "passed", 2, "hidden"),
        test("1.4", "later", "passed", 1, "after_due_date")]}  # fmt: skip
    result = check.classroom_result(results, 10)
    assert result["status"] == "fail" and result["max_score"] == 10
    assert sum(t["score"] for t in result["tests"]) == 5
    text = json.dumps(result)
    assert "feedback of b" in text and "secret" not in text and "later" not in text
    assert [t["name"] for t in result["tests"]][-1] == "echo_tcp: 2 tests shown after grading"
    for runner_test in result["tests"]:
        assert set(runner_test) >= {"name", "status", "score", "message", "test_code", "line_no"}
    stopped = check.classroom_result(results, 10, "the test suite did not finish: stopped")
    assert stopped["status"] == "error" and sum(t["score"] for t in stopped["tests"]) == 0
    assert stopped["tests"][-1]["status"] == "error"
    crashed = check.classroom_result(None, 10, "pytest exit status 4")
    assert crashed["max_score"] == 10 and [t["status"] for t in crashed["tests"]] == ["error"]


# --- the student's check -------------------------------------------------------------------------
@pytest.fixture
def suite_with_visibility(tmp_path: Path) -> Path:
    """A copy of the suite whose weights.toml withholds some of echo_tcp's tests."""
    suite = tmp_path / "suite"
    for name in ("tests", "tools"):
        skip = shutil.ignore_patterns("__pycache__", "alternatives", "broken")
        shutil.copytree(harness.REPO / name, suite / name, ignore=skip)
    shutil.copy(harness.REPO / "pyproject.toml", suite)
    weights = suite / "tests" / "weights.toml"
    text = weights.read_text("utf-8")
    assert text.count("\n[visibility]\n") == 1
    weights.write_text(text.replace("\n[visibility]\n", "\n" + VISIBILITY), "utf-8")
    shutil.copytree(harness.REPO / "echo_tcp", tmp_path / "mine" / "echo_tcp",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return suite


def run_check(suite: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(suite / "tools" / "check.py"), *args], cwd=cwd,
                          env=clean_env(), capture_output=True, text=True,
                          timeout=6 * harness.WAIT)  # fmt: skip


def test_student_check_leaves_out_what_gradescope_does_not_show(suite_with_visibility: Path):
    mine = suite_with_visibility.parent / "mine"
    shown = run_check(suite_with_visibility, "echo_tcp", "--", "--collect-only", "-q", cwd=mine)
    everything = run_check(suite_with_visibility, "--all", str(mine / "echo_tcp"), "--",
                           "--collect-only", "-q", cwd=suite_with_visibility)  # fmt: skip
    ids = {name: set(re.findall(r"^tests/\S+", run.stdout, re.M))
           for name, run in (("shown", shown), ("all", everything))}  # fmt: skip
    assert ids["shown"] and ids["all"], shown.stdout + shown.stderr + everything.stderr
    left_out = ids["all"] - ids["shown"]
    assert left_out == {
        "tests/test_contract.py::test_garbage_and_resets_do_not_stop_the_server[echo_tcp]",
        "tests/test_echo_tcp.py::test_long_reply_is_printed_whole",
    }, left_out
    assert (
        "tests/test_contract.py::test_client_survives_input_that_is_not_utf8[echo_tcp]"
        in (ids["shown"])
    ), "a test's own `visible` wins over its hidden tier"
    assert not ids["shown"] - ids["all"]


def test_student_check_runs_the_visible_tests_on_xdist_workers(suite_with_visibility: Path):
    """A real run, two tests at once: the filter works in the workers, which collect the tests
    themselves, and the student hears what was left out."""
    mine = suite_with_visibility.parent / "mine"
    run = run_check(suite_with_visibility, "--solutions=.", "echo_tcp", "-n", "2", "--", "-k",
                    "gate or long_reply or garbage or not_utf8", "-rA", cwd=mine)  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    passed = set(re.findall(r"^PASSED (\S+)", run.stdout, re.M))
    assert passed == {"tests/test_contract.py::test_gate_server[echo_tcp]",
                      "tests/test_contract.py::test_gate_client[echo_tcp]",
                      "tests/test_contract.py::test_client_survives_input_that_is_not_utf8"
                      "[echo_tcp]"}, output  # fmt: skip
    assert "grade for" in run.stdout and "Left out, as Gradescope does not show them" in output
    assert "robustness = hidden" in output and "= after_due_date" in output


def test_student_check_says_what_it_cannot_check(tmp_path: Path):
    run = run_check(harness.REPO, "--solutions", str(tmp_path), cwd=tmp_path)
    assert run.returncode != 0 and "no assignment folder in" in run.stderr
    run = run_check(harness.REPO, "not_an_assignment", cwd=tmp_path)
    assert run.returncode != 0 and "not an assignment, nor a folder named after one" in run.stderr
