#!/usr/bin/env python3
"""Does the suite give the same verdict every run? Grade the same trees N times under load.

    python tools/stability.py [--runs 5] [--jobs N] [--assignment NAME ...] [--no-alternatives]

The trees are this repository (the reference) and every solution in tests/alternatives/,
each graded once per run; up to --jobs suite runs go at once (default: twice the cores, the
load tools/grade_class.py puts on a machine), each with the time scale grade_class.py would
give it. The report lists every test whose verdict changed between runs, and every core or
contract test an alternative failed in every run; the exit status is 1 if there is either.
A verdict is passed, failed, or not run (its gate failed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))
import selftest  # noqa: E402  (the suite's own way to grade a tree)
from grade_class import time_scale_for  # noqa: E402
from grading import ASSIGNMENTS  # noqa: E402


def trees(assignments: list[str], alternatives: bool, root: Path) -> dict[str, tuple[Path, str]]:
    """name -> (tree, assignment or "" for all of them)."""
    found = {"reference": (REPO, "")}
    if alternatives:
        for folder in sorted(selftest.ALTERNATIVES.glob("*/*")):
            if folder.parent.name in assignments and (folder / "server.py").is_file():
                name = f"{folder.parent.name}/{folder.name}"
                tree = selftest.tree_of({folder.parent.name: folder}, root / name)
                found[name] = (tree, folder.parent.name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of every tree (default: 5)")
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--jobs", type=int, default=2 * cores, help=f"suite runs at once (default: {2 * cores})"
    )
    parser.add_argument(
        "--assignment", action="append", choices=ASSIGNMENTS, help="only these (repeatable)"
    )
    parser.add_argument(
        "--no-alternatives", action="store_true", help="grade the reference tree only"
    )
    args = parser.parse_args()
    assignments = args.assignment or ASSIGNMENTS
    scale = time_scale_for(args.jobs)
    os.environ["COURSE_TIME_SCALE"] = str(scale)

    with tempfile.TemporaryDirectory() as scratch:
        graded = trees(assignments, not args.no_alternatives, Path(scratch))
        work = [(name, run) for run in range(args.runs) for name in graded]
        print(f"{len(graded)} trees x {args.runs} runs, {args.jobs} at a time, time scale "
              f"{scale:g}", flush=True)  # fmt: skip
        history: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        started = time.monotonic()

        def grade(name: str, run: int) -> None:
            tree, assignment = graded[name]
            chosen = [f"--assignment={assignment}"] if assignment else [
                f"--assignment={a}" for a in assignments]  # fmt: skip
            tiers = ["--tier=core", "--tier=contract"] if assignment else []
            try:
                results, _ = selftest.grade(tree, *chosen, *tiers, timeout=1800)
                for test, verdict in selftest.verdicts(results).items():
                    history[name][test].append(verdict)
                print(f"  {name} run {run + 1}: {results['score']:g} points", flush=True)
            except Exception as error:  # a crashed run is a verdict too
                history[name]["(the whole run)"].append(f"crashed: {error}"[:200])
                print(f"  {name} run {run + 1}: crashed", flush=True)

        with ThreadPoolExecutor(args.jobs) as pool:
            for future in [pool.submit(grade, name, run) for name, run in work]:
                future.result()

    changed = [(name, test, verdicts) for name, tests in history.items()
               for test, verdicts in sorted(tests.items()) if len(set(verdicts)) > 1]  # fmt: skip
    wrong = [(name, test, verdicts) for name, tests in history.items() if name != "reference"
             for test, verdicts in sorted(tests.items()) if set(verdicts) != {"passed"}
             and (name, test, verdicts) not in changed]  # fmt: skip
    print(f"\n{sum(len(t) for t in history.values())} tests graded {args.runs} times in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    print(f"changed verdicts: {len(changed)}")
    for name, test, verdicts in changed:
        print(f"  {name}: {test}: {', '.join(verdicts)}")
    if wrong:
        print(f"tests an alternative solution failed in every run: {len(wrong)}")
        for name, test, verdicts in wrong:
            print(f"  {name}: {test}: {verdicts[0]}")
    sys.exit(1 if changed or wrong else 0)


if __name__ == "__main__":
    main()
