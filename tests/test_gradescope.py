"""tools/gradescope.py: the autograder zip, and run_autograder grading submissions in a folder
laid out like Gradescope's /autograder, each results.json checked against Gradescope's
specification (gradescope/autograder_samples, docs/specs.md).

run_autograder runs here without setup.sh: AUTOGRADER_PYTHON points it at this environment's
Python, and AUTOGRADER_USER at the current user. Each run grades one small part of echo_tcp
(AUTOGRADER_ARGS), so that the whole file takes seconds. Marked `unit`: they test this
repository's tooling, not a student's folder.
"""

from __future__ import annotations

import getpass
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import harness
import pytest

sys.path.insert(0, str(harness.REPO / "tools"))
import gradescope

pytestmark = pytest.mark.unit

FAST = "-k 'gate or test_one_message_comes_back_whole'"
HUNG_LIMIT = 2  # seconds for a whole run that must hit its time limit (below STARTUP_TIMEOUT)
CONFIG = {"assignments": ["echo_tcp"], "pytest_args": [], "timeout": 300, "time_scale": 1,
          "user": "student"}  # fmt: skip


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "autograder.zip"
    gradescope.build(path, CONFIG)
    return path


def unpack(archive: Path, root: Path) -> Path:
    """Lay out `root` as Gradescope does: the zip in source/, run_autograder beside it, an
    empty submission/ and results/. Returns the submission folder."""
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root / "source")
        for info in zipped.infolist():  # extractall drops the modes; Gradescope keeps them
            mode = info.external_attr >> 16
            if mode:
                (root / "source" / info.filename).chmod(stat.S_IMODE(mode))
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    return root / "submission"


def run_autograder(root: Path, **env: str) -> tuple[dict, str]:
    """Run root/run_autograder as Gradescope would; return results.json and its output."""
    settings = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
                "AUTOGRADER_USER": getpass.getuser(), "AUTOGRADER_ARGS": FAST}  # fmt: skip
    run = subprocess.run(
        [str(root / "run_autograder")],
        cwd=root,
        env={**os.environ, **settings, **env},
        capture_output=True,
        text=True,
        timeout=6 * harness.WAIT,
    )
    output = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    results = root / "results" / "results.json"
    assert results.is_file(), f"run_autograder wrote no results.json:\n{output}"
    return json.loads(results.read_text("utf-8")), output


def assert_conforms(results: dict) -> None:
    """Gradescope's specification, and what makes the scores add up."""
    problems = gradescope.check_results(results)
    assert not problems, f"results.json does not follow Gradescope's specification: {problems}"
    assert isinstance(results["score"], int | float) and results["output"]
    tests = results.get("tests", [])
    scored = [t for t in tests if "score" in t]
    for test in scored:
        assert 0 <= test["score"] <= test["max_score"], test
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
    if scored and results.get("extra_data", {}).get("graded", True):
        # Each test's score is rounded to 0.01: their sum may differ by that much per test.
        slack = 0.005 * len(scored) + 1e-9
        assert abs(sum(t["score"] for t in scored) - results["score"]) <= slack, results
        maximum = results["extra_data"]["max_score"]
        assert abs(sum(t["max_score"] for t in scored) - maximum) <= slack, results
    numbers = [t["number"] for t in tests]
    assert len(set(numbers)) == len(numbers), f"numbers repeat: {numbers}"


def reference_pair(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in gradescope.SCRIPTS:
        shutil.copy(harness.REPO / "echo_tcp" / name, folder / name)


# --- the zip -----------------------------------------------------------------------------------
def test_zip_holds_the_suite_and_what_students_get_but_no_solution(autograder_zip: Path):
    with zipfile.ZipFile(autograder_zip) as zipped:
        infos = {info.filename: info for info in zipped.infolist()}
        config = json.loads(zipped.read(gradescope.CONFIG_NAME))
        # An assignment folder's own modules (not the files in its data folders).
        supplied = {n: zipped.read(n) for n in infos if n.endswith(".py") and n.count("/") == 1
                    and n.split("/")[0] in gradescope.ASSIGNMENTS}  # fmt: skip
    for name in ("setup.sh", "run_autograder"):
        assert infos[name].external_attr >> 16 & 0o111, f"{name} is not executable in the zip"
    for name in ("pyproject.toml", "uv.lock", "tests/conftest.py", "tests/course_plugin.py",
                 "tests/weights.toml", "tests/test_echo_tcp.py", "static/index.html",
                 "tools/gradescope.py", "tools/check.py", "ws_file_server/files/myfile1.txt",
                 "chat_tcp/console.py"):  # fmt: skip
        assert name in infos, f"{name} is missing from the autograder"
    solutions = [n for n in infos if Path(n).name in gradescope.SCRIPTS
                 or n.startswith(("tests/alternatives/", "tests/broken/"))]  # fmt: skip
    assert not solutions, f"the autograder ships solutions: {solutions}"
    assert "ws_client/handshake.py" not in infos
    for name, text in supplied.items():
        assert text.startswith(b'"""Supplied'), f"{name} is an assignment's code, not supplied"
    assert not [n for n in infos if "__pycache__" in n or n.startswith(".venv")]
    assert config == CONFIG


def test_setup_and_run_scripts_are_valid_bash(autograder_zip: Path, tmp_path: Path):
    unpack(autograder_zip, tmp_path)
    for name in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(tmp_path / "source" / name)],
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, f"{name}: {check.stderr}"
    setup = (tmp_path / "source" / "setup.sh").read_text()
    for needed in ("uv sync --locked", "netcat-openbsd", "curl", "redis-server", "chromium",
                   "useradd"):  # fmt: skip
        assert needed in setup, f"setup.sh does not install {needed}"


# --- what a submission is ------------------------------------------------------------------------
def make(root: Path, files: list[str]) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("echo_tcp\n" if Path(name).name == "ASSIGNMENT" else "")
    return root


@pytest.mark.parametrize(
    ("files", "configured", "kind", "assignments", "folder"),
    [
        (["echo_tcp/server.py", "echo_tcp/client.py", "chat_tcp/server.py"], [], "tree",
         ["echo_tcp", "chat_tcp"], "."),
        (["echo_tcp/server.py", "echo_tcp/client.py"], ["echo_tcp"], "tree", ["echo_tcp"], "."),
        (["alice-hw1/echo_tcp/server.py", "alice-hw1/README.md"], [], "tree", ["echo_tcp"],
         "alice-hw1"),
        (["__MACOSX/x/echo_tcp/server.py", "hw/echo_tcp/client.py"], [], "tree", ["echo_tcp"],
         "hw"),
        (["server.py", "client.py"], ["echo_tcp"], "pair", ["echo_tcp"], "."),
        (["my-work/server.py", "my-work/client.py"], ["echo_tcp"], "pair", ["echo_tcp"],
         "my-work"),
        (["server.py", "client.py", "ASSIGNMENT"], [], "pair", ["echo_tcp"], "."),
        (["server.py", "client.py"], ["echo_tcp", "chat_tcp"], "empty", [], None),
        (["notes.txt"], ["echo_tcp"], "empty", [], None),
        ([], ["echo_tcp"], "empty", [], None),
    ],
    ids=["tree", "one assignment folder", "zipped in a folder", "archive leftovers ignored",
         "bare pair", "bare pair in a folder", "bare pair and ASSIGNMENT",
         "bare pair, which assignment?", "no script", "nothing"],
)  # fmt: skip
def test_submission_layouts(tmp_path, files, configured, kind, assignments, folder):
    submission = make(tmp_path / "submission", files)
    submission.mkdir(exist_ok=True)
    layout = gradescope.detect(submission, configured)
    assert (layout.kind, layout.assignments) == (kind, assignments), layout.note
    if folder is not None:
        assert layout.folder == submission / folder
    assert layout.note, "every layout tells the student how their files were taken"


def test_an_assignment_file_that_names_no_assignment_is_explained(tmp_path: Path):
    submission = make(tmp_path / "submission", ["server.py", "client.py"])
    (submission / "ASSIGNMENT").write_text("echo\n")
    layout = gradescope.detect(submission, ["echo_tcp"])
    assert layout.kind == "empty" and "`ASSIGNMENT` says 'echo'" in layout.note


def test_the_tree_gets_what_the_course_supplies_but_keeps_the_students_own(tmp_path: Path):
    submission = make(tmp_path / "submission", ["chat_tcp/server.py", "chat_tcp/client.py",
                                                "ws_file_server/server.py"])  # fmt: skip
    (submission / "chat_tcp" / "console.py").write_text("# mine\n")
    tree = tmp_path / "tree"
    gradescope.prepare(submission, tree, harness.REPO, [])
    assert (tree / "chat_tcp" / "console.py").read_text() == "# mine\n"
    assert (tree / "ws_file_server" / "files" / "myfile1.txt").is_file()
    assert (tree / "static" / "index.html").is_file()
    assert not (tree / "echo_tcp").exists(), "folders the student did not submit stay missing"
    assert not (tree / "ws_file_server" / "client.py").exists(), "no reference script slips in"


def test_check_results_knows_gradescopes_format():
    good = {"score": 1.5, "output": "ok", "output_format": "md", "visibility": "visible",
            "stdout_visibility": "hidden", "extra_data": {},
            "tests": [{"name": "a", "number": "1.1", "score": 1.5, "max_score": 2,
                       "status": "failed", "output_format": "text", "tags": ["x"],
                       "visibility": "after_due_date"}, {"name": "info", "status": "passed"}],
            "leaderboard": [{"name": "Time", "value": 1.2, "order": "asc"}]}  # fmt: skip
    assert gradescope.check_results(good) == []
    test = {"status": "ok", "number": 1.1, "tags": "x", "visibility": "public"}
    bad = {"score": float("nan"), "max_score": 10, "output_format": "markdown", "tests": [test]}
    problems = "\n".join(gradescope.check_results(bad))
    for expected in ("score must be a number", "unknown top-level key 'max_score'",
                     "output_format 'markdown'", "status 'ok'", "number must be a string",
                     "tags must be a list", "visibility 'public'"):  # fmt: skip
        assert expected in problems, problems
    assert gradescope.check_results({"tests": [{"name": "no score"}]}), "a score is required"


# --- run_autograder ------------------------------------------------------------------------------
def test_correct_submission_gets_every_point(autograder_zip: Path, tmp_path: Path):
    """The reference echo_tcp, zipped in a folder of its own as students often do."""
    submission = unpack(autograder_zip, tmp_path)
    reference_pair(submission / "alice" / "echo_tcp")
    results, output = run_autograder(tmp_path)
    assert_conforms(results)
    assert results["score"] == results["extra_data"]["max_score"] == 10, output
    assert results["tests"] and {t["status"] for t in results["tests"]} == {"passed"}
    assert "Graded your folders `echo_tcp/` (in `alice/`)." in results["output"]
    assert {t["tags"][0] for t in results["tests"]} == {"echo_tcp"}


def test_broken_submission_gets_zero_with_the_gates_feedback(autograder_zip, tmp_path):
    """A bare server.py/client.py pair whose server crashes at start."""
    submission = unpack(autograder_zip, tmp_path)
    reference_pair(submission)
    (submission / "server.py").write_text('raise RuntimeError("boom")\n')
    results, output = run_autograder(tmp_path)
    assert_conforms(results)
    assert results["score"] == 0, output
    assert "as `echo_tcp` (the only assignment this autograder grades)" in results["output"]
    feedback = {t["name"]: t["output"] for t in results["tests"]}
    assert "RuntimeError: boom" in feedback["test_contract.py::test_gate_server[echo_tcp]"]
    assert all(t["status"] == "failed" for t in results["tests"])


def test_empty_submission_is_told_what_to_submit(autograder_zip: Path, tmp_path: Path):
    unpack(autograder_zip, tmp_path)
    results, output = run_autograder(tmp_path, AUTOGRADER_USER="no_such_user_for_grading")
    assert_conforms(results)
    assert results["score"] == 0
    assert "No `server.py` or `client.py` found" in results["output"], output
    assert "missing file: echo_tcp/server.py" in json.dumps(results["tests"])
    assert "`no_such_user_for_grading` does not exist" in results["output"]


def test_suite_that_cannot_run_still_writes_results(autograder_zip: Path, tmp_path: Path):
    submission = unpack(autograder_zip, tmp_path)
    reference_pair(submission)
    results, _ = run_autograder(tmp_path, AUTOGRADER_ARGS="--no-such-option")
    assert_conforms(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "**The test suite stopped with an error** (pytest exit status 4)" in results["output"]
    assert "--no-such-option" in results["output"], "the end of pytest's output is shown"


def test_python_that_cannot_start_still_writes_results(autograder_zip: Path, tmp_path: Path):
    unpack(autograder_zip, tmp_path)
    results, _ = run_autograder(tmp_path, AUTOGRADER_PYTHON=str(tmp_path / "no-python"))
    assert_conforms(results)
    assert results["score"] == 0 and "The autograder failed (exit status 127)" in results["output"]


def test_run_over_its_time_limit_gets_zero_and_a_clear_message(autograder_zip, tmp_path):
    """A server that never says it is listening holds the gate for its whole startup wait;
    the run's own limit stops it first. What finished is listed, worth nothing."""
    assert HUNG_LIMIT < harness.STARTUP_TIMEOUT
    submission = unpack(autograder_zip, tmp_path)
    reference_pair(submission)
    (submission / "server.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    results, output = run_autograder(tmp_path, AUTOGRADER_TIMEOUT=str(HUNG_LIMIT))
    assert_conforms(results)
    assert results["score"] == 0
    assert f"**The run was stopped after {HUNG_LIMIT} seconds**" in results["output"], output
    assert all("score" not in t for t in results["tests"]), "unfinished runs earn nothing"
    assert results["execution_time"] < harness.scaled(gradescope.GRACE + 10)


def _world_readable_python(base: Path) -> Path | None:
    """A Python that another user can run, with this environment's packages: the system's
    interpreter of the same version in a venv that points at our site-packages."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site = Path(sys.prefix) / "lib" / system.name / "site-packages"
    if not (system.is_file() and site.is_dir() and os.stat(site).st_mode & stat.S_IROTH):
        return None
    made = subprocess.run([str(system), "-m", "venv", "--without-pip", str(base / "venv")],
                          capture_output=True)  # fmt: skip
    if made.returncode:
        return None
    (base / "venv" / "lib" / system.name / "site-packages" / "course.pth").write_text(f"{site}\n")
    return base / "venv" / "bin" / "python"


def test_suite_runs_as_the_unprivileged_user(autograder_zip: Path):
    """As root, with AUTOGRADER_USER=nobody: the student's server runs as nobody, and the
    results folder is root's alone."""
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    if gradescope.user_pids(nobody.pw_uid):
        pytest.skip("nobody already runs processes here; the grader would end the new ones")
    base = Path(tempfile.mkdtemp(prefix="gradescope-test-"))  # tmp_path is root's alone
    try:
        base.chmod(0o755)
        python = _world_readable_python(base)
        if python is None:
            pytest.skip("no Python here that another user may run with these packages")
        submission = unpack(autograder_zip, base)
        os.chmod(base / "source", 0o755)
        reference_pair(submission / "echo_tcp")
        drop = base / "drop"
        drop.mkdir(mode=0o777)
        drop.chmod(0o1777)
        server = submission / "echo_tcp" / "server.py"
        future = "from __future__ import annotations\n"
        record = f"import os as _os\nopen({str(drop / 'uid')!r}, 'w').write(str(_os.getuid()))\n"
        source = server.read_text("utf-8")
        assert source.count(future) == 1, "the reference server changed: update this test"
        server.write_text(source.replace(future, future + record))
        results, output = run_autograder(base, AUTOGRADER_USER="nobody",
                                         AUTOGRADER_PYTHON=str(python))  # fmt: skip
        assert_conforms(results)
        assert results["score"] == 10, output
        assert (drop / "uid").read_text() == str(nobody.pw_uid)
        assert stat.S_IMODE((base / "results").stat().st_mode) == 0o700
        assert "ran as" not in results["output"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
