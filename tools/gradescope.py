#!/usr/bin/env python3
"""A Gradescope autograder made of this course's test suite.

    python tools/gradescope.py build OUT.zip [--assignment NAME ...] [--timeout SECONDS]
                                             [--time-scale X] [--user NAME] [-- PYTEST_ARGS...]
    python tools/gradescope.py run          (what run_autograder calls, once per submission)

`build` writes the zip to upload on Gradescope's "Configure Autograder" page: setup.sh and
run_autograder at its root, the suite (tests/, pyproject.toml, uv.lock, static/ and the files
an assignment ships, such as ws_file_server/files/ and chat_tcp/console.py), this file, and
autograder.json with the options given here. The reference solutions' scripts stay out.

`run` copies /autograder/submission into a solutions tree (a tree laid out like this
repository, one assignment folder, or a bare server.py/client.py pair), runs the suite on it
with --solutions= as an unprivileged user within a time limit, and always writes
/autograder/results/results.json in Gradescope's format - also when the suite crashes, times
out, or finds nothing to grade. Settings, for testing it anywhere (defaults in brackets):

    AUTOGRADER_ROOT     the folder laid out like Gradescope's [/autograder]
    AUTOGRADER_PYTHON   the suite's Python, read by run_autograder [ROOT/source/.venv/bin/python]
    AUTOGRADER_USER     who runs the suite [autograder.json's user: student]
    AUTOGRADER_TIMEOUT  seconds for the whole run [autograder.json's timeout]
    AUTOGRADER_ARGS     more pytest arguments, after the zip's own (e.g. -k gate)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from grading import ASSIGNMENTS  # noqa: E402  (the suite's own list of assignments)

DEFAULT_ROOT = "/autograder"
CONFIG_NAME = "autograder.json"
DEFAULT_USER = "student"
# Gradescope stops an autograder after its own timeout (10 minutes by default, 40 at most, in
# the assignment's settings) and then shows no result at all: stop the suite a little earlier.
DEFAULT_TIMEOUT = 540
GRACE = 20  # seconds the interrupted suite gets to stop its scripts and write what finished
SCRIPTS = ("server.py", "client.py")
ASSIGNMENT_FILES = ("ASSIGNMENT", "assignment.txt")  # a bare pair says which assignment it is
SEARCH_DEPTH = 3  # how deep a submission's folders are searched for the scripts
# Never part of a submission's code: archives' and editors' leftovers, environments.
IGNORED = {"__MACOSX", "__pycache__", "node_modules", "venv", "site-packages"}
SUITE_FILES = ["pyproject.toml", "uv.lock", "README.md"]
SUITE_FOLDERS = ["tests", "static", "tools"]
LEFT_OUT = {"alternatives", "broken"}  # tests/ folders holding whole solutions, right or wrong
# The environment the suite keeps from run_autograder's; everything else (root's own
# variables, PYTEST_ADDOPTS, COURSE_SOLUTIONS) stays out of the student's reach.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "CHROMIUM", "PLAYWRIGHT_BROWSERS_PATH")

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
TOP_KEYS = {
    "score",
    "execution_time",
    "output",
    "output_format",
    "test_output_format",
    "test_name_format",
    "visibility",
    "stdout_visibility",
    "extra_data",
    "tests",
    "leaderboard",
}
TEST_KEYS = {
    "score",
    "max_score",
    "status",
    "name",
    "name_format",
    "number",
    "output",
    "output_format",
    "tags",
    "visibility",
    "extra_data",
}


# --- Gradescope's results.json ---------------------------------------------------------------
def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_results(data: Any) -> list[str]:
    """What in `data` does not follow Gradescope's specification of results.json (docs/specs.md
    of gradescope/autograder_samples): unknown keys, wrong types, values outside the allowed
    sets, no score. An empty list means it conforms."""
    if not isinstance(data, dict):
        return ["results.json must be a JSON object"]
    problems = [f"unknown top-level key {k!r}" for k in data if k not in TOP_KEYS]
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as error:
        problems.append(f"not JSON: {error}")
    for key in ("score", "execution_time"):
        if key in data and not _number(data[key]):
            problems.append(f"{key} must be a number, not {data[key]!r}")
    problems += _check_common(data, "", ("output_format", "test_output_format", "test_name_format"))
    if "stdout_visibility" in data and data["stdout_visibility"] not in VISIBILITIES:
        problems.append(
            f"stdout_visibility {data['stdout_visibility']!r} is not one of {sorted(VISIBILITIES)}"
        )
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        return [*problems, "tests must be a list"]
    if "score" not in data and (not tests or any("score" not in t for t in tests)):
        problems.append("score is required at the top level unless every test has one")
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in test if k not in TEST_KEYS]
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                problems.append(f"{where}.{key} must be a number, not {test[key]!r}")
        if "status" in test and test["status"] not in ("passed", "failed"):
            problems.append(f"{where}.status {test['status']!r} is not passed or failed")
        for key in ("name", "number"):
            if key in test and not isinstance(test[key], str):
                problems.append(f"{where}.{key} must be a string")
        tags = test.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            problems.append(f"{where}.tags must be a list of strings")
        problems += _check_common(test, f"{where}.", ("output_format", "name_format"))
    for index, entry in enumerate(data.get("leaderboard", [])):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and (_number(entry.get("value")) or isinstance(entry.get("value"), str))
            and entry.get("order", "desc") in ("asc", "desc")
        ):
            problems.append(f"leaderboard[{index}] needs a name and a value (order asc|desc)")
    return problems


def _check_common(item: dict, where: str, formats: tuple[str, ...]) -> list[str]:
    problems = []
    if "output" in item and not isinstance(item["output"], str):
        problems.append(f"{where}output must be a string")
    for key in formats:
        if key in item and item[key] not in FORMATS:
            problems.append(f"{where}{key} {item[key]!r} is not one of {sorted(FORMATS)}")
    if "visibility" in item and item["visibility"] not in VISIBILITIES:
        problems.append(
            f"{where}visibility {item['visibility']!r} is not one of {sorted(VISIBILITIES)}"
        )
    if "extra_data" in item and not isinstance(item["extra_data"], dict):
        problems.append(f"{where}extra_data must be an object")
    return problems


def failure(message: str, started: float, tests: list[dict] | None = None) -> dict:
    """A result that grades nothing: the submission gets 0 and `message` says why."""
    return {
        "score": 0.0,
        "execution_time": round(time.monotonic() - started),
        "output": message,
        "output_format": "md",
        "stdout_visibility": "hidden",
        "visibility": "visible",
        "tests": tests or [],
        "extra_data": {"graded": False},
    }


# --- the submission ----------------------------------------------------------------------------
def ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED


def has_scripts(folder: Path) -> bool:
    return any((folder / name).is_file() for name in SCRIPTS)


def script_folders(top: Path) -> list[Path]:
    """Every folder down to SEARCH_DEPTH that holds a server.py or a client.py, shallowest
    first (symbolic links are not followed)."""
    found, level = [], [top]
    for _ in range(SEARCH_DEPTH + 1):
        found += [folder for folder in level if has_scripts(folder)]
        level = [
            child
            for folder in level
            for child in sorted(folder.iterdir())
            if child.is_dir() and not child.is_symlink() and not ignored(child.name)
        ]
    return found


@dataclass
class Layout:
    kind: str  # tree (folders named after assignments), pair (a bare server.py/client.py), empty
    folder: Path | None  # the tree's root, or the folder holding the pair
    assignments: list[str] = field(default_factory=list)
    note: str = ""


def assignment_named_in(folders: list[Path]) -> tuple[str | None, str]:
    """The assignment an ASSIGNMENT (or assignment.txt) file names, and a note if it is wrong."""
    for folder in folders:
        for name in ASSIGNMENT_FILES:
            path = folder / name
            if path.is_file():
                words = path.read_text("utf-8", errors="replace").split()
                if words and words[0] in ASSIGNMENTS:
                    return words[0], f"named in `{name}`"
                return None, (
                    f"`{name}` says {' '.join(words[:1]) or 'nothing'!r}, which is "
                    f"not one of {', '.join(ASSIGNMENTS)}"
                )
    return None, ""


def detect(submission: Path, configured: list[str]) -> Layout:
    """How a submission is laid out. A folder named after an assignment that holds its
    server.py or client.py makes the folder above it a tree (the submission itself, or a
    folder it was zipped in); otherwise the shallowest server.py/client.py pair is the
    assignment named in an ASSIGNMENT file, or this autograder's only assignment."""
    found = script_folders(submission) if submission.is_dir() else []
    named = [folder for folder in found if folder.name in ASSIGNMENTS]
    if named:
        parents: dict[Path, list[str]] = {}
        for folder in named:
            parents.setdefault(folder.parent, []).append(folder.name)
        root = max(parents, key=lambda p: (len(parents[p]), -len(p.parts)))
        where = root.relative_to(submission).as_posix()
        note = f"Graded your folders {', '.join(f'`{a}/`' for a in parents[root])}"
        note += f" (in `{where}/`)." if where != "." else "."
        others = [f for f in named if f.parent != root]
        if others:
            note += " Ignored: " + ", ".join(f"`{f.relative_to(submission)}/`" for f in others)
        return Layout("tree", root, sorted(parents[root], key=ASSIGNMENTS.index), note)
    if not found:
        return Layout(
            "empty",
            None,
            [],
            (
                "**No `server.py` or `client.py` found in your submission.** Submit a folder named "
                "after the assignment (for example `echo_tcp/` holding its `server.py` and "
                "`client.py`), a tree laid out like the course repository, or the two files."
            ),
        )
    pair = found[0]
    where = pair.relative_to(submission).as_posix()
    files = " and ".join(f"`{name}`" for name in SCRIPTS if (pair / name).is_file())
    files += f" (in `{where}/`)" if where != "." else ""
    assignment, why = assignment_named_in([pair, submission])
    if assignment is None and not why and len(configured) == 1:
        assignment, why = configured[0], "the only assignment this autograder grades"
    if assignment is None:
        return Layout(
            "empty",
            None,
            [],
            (
                f"**Found {files}, but not which assignment they answer.** "
                + (f"{why[0].upper()}{why[1:]}. " if why else "")
                + "Put them in a folder named after the assignment (for example `echo_tcp/`), or "
                "add a file `ASSIGNMENT` holding its name."
            ),
        )
    return Layout("pair", pair, [assignment], f"Graded {files} as `{assignment}` ({why}).")


def supplied(folder: Path) -> list[Path]:
    """What an assignment folder gives students besides the scripts they write: its data
    folders (ws_file_server/files/) and the modules whose docstring starts with "Supplied"
    (chat_tcp/console.py). A student may copy them or not: the grader supplies them too."""
    items = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if ignored(path.name):
            continue
        module = path.suffix == ".py" and path.name not in SCRIPTS and is_supplied(path)
        if path.is_dir() or module:
            items.append(path)
    return items


def is_supplied(path: Path) -> bool:
    return path.read_text("utf-8", errors="replace").startswith('"""Supplied')


def copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(
            source, target, symlinks=True, ignore=lambda _, names: [n for n in names if ignored(n)]
        )
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def prepare(submission: Path, tree: Path, suite: Path, configured: list[str]) -> Layout:
    """Copy the submission into `tree`, laid out like this repository, and add what the
    course supplies (static/, the assignments' data) where the student left it out."""
    layout = detect(submission, configured)
    if layout.kind == "tree" and layout.folder:
        copy(layout.folder, tree)
    elif layout.kind == "pair" and layout.folder:
        copy(layout.folder, tree / layout.assignments[0])
    tree.mkdir(parents=True, exist_ok=True)
    if not (tree / "static").exists() and (suite / "static").is_dir():
        copy(suite / "static", tree / "static")
    for assignment in ASSIGNMENTS:
        if (tree / assignment).is_dir():
            for item in supplied(suite / assignment):
                if not (tree / assignment / item.name).exists():
                    copy(item, tree / assignment / item.name)
    return layout


# --- running the suite -------------------------------------------------------------------------
@dataclass
class RunAs:
    name: str
    uid: int
    gid: int
    switch: bool  # run as this user instead of the current one
    note: str = ""


def choose_user(wanted: str) -> RunAs:
    """The user to run the suite as; when that is not possible, the current user and why."""
    me = pwd.getpwuid(os.getuid())
    current = RunAs(me.pw_name, me.pw_uid, me.pw_gid, switch=False)
    if wanted == me.pw_name:
        return current
    try:
        entry = pwd.getpwnam(wanted)
    except KeyError:
        current.note = (
            f"The user `{wanted}` does not exist (setup.sh creates it), so the "
            f"suite ran as `{me.pw_name}`."
        )
        return current
    if os.geteuid() != 0:
        current.note = (
            f"Could not run the suite as `{wanted}`: the autograder runs as "
            f"`{me.pw_name}`, not root, so the suite ran as `{me.pw_name}`."
        )
        return current
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, switch=True)


@dataclass
class SuiteRun:
    returncode: int | None
    timed_out: bool = False
    error: str = ""  # the suite could not even start


def _default_sigint() -> None:
    # A parent that ignores SIGINT (a background job of a shell) would pass that on, and an
    # interrupted pytest could not write the results of the tests that finished.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_session(proc: subprocess.Popen) -> None:
    """Kill the suite with every process it started: they share its session (each script has
    a process group of its own inside it)."""
    if shutil.which("pkill"):
        subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already
    proc.wait()


def run_suite(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float | None,
    output: IO[bytes] | None,
    user: RunAs | None = None,
) -> SuiteRun:
    """Run the suite in a session of its own. At the time limit it is interrupted like Ctrl+C,
    so it stops its scripts and reports the tests that finished; after GRACE it is killed."""
    switch = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=_default_sigint,
            **switch,
        )
    except OSError as error:
        return SuiteRun(None, error=f"{type(error).__name__}: {error}")
    timed_out = False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        interrupt(proc)
    except KeyboardInterrupt:  # Ctrl+C of whoever runs the grader: the suite reports, then ends
        interrupt(proc)
        raise
    finally:
        stop_session(proc)
    return SuiteRun(proc.returncode, timed_out)


def interrupt(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(GRACE)
    except subprocess.TimeoutExpired:
        pass  # the caller kills it


def user_pids(uid: int) -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid}


def kill_user_processes(uid: int, spare: set[int]) -> None:
    """End what the submission left running under the suite's user, processes that escaped
    the suite's session too, before the results are read. Processes of that user that were
    there before the run (`spare`) are not the submission's, and root's are never touched."""
    if uid in (0, os.getuid()):
        return
    for _ in range(10):  # a process may fork while we look
        pids = user_pids(uid) - spare
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # ended meanwhile
        time.sleep(0.1)


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def chown_tree(path: Path, user: RunAs) -> None:
    os.chown(path, user.uid, user.gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(Path(folder) / name, user.uid, user.gid, follow_symlinks=False)


# --- settings ----------------------------------------------------------------------------------
@dataclass
class Config:
    assignments: list[str]
    pytest_args: list[str]
    timeout: float
    user: str
    time_scale: float

    @classmethod
    def load(cls, source: Path) -> Config:
        path = source / CONFIG_NAME
        data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        args = list(data.get("pytest_args", [])) + shlex.split(
            os.environ.get("AUTOGRADER_ARGS", "")
        )
        assignments = list(data.get("assignments", [])) + assignments_in(args)
        return cls(
            assignments=list(dict.fromkeys(assignments)),
            pytest_args=args,
            timeout=float(
                os.environ.get("AUTOGRADER_TIMEOUT") or data.get("timeout") or DEFAULT_TIMEOUT
            ),
            user=os.environ.get("AUTOGRADER_USER") or data.get("user") or DEFAULT_USER,
            time_scale=float(data.get("time_scale", 1)),
        )


def assignments_in(args: list[str]) -> list[str]:
    """The assignments named by --assignment options among pytest arguments."""
    found = []
    for index, arg in enumerate(args):
        if arg.startswith("--assignment="):
            found.append(arg.split("=", 1)[1])
        elif arg == "--assignment" and index + 1 < len(args):
            found.append(args[index + 1])
    return found


# --- one submission ----------------------------------------------------------------------------
def grade_submission(root: Path, started: float) -> dict:
    source = root / "source"
    config = Config.load(source)
    results_dir = root / "results"
    workspace = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        # Others may pass through (to their own folders inside) but not list it.
        workspace.chmod(0o711)
        tree, private = workspace / "solutions", workspace / "private"
        layout = prepare(root / "submission", tree, source, config.assignments)
        user = choose_user(config.user)
        private.mkdir(mode=0o700)
        (private / "tmp").mkdir()
        if user.switch:
            chown_tree(tree, user)
            chown_tree(private, user)
            results_dir.mkdir(parents=True, exist_ok=True)
            results_dir.chmod(0o700)  # the results are root's to write
        grade_file = private / "results.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(source / "pyproject.toml"),
            "--rootdir",
            str(source),
            f"--solutions={tree}",
            f"--grade-json={grade_file}",
            f"--time-scale={config.time_scale:g}",
            "-n",
            "0",
            "-q",
            "-p",
            "no:cacheprovider",
            *(
                f"--assignment={name}"
                for name in config.assignments
                if name not in assignments_in(config.pytest_args)
            ),
            *config.pytest_args,
        ]
        env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.setdefault("LANG", "C.UTF-8")
        env.update(
            HOME=str(private),
            TMPDIR=str(private / "tmp"),
            USER=user.name,
            LOGNAME=user.name,
            PYTHONDONTWRITEBYTECODE="1",
        )
        log_path = workspace / "pytest.log"
        print("$", shlex.join(command), flush=True)
        before = user_pids(user.uid) if user.switch else set()
        with log_path.open("wb") as log:
            run = run_suite(
                command,
                cwd=source,
                env=env,
                timeout=config.timeout,
                output=log,
                user=user if user.switch else None,
            )
        if user.switch:
            kill_user_processes(user.uid, spare=before)
        log_text = log_path.read_text("utf-8", errors="replace")
        print(log_text, flush=True)  # Gradescope shows run_autograder's output to instructors
        grade = None
        if grade_file.is_file():
            try:
                grade = json.loads(grade_file.read_text("utf-8"))
            except ValueError:
                grade = None
        notes = [n for n in (layout.note, user.note) if n]
        return assemble(run, grade, notes, config, started, log_text)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "```text\n" + "\n".join(kept).replace("```", "'''") + "\n```"


def informational(tests: list[dict]) -> list[dict]:
    """Tests kept for their feedback only: no score, so they count for nothing."""
    return [{k: v for k, v in t.items() if k not in ("score", "max_score")} for t in tests]


def assemble(
    run: SuiteRun, grade: dict | None, notes: list[str], config: Config, started: float, log: str
) -> dict:
    """The results.json for this submission, from how the suite's run ended."""
    head = "\n\n".join(notes)
    if run.error:
        return failure(
            f"{head}\n\n**The autograder could not start the test suite** ({run.error})"
            ". This is a problem of the autograder, not of your code: tell your "
            "instructor.",
            started,
        )
    if run.timed_out:
        finished = informational(grade["tests"]) if grade and not check_results(grade) else []
        return failure(
            f"{head}\n\n**The run was stopped after {config.timeout:g} seconds**, the time "
            "limit for one submission, so it earns no points. A server or client that does "
            "not stop when asked (Ctrl+C, the end of its input), or that waits for something "
            "that never comes, is the usual cause."
            + (
                " The tests that finished in time are listed below, for your information."
                if finished
                else ""
            ),
            started,
            finished,
        )
    if run.returncode not in (0, 1) or grade is None:
        return failure(
            f"{head}\n\n**The test suite stopped with an error** (pytest exit status "
            f"{run.returncode}) before it could grade your submission. This is "
            "most likely a problem of the autograder, not of your code: tell your "
            f"instructor. The end of its output:\n\n{tail(log)}",
            started,
        )
    if problems := check_results(grade):
        return failure(
            f"{head}\n\n**The test suite wrote results Gradescope cannot read:** "
            + "; ".join(problems[:5]),
            started,
        )
    grade["output"] = "\n\n".join(p for p in (head, grade.get("output", "")) if p)
    grade["execution_time"] = round(time.monotonic() - started)
    return grade


def run_main() -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)
    started = time.monotonic()
    try:
        result = grade_submission(root, started)
    except Exception as error:  # the grader's own bug must still reach the student as a result
        traceback.print_exc()
        result = failure(
            f"**The autograder failed** ({type(error).__name__}: {error}). This is "
            "a problem of the autograder, not of your code: tell your instructor.",
            started,
        )
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
    results.write_text(text + "\n", "utf-8")
    print(f"results: {result['score']:g} points, written to {results}", flush=True)
    return 0


# --- the zip -----------------------------------------------------------------------------------
SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 by
# default; Debian works too). It installs what the course's test suite needs: the tools some
# tests drive, uv with the locked environment, a Chromium for the page tests, and the
# unprivileged user the suite runs as. Made by tools/gradescope.py build.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
cd "$root/source"
python_version=3.12  # one Python for every build; the suite needs 3.11 or newer

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl netcat-openbsd redis-server \
    procps passwd

# uv, and the Python it installs, outside /root: the unprivileged user runs them.
export UV_INSTALL_DIR=/usr/local/bin UV_NO_MODIFY_PATH=1
export UV_PYTHON_INSTALL_DIR=/opt/uv/python UV_CACHE_DIR=/opt/uv/cache
command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
uv sync --locked --python "$python_version"

# Chromium for the page tests (tests/browser.py finds `chromium` on the PATH). Debian has a
# real package; Ubuntu's is only a transitional one that installs a snap, and snapd does not
# run in a container, so there Playwright's own Chromium (made for the Playwright in uv.lock)
# is installed with the libraries it needs.
. /etc/os-release
if [ "${ID:-}" = debian ]; then
    apt-get install -y --no-install-recommends chromium
    chromium=/usr/bin/chromium
else
    export PLAYWRIGHT_BROWSERS_PATH=/opt/ms-playwright
    .venv/bin/python -m playwright install --with-deps chromium
    chromium="$(.venv/bin/python -c 'from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    print(p.chromium.executable_path)')"
    ln -sf "$chromium" /usr/local/bin/chromium
    chmod -R a+rX /opt/ms-playwright
fi
"$chromium" --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null \
    || echo "warning: $chromium does not start; the page tests will fail" >&2

# The user the suite (and so every student script) runs as.
user="$(.venv/bin/python -c 'import json; print(json.load(open("autograder.json"))["user"])')"
id -u "$user" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$user"
rm -rf /opt/uv/cache
mkdir -p /opt/uv
chmod a+x "$root"
chmod -R a+rX "$root/source" /opt/uv
echo "setup done: $(.venv/bin/python --version), chromium at $chromium, user $user"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission, as root (AUTOGRADER_ROOT replaces /autograder
# elsewhere). The work is done by tools/gradescope.py run; this script only makes sure that a
# results.json exists even when that Python cannot start at all. Made by tools/gradescope.py.
root="${AUTOGRADER_ROOT:-/autograder}"
python="${AUTOGRADER_PYTHON:-$root/source/.venv/bin/python}"
results="$root/results/results.json"
mkdir -p "$root/results"
rm -f "$results"
status=0
"$python" "$root/source/tools/gradescope.py" run || status=$?
if [ ! -s "$results" ]; then
    message="The autograder failed (exit status $status) before it could grade your"
    message="$message submission. This is a problem of the autograder, not of your code:"
    printf '{"score": 0.0, "output": "%s", "output_format": "text", "tests": []}\n' \
        "$message tell your instructor." >"$results"
fi
exit 0
"""


def suite_files() -> list[tuple[str, Path]]:
    """(name in the zip, file) for the suite and what the assignments supply, no solutions."""
    files = [(name, REPO / name) for name in SUITE_FILES if (REPO / name).is_file()]

    def add_folder(folder: Path, prefix: str) -> None:
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not any(ignored(p) for p in parts) and path.suffix != ".pyc":
                files.append((f"{prefix}/{'/'.join(parts)}", path))

    for name in SUITE_FOLDERS:
        for item in sorted((REPO / name).iterdir()) if (REPO / name).is_dir() else []:
            if ignored(item.name) or (name == "tests" and item.name in LEFT_OUT):
                continue
            if item.is_dir():
                add_folder(item, f"{name}/{item.name}")
            elif item.suffix != ".pyc":
                files.append((f"{name}/{item.name}", item))
    for assignment in ASSIGNMENTS:
        for item in supplied(REPO / assignment):
            if item.is_dir():
                add_folder(item, f"{assignment}/{item.name}")
            else:
                files.append((f"{assignment}/{item.name}", item))
    return files


def build(out: Path, config: dict) -> list[str]:
    """Write the autograder zip; return the names it holds."""
    executable = 0o100755 << 16  # a regular file, rwxr-xr-x, in the zip's Unix attributes
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = executable
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
        for name, path in suite_files():
            archive.write(path, name)
        info = zipfile.ZipInfo(CONFIG_NAME, date_time=time.localtime()[:6])
        info.external_attr = 0o100644 << 16
        archive.writestr(info, json.dumps(config, indent=2) + "\n")
        return archive.namelist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write the autograder zip")
    make.add_argument("out", type=Path, help="the zip to write, e.g. autograder.zip")
    make.add_argument(
        "--assignment",
        action="append",
        choices=ASSIGNMENTS,
        default=[],
        help="grade only this assignment (repeatable; default: all of them)",
    )
    make.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds for one submission's whole run (default: %(default)s; "
        "keep it below the assignment's autograder timeout on Gradescope)",
    )
    make.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="every wait of the suite times X, for slow machines (default: 1)",
    )
    make.add_argument(
        "--user",
        default=DEFAULT_USER,
        help="the unprivileged user the suite runs as (default: %(default)s)",
    )
    make.epilog = "Arguments after -- go to pytest as they are, e.g. -- -k 'not browser'."
    commands.add_parser("run", help="grade /autograder/submission (run_autograder calls it)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    if args.command == "run":
        return run_main()
    config = {
        "assignments": args.assignment,
        "pytest_args": argv[split + 1 :],
        "timeout": args.timeout,
        "time_scale": args.time_scale,
        "user": args.user,
    }
    names = build(args.out, config)
    print(
        f"wrote {args.out}: {len(names)} files; assignments: "
        f"{', '.join(args.assignment) or 'all'}; time limit {args.timeout:g} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
