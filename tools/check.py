#!/usr/bin/env python3
"""Check your own work before you submit it: the grader's tests and feedback, hidden ones left out.

    uv run tools/check.py echo_tcp                  ./echo_tcp, the way the instructor grades it
    uv run tools/check.py path/to/my/chat_tcp       that folder, as the assignment it is named after
    uv run tools/check.py --solutions=DIR           every assignment folder in DIR
    uv run tools/check.py echo_tcp -- -k gate       arguments after -- go to pytest

It runs this repository's test suite against your folders (`--solutions=`, one test at a time
as the graders do) and ends with the same table of points. Tests whose visibility in
tests/weights.toml is not `visible` - `hidden`, or shown `after_due_date` / `after_published` -
are what Gradescope does not show a student when they submit: they are left out here too
(`--all` keeps them), and the points count only the tests that ran.

For GitHub Classroom, `--classroom FILE` grades every test and appends the result to FILE
($GITHUB_OUTPUT) in the format of Classroom's runners, for autograding-grading-reporter; the
feedback of tests that are not `visible` is left out of what it prints (tools/classroom/).

The same filter works in a plain pytest run:
    uv run pytest --visible-only --solutions=. --assignment echo_tcp
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if importlib.util.find_spec("pytest") is None:  # not the course's environment
    sys.exit("tools/check.py needs the course's environment: run it as `uv run tools/check.py`")

REPO = Path(__file__).resolve().parent.parent
FEEDBACK_LIMIT = 4000  # characters of one test's feedback in the Classroom log


# --- the command -------------------------------------------------------------------------------
def withheld_entries() -> list[str]:
    """The [visibility] entries of tests/weights.toml that keep tests from a student."""
    sys.path.insert(0, str(REPO / "tests"))
    import grading

    settings = grading.Settings.load()
    return [f"{key} = {value}" for key, value in settings.visibility.items() if value != "visible"]


def resolve(
    targets: list[str], solutions: str | None, assignments: list[str]
) -> tuple[Path, list[str]]:
    """The solutions tree and the assignments to check. A bare name is a folder of the tree
    (--solutions, or the current folder); a path to a folder named after an assignment makes
    the folder above it the tree."""
    root = Path(solutions).expanduser().resolve() if solutions else None
    chosen = []
    for target in targets:
        path = Path(target).expanduser()
        if target in assignments:
            chosen.append(target)
        elif path.is_dir() and path.resolve().name in assignments:
            parent = path.resolve().parent
            if root is not None and parent != root:
                sys.exit(f"{target} is not a folder of {root}: check one tree at a time")
            root = parent
            chosen.append(path.resolve().name)
        else:
            sys.exit(
                f"not an assignment, nor a folder named after one: {target} "
                f"(the assignments: {', '.join(assignments)})"
            )
    root = root or Path.cwd().resolve()
    if not chosen:
        chosen = [
            a
            for a in assignments
            if any((root / a / s).is_file() for s in ("server.py", "client.py"))
        ]
        if not chosen:
            sys.exit(f"no assignment folder in {root}: name one (e.g. echo_tcp)")
    return root, sorted(set(chosen), key=assignments.index)


def classroom_result(results: dict | None, max_score: float, error: str = "") -> dict:
    """Classroom's runner result (what autograding-command-grader puts, base64, in its output
    `result`): version, status pass|fail|error, max_score, and tests with name, status, score
    and message. Tests that are not `visible` are added up per assignment, without feedback.
    With an `error` the run did not finish: what did finish is feedback only, worth 0."""
    tests, withheld = [], {}
    for test in results["tests"] if results else []:
        passed = test["status"] == "passed"
        score = 0 if error else test.get("score", 0)
        if test.get("visibility", "visible") != "visible":
            entry = withheld.setdefault(test["tags"][0], {"score": 0.0, "count": 0, "ok": True})
            entry["score"] += score
            entry["count"] += 1
            entry["ok"] &= passed
            continue
        tests.append(
            _runner_test(f"{test['number']} {test['name']}", passed, score, test.get("output", ""))
        )
    for assignment, entry in withheld.items():
        tests.append(
            _runner_test(
                f"{assignment}: {entry['count']} tests shown after grading",
                entry["ok"],
                round(entry["score"], 2),
                "",
            )
        )
    if error:
        tests.append({**_runner_test("course test suite", False, 0, error), "status": "error"})
    status = "error" if error else "pass" if all(t["status"] == "pass" for t in tests) else "fail"
    return {"version": 1, "status": status, "max_score": max_score, "tests": tests}


def _runner_test(name: str, passed: bool, score: float, message: str) -> dict:
    return {
        "name": name,
        "status": "pass" if passed else "fail",
        "score": score,
        "message": message,
        "test_code": "",
        "filename": "",
        "line_no": 0,
        "duration": 0,
    }


def print_report(results: dict) -> None:
    """The grade and the feedback of every failed test that a student may see."""
    for name, row in results.get("extra_data", {}).get("assignments", {}).items():
        print(
            f"{name}: {row['passed']}/{row['total']} tests passed, "
            f"{row['score']:g} / {row['max_score']:g} points"
        )
    for test in results["tests"]:
        if test["status"] == "passed":
            continue
        if test.get("visibility", "visible") != "visible":
            print(f"\nFAILED {test['number']} (a test whose feedback is shown after grading)")
            continue
        feedback = test.get("output", "")
        if len(feedback) > FEEDBACK_LIMIT:
            feedback = "…\n" + feedback[-FEEDBACK_LIMIT:]
        print(f"\nFAILED {test['number']} {test['name']}\n{feedback}")
    print(f"\ntotal: {results['score']:g} / {results.get('extra_data', {}).get('max_score', 0):g}")


def main() -> int:
    sys.path.insert(0, str(REPO / "tests"))
    import grading
    from gradescope import run_suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="ASSIGNMENT_OR_FOLDER",
        help="an assignment name (its folder in --solutions) or an assignment's "
        "folder; default: every assignment folder in --solutions",
    )
    parser.add_argument(
        "--solutions",
        metavar="DIR",
        help="the tree laid out like this repository (default: the current "
        "folder, or the folder above the folders named)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also run the tests kept from students (the instructor's grade)",
    )
    parser.add_argument(
        "--classroom",
        metavar="FILE",
        type=Path,
        help="grade every test and append GitHub Classroom's `result=` to FILE",
    )
    parser.add_argument("--timeout", type=float, help="seconds for the whole run (default: none)")
    parser.add_argument(
        "-n",
        "--jobs",
        default="0",
        help="tests at once, pytest-xdist's -n (default: 0, one at a time)",
    )
    parser.epilog = "Arguments after -- go to pytest as they are, e.g. -- -k gate -x."
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1 :]
    root, assignments = resolve(args.targets, args.solutions, grading.ASSIGNMENTS)
    everything = args.all or args.classroom is not None

    with tempfile.TemporaryDirectory() as scratch:
        grade_file = Path(scratch) / "results.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(REPO),
            f"--solutions={root}",
            *(f"--assignment={name}" for name in assignments),
            "-n",
            args.jobs,
            "-p",
            "no:cacheprovider",
            *([f"--grade-json={grade_file}"] if args.classroom else []),
            *([] if everything else ["--visible-only"]),
            *extra,
        ]
        env = dict(os.environ)
        env.pop("COURSE_SOLUTIONS", None)  # --solutions= on the command line says it all
        print(f"checking {', '.join(assignments)} in {root}", flush=True)
        started = time.monotonic()
        if args.classroom is None:
            run = run_suite(command, cwd=REPO, env=env, timeout=args.timeout, output=None)
            if withheld := ([] if everything else withheld_entries()):
                print(
                    "\nLeft out, as Gradescope does not show them when you submit "
                    f"(tests/weights.toml, [visibility]): {', '.join(withheld)}. "
                    "Your grade counts them too."
                )
            if run.error or run.timed_out:
                why = run.error or f"stopped after {args.timeout:g} s"
                print(f"\nthe suite did not finish: {why}")
                return 1
            return run.returncode or 0
        log = Path(scratch) / "pytest.log"
        with log.open("wb") as output:
            run = run_suite(command, cwd=REPO, env=env, timeout=args.timeout, output=output)
        results = json.loads(grade_file.read_text("utf-8")) if grade_file.is_file() else None
        max_score = sum(grading.Settings.load().points[name] for name in assignments)
        if run.error or run.timed_out or run.returncode not in (0, 1) or results is None:
            print(log.read_text("utf-8", errors="replace")[-6000:])
            why = run.error or (
                f"stopped after {args.timeout:g} s"
                if run.timed_out
                else f"pytest exit status {run.returncode}"
            )
            result = classroom_result(results, max_score, f"the test suite did not finish: {why}")
        else:
            print_report(results)
            result = classroom_result(results, max_score)
        encoded = base64.b64encode(json.dumps(result).encode()).decode()
        with args.classroom.open("a", encoding="utf-8") as file:
            file.write(f"result={encoded}\n")
        points = sum(t["score"] for t in result["tests"])
        print(
            f"\nClassroom: {points:g} / {result['max_score']:g} points ({result['status']}), "
            f"{time.monotonic() - started:.0f} s"
        )
        return 0  # the reporter step after this one fails the run when a test failed


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
