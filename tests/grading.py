"""Scores: which assignment a test belongs to, its points, and the end-of-run report."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import harness
import pytest

ASSIGNMENTS = [
    "echo_tcp",
    "chat_tcp",
    "http_client",
    "ws_client",
    "ws_file_server",
    "ws_chat_json",
    "fastapi_chat",
    "push_pull",
]
WEIGHTS_FILE = Path(__file__).with_name("weights.toml")
OUTPUT_LIMIT = 6000  # characters of failure output per test in the JSON


def assignment_of(nodeid: str) -> str | None:
    """tests/test_ws_file_server_browser.py::x -> ws_file_server (the longest name that fits)."""
    module = Path(nodeid.split("::")[0]).stem.removeprefix("test_")
    fits = [name for name in ASSIGNMENTS if module == name or module.startswith(name + "_")]
    return max(fits, key=len, default=None)


def weight_key(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    return f"{Path(path).name}::{name.split('[')[0]}"


@dataclass
class Outcome:
    nodeid: str
    status: str = "passed"  # passed, failed or skipped
    output: list[str] = field(default_factory=list)


class Report:
    """Collects every test's outcome (on the xdist controller too) and reports the grade."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        settings = tomllib.loads(WEIGHTS_FILE.read_text("utf-8"))
        self.points: dict[str, float] = settings["points"]
        self.weights: dict[str, float] = settings.get("weights", {})
        self.outcomes: dict[str, Outcome] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid))
        if report.failed:
            outcome.status = "failed"
            text = report.longreprtext
            for title, content in report.sections:
                if not title.startswith("Captured"):
                    text += f"\n--- {title} ---\n{content}"
            outcome.output.append(f"[{report.when}] {text}")
        elif report.skipped and outcome.status != "failed":
            outcome.status = "skipped"

    def grade(self) -> dict:
        """Gradescope's results.json shape, plus a per-assignment summary."""
        by_assignment: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes.values():
            name = assignment_of(outcome.nodeid)
            if name:
                by_assignment.setdefault(name, []).append(outcome)
        tests, summary = [], {}
        for name in ASSIGNMENTS:
            ran = [o for o in by_assignment.get(name, []) if o.status != "skipped"]
            if not ran:
                continue
            total_weight = sum(self.weights.get(weight_key(o.nodeid), 1) for o in ran)
            score = passed = 0
            for o in ran:
                share = self.points[name] * self.weights.get(weight_key(o.nodeid), 1)
                share /= total_weight
                got = share if o.status == "passed" else 0.0
                score += got
                passed += o.status == "passed"
                tests.append(
                    {
                        "name": o.nodeid,
                        "score": round(got, 2),
                        "max_score": round(share, 2),
                        "output": "\n".join(o.output)[-OUTPUT_LIMIT:],
                        "visibility": "visible",
                    }
                )
            summary[name] = {
                "passed": passed,
                "total": len(ran),
                "score": round(score, 2),
                "max_score": self.points[name],
            }
        return {
            "score": round(sum(s["score"] for s in summary.values()), 2),
            "max_score": sum(s["max_score"] for s in summary.values()),
            "tests": tests,
            "assignments": summary,
        }

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not (harness.grading() or self.config.getoption("--grade-json")):
            return
        result = self.grade()
        write = terminalreporter.write_line
        terminalreporter.section(f"grade for {harness.solutions_root()}")
        write(f"{'assignment':16} {'tests passed':>12} {'points':>15}")
        for name, s in result["assignments"].items():
            write(
                f"{name:16} {s['passed']:>6} / {s['total']:<5} "
                f"{s['score']:>7.1f} / {s['max_score']:<5g}"
            )
        write(f"{'total':16} {'':12} {result['score']:>8.1f} / {result['max_score']:<5g}")
        if path := self.config.getoption("--grade-json"):
            Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
            write(f"results written to {path}")
