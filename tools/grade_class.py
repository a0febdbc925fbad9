#!/usr/bin/env python3
"""Grade a whole class: run the test suite against every student folder in SUBMISSIONS_DIR.

    python tools/grade_class.py SUBMISSIONS_DIR [--jobs N] [--timeout SECONDS]
                                [--assignment NAME ...] [--out DIR] [-- PYTEST_ARGS...]

Each subfolder of SUBMISSIONS_DIR is one student's tree, laid out like this repository.
Students are graded in parallel (one pytest run each, up to --jobs at once); each run has
its own time limit, so a hung or crashing submission costs only its own time. With more jobs
than cores, every wait of the suite stretches by jobs / cores ($COURSE_TIME_SCALE), so a
loaded machine does not turn a slow answer into a lost point. Writes
DIR/grades.csv and DIR/grades.md (a row per student, a column per assignment) and each
student's Gradescope-style results in DIR/<student>.json.

Grading runs the students' code: do it in a container or a VM when it is not trusted.
Linux and macOS (it stops runs by process group and session).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from grading import ASSIGNMENTS  # noqa: E402  (the suite's own list of assignments)

DEFAULT_TIMEOUT = 1800  # seconds for one student's whole run
TIME_SCALE_ENV = "COURSE_TIME_SCALE"  # harness.py: every wait of the suite scales with it


def time_scale_for(jobs: int) -> float:
    """How much longer every wait must be when `jobs` suite runs share this machine's cores.

    Each run goes one test at a time, so up to one run per core finds the machine as idle as
    the suite expects; beyond that, every wait stretches in proportion (an explicit
    $COURSE_TIME_SCALE is kept and scaled further).
    """
    base = float(os.environ.get(TIME_SCALE_ENV) or 1)
    return base * max(1.0, jobs / (os.cpu_count() or 1))


running: set[subprocess.Popen] = set()  # so Ctrl+C of the grader can stop them all


def stop(proc: subprocess.Popen) -> None:
    """Kill a student's run with every process it started: they all share its session
    (the suite gives each script a process group of its own, inside that session)."""
    if shutil.which("pkill"):
        subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # Windows: no process groups to kill
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()


def grade_student(
    folder: Path, out: Path, timeout: float, pytest_args: list[str], scale: float
) -> dict:
    """Run the suite against one student's folder; return its grade, or why there is none."""
    results = out / f"{folder.name}.json"
    log = out / f"{folder.name}.log"
    results.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "pytest",
        "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
        f"--solutions={folder}", f"--grade-json={results}",
        "-n", "0", "-q", "-p", "no:cacheprovider", *pytest_args,
    ]  # fmt: skip
    with log.open("wb") as output, tempfile.TemporaryDirectory() as home:
        # A session of its own, so that on timeout the run and every server it started
        # are stopped together.
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": home, TIME_SCALE_ENV: str(scale)},
            start_new_session=True,
        )
        running.add(proc)
        try:
            proc.wait(timeout)
            status = "ok"
        except subprocess.TimeoutExpired:
            status = f"timed out after {timeout:g} s"
        finally:
            stop(proc)  # also any server the run left behind
            running.discard(proc)
    if not results.is_file():
        reason = status if status != "ok" else f"no result (pytest exit {proc.returncode})"
        return {"student": folder.name, "status": f"{reason}; see {log.name}", "grade": None}
    return {"student": folder.name, "status": status, "grade": json.loads(results.read_text())}


def write_tables(rows: list[dict], out: Path, assignments: list[str]) -> str:
    header = ["student", *assignments, "total", "max", "status"]
    table = []
    for row in rows:
        grade = row["grade"] or {"score": 0, "extra_data": {"assignments": {}, "max_score": ""}}
        summary = grade["extra_data"]
        cells = [row["student"]]
        for name in assignments:
            a = summary["assignments"].get(name)
            cells.append(f"{a['score']:g}/{a['max_score']:g}" if a else "-")
        cells += [f"{grade['score']:g}", f"{summary['max_score']}", row["status"]]
        table.append(cells)
    with (out / "grades.csv").open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *table])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table]
    markdown = "\n".join(lines) + "\n"
    (out / "grades.md").write_text(markdown, encoding="utf-8")
    return markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path, help="folder with one subfolder per student")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="students graded at once (default: the number of cores)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds for one student's run (default: %(default)s)",
    )
    parser.add_argument(
        "--assignment",
        action="append",
        choices=ASSIGNMENTS,
        help="grade only this assignment (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("grades"),
        help="where the tables and logs go (default: %(default)s)",
    )
    parser.epilog = "Arguments after -- go to pytest as they are, e.g. -- -k chat."
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1 :]

    if not args.submissions.is_dir():
        sys.exit(f"not a folder: {args.submissions}")
    students = sorted(p.resolve() for p in args.submissions.iterdir() if p.is_dir())
    if not students:
        sys.exit(f"no student folders in {args.submissions}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    extra = [f"--assignment={name}" for name in args.assignment or []] + args.pytest_args

    scale = time_scale_for(args.jobs)
    print(
        f"grading {len(students)} students, {args.jobs} at a time (every wait x{scale:g})",
        flush=True,
    )
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(grade_student, s, out, args.timeout, extra, scale) for s in students]
        rows = []
        try:
            for future in futures:
                rows.append(row := future.result())
                print(f"  {row['student']}: {row['status']}", flush=True)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            for proc in list(running):
                stop(proc)
            raise
    print()
    print(write_tables(rows, out, args.assignment or ASSIGNMENTS), end="")
    print(f"\nwritten: {out / 'grades.csv'}, {out / 'grades.md'}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
