"""Scores: which assignment and tier a test grades, its points, and the end-of-run report.

Every test carries one tier marker (core, contract, robustness, interface). tests/weights.toml
gives each assignment its points, each tier its share of them, a test its weight within its
tier, and a tier or a test its visibility in Gradescope. A test earns

    assignment points × tier share / shares of the tiers that ran
                      × test weight / weights of that tier's tests that ran

so a test skipped because a tool is missing on the grading machine counts for nothing either
way, while a test not run because its assignment's gate failed counts as failed.
"""

from __future__ import annotations

import inspect
import json
import time
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
TIERS = ["core", "contract", "robustness", "interface"]
VISIBILITIES = ["visible", "hidden", "after_due_date", "after_published"]
GATES = ["test_gate_server", "test_gate_client"]  # in tests/test_contract.py, run first
WEIGHTS_FILE = Path(__file__).with_name("weights.toml")
OUTPUT_LIMIT = 6000  # characters of failure output per test in the JSON
NOT_RUN = "not run: "  # how the reason of a test that its gate kept from running begins


# --- what a test grades ------------------------------------------------------------------------
def assignment_of(nodeid: str) -> str | None:
    """tests/test_ws_file_server_browser.py::x -> ws_file_server (the longest name that fits);
    tests/test_contract.py::test_x[chat_tcp] -> chat_tcp (the contract is checked for each)."""
    path, _, name = nodeid.partition("::")
    module = Path(path).stem.removeprefix("test_")
    if module == "contract" and "[" in name:
        param = name.split("[", 1)[1].rstrip("]").split("-")[0]
        return param if param in ASSIGNMENTS else None
    fits = [a for a in ASSIGNMENTS if module == a or module.startswith(a + "_")]
    return max(fits, key=len, default=None)


def weight_key(nodeid: str) -> str:
    """The name of a test in weights.toml: `test_file.py::test_name`, without parameters."""
    path, _, name = nodeid.partition("::")
    return f"{Path(path).name}::{name.split('[')[0]}"


def tier_of(item: pytest.Item) -> str | None:
    tiers = [name for name in TIERS if item.get_closest_marker(name)]
    return tiers[0] if len(tiers) == 1 else None


def hint_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("hint")
    return marker.args[0] if marker and marker.args else None


# --- tests/weights.toml ------------------------------------------------------------------------
@dataclass
class Settings:
    points: dict[str, float]
    shares: dict[str, dict[str, float]]  # assignment -> tier -> share
    weights: dict[str, float]
    visibility: dict[str, str]  # a tier or a test key -> visibility

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Settings:
        data = tomllib.loads(path.read_text("utf-8"))
        errors = [f"unknown table [{k}]" for k in data if k not in ("points", "tiers", "weights",
                                                                      "visibility")]  # fmt: skip
        points = data.get("points", {})
        errors += [f"[points] {k}: not an assignment" for k in points if k not in ASSIGNMENTS]
        errors += [f"[points] no points for {a}" for a in ASSIGNMENTS if a not in points]
        tiers = data.get("tiers", {})
        default = {k: v for k, v in tiers.items() if not isinstance(v, dict)}
        errors += [f"[tiers] {k}: not a tier ({', '.join(TIERS)})" for k in default
                   if k not in TIERS]  # fmt: skip
        errors += [f"[tiers] no share for the tier {t}" for t in TIERS if t not in default]
        shares = {}
        for assignment in ASSIGNMENTS:
            own = tiers.get(assignment, {})
            errors += [f"[tiers.{assignment}] {k}: not a tier" for k in own if k not in TIERS]
            shares[assignment] = {**default, **own}
        errors += [f"[tiers.{k}]: not an assignment" for k, v in tiers.items()
                   if isinstance(v, dict) and k not in ASSIGNMENTS]  # fmt: skip
        visibility = data.get("visibility", {})
        errors += [f"[visibility] {k} = {v!r}: not one of {', '.join(VISIBILITIES)}"
                   for k, v in visibility.items() if v not in VISIBILITIES]  # fmt: skip
        if errors:
            raise pytest.UsageError(f"{path}:\n  " + "\n  ".join(errors))
        return cls(points, shares, data.get("weights", {}), visibility)

    def unknown_keys(self, items: list[pytest.Item]) -> list[str]:
        """Keys naming a test that does not exist, in a test file that was collected."""
        keys = {weight_key(item.nodeid) for item in items}
        # Every test of a file that was imported, even when a node id picked one of them.
        for module in {getattr(item, "module", None) for item in items} - {None}:
            file = Path(module.__file__).name
            keys |= {f"{file}::{name}" for name in vars(module) if name.startswith("test_")}
        files = {key.split("::")[0] for key in keys}

        def unknown(key: str) -> bool:
            return key.split("::")[0] in files and key not in keys

        return [f"[weights] {k}" for k in self.weights if "::" not in k or unknown(k)] + [
            f"[visibility] {k}" for k in self.visibility if k not in TIERS and unknown(k)
        ]

    def visibility_of(self, key: str, tier: str) -> str:
        return self.visibility.get(key) or self.visibility.get(tier) or "visible"


def label_items(items: list[pytest.Item], settings: Settings) -> list[str]:
    """Attach to each test what it grades, its number and its visibility; return problems.

    The properties travel with the test's reports, from xdist workers too. Numbers follow
    the assignment, then the gates, the tiers and the order of the test files, so Gradescope
    shows the gate first and the same test always has the same number.
    """
    problems = []
    by_assignment: dict[str, list[tuple[tuple, pytest.Item]]] = {}
    for position, item in enumerate(items):
        assignment = assignment_of(item.nodeid)
        if item.get_closest_marker("unit") or assignment is None:
            continue
        tier = tier_of(item)
        if tier is None:
            problems.append(f"{item.nodeid}: needs exactly one tier marker ({', '.join(TIERS)})")
            continue
        if tier == "core" and not hint_of(item):
            problems.append(f"{item.nodeid}: a core test ends its feedback with a hint: "
                            "@pytest.mark.hint('...')")  # fmt: skip
        name = weight_key(item.nodeid).split("::")[1]
        gate = GATES.index(name) if name in GATES else len(GATES)
        by_assignment.setdefault(assignment, []).append(((gate, TIERS.index(tier), position), item))
    for assignment, entries in by_assignment.items():
        for number, (_, item) in enumerate(sorted(entries, key=lambda e: e[0]), 1):
            key, tier = weight_key(item.nodeid), tier_of(item)
            doc = getattr(getattr(item, "obj", None), "__doc__", None) or ""
            item.user_properties += [
                ("assignment", assignment),
                ("tier", tier),
                ("number", f"{ASSIGNMENTS.index(assignment) + 1}.{number}"),
                ("weight", settings.weights.get(key, 1)),
                ("visibility", settings.visibility_of(key, tier)),
                ("hint", hint_of(item)),
                ("doc", inspect.cleandoc(doc)),
            ]
    return problems


# --- the report --------------------------------------------------------------------------------
@dataclass
class Outcome:
    nodeid: str
    properties: dict = field(default_factory=dict)
    status: str = "passed"  # passed, failed, skipped, or not_run (its gate failed)
    why: str = ""  # the skip reason or the gate that failed
    output: list[str] = field(default_factory=list)


def as_markdown(outcome: Outcome) -> str:
    """A test's feedback for Gradescope: what it checks, what happened, the hint."""
    doc = outcome.properties.get("doc", "")
    parts = [doc.split("\n\n")[0].replace("\n", " ")] if doc else []
    if outcome.status == "not_run":
        parts.append(f"**Not run:** {outcome.why}")
    elif outcome.status == "failed":
        text = "\n".join(outcome.output)
        if len(text) > OUTPUT_LIMIT:
            text = "…\n" + text[-OUTPUT_LIMIT:]
        parts.append("**Failed.**\n\n```text\n" + text.replace("```", "'''") + "\n```")
        if hint := outcome.properties.get("hint"):
            parts.append(f"**Hint:** {hint}")
    return "\n\n".join(parts)


class Report:
    """Collects every test's outcome (on the xdist controller too) and reports the grade."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = Settings.load()
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid))
        outcome.properties.update(dict(report.user_properties))
        if report.failed:
            outcome.status = "failed"
            text = report.longreprtext
            for title, content in report.sections:
                if not title.startswith("Captured") and title != "hint":
                    text += f"\n--- {title} ---\n{content}"
            outcome.output.append(f"[{report.when}] {text}" if report.when != "call" else text)
        elif report.skipped and outcome.status == "passed":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            reason = reason.removeprefix("Skipped: ")
            outcome.status = "not_run" if reason.startswith(NOT_RUN) else "skipped"
            outcome.why = reason.removeprefix(NOT_RUN)

    def grade(self) -> dict:
        """Gradescope's results.json, with the per-assignment summary in extra_data."""
        by_assignment: dict[str, dict[str, list[Outcome]]] = {}
        for outcome in self.outcomes.values():
            outcome.properties.setdefault("assignment", assignment_of(outcome.nodeid))
            outcome.properties.setdefault("tier", "core")
            assignment, tier = outcome.properties["assignment"], outcome.properties["tier"]
            if assignment and tier and outcome.status != "skipped":
                by_assignment.setdefault(assignment, {}).setdefault(tier, []).append(outcome)
        tests, summary = [], {}
        for assignment in ASSIGNMENTS:
            tiers = by_assignment.get(assignment)
            if not tiers:
                continue
            shares = self.settings.shares[assignment]
            points = self.settings.points[assignment]
            total_share = sum(shares[tier] for tier in tiers) or 1
            row = {"score": 0.0, "max_score": points, "passed": 0, "total": 0, "tiers": {},
                   "not_run": 0}  # fmt: skip
            for tier in TIERS:
                ran = tiers.get(tier, [])
                if not ran:
                    continue
                weights = sum(o.properties.get("weight", 1) for o in ran) or 1
                passed = 0
                for o in ran:
                    share = points * shares[tier] / total_share * o.properties.get("weight", 1)
                    share /= weights
                    got = share if o.status == "passed" else 0.0
                    row["score"] += got
                    passed += o.status == "passed"
                    row["not_run"] += o.status == "not_run"
                    tests.append(self.entry(o, got, share))
                row["tiers"][tier] = {"passed": passed, "total": len(ran)}
                row["passed"] += passed
                row["total"] += len(ran)
            row["score"] = round(row["score"], 2)
            summary[assignment] = row
        tests.sort(key=lambda t: [int(n) for n in t["number"].split(".")])
        score = round(sum(s["score"] for s in summary.values()), 2)
        max_score = sum(s["max_score"] for s in summary.values())
        return {
            "score": score,
            "execution_time": round(time.monotonic() - self.started),
            "output": self.table_markdown(summary, score, max_score),
            "output_format": "md",
            "stdout_visibility": "hidden",
            "visibility": "visible",
            "tests": tests,
            "extra_data": {"max_score": max_score, "assignments": summary},
        }

    def entry(self, outcome: Outcome, score: float, max_score: float) -> dict:
        p = outcome.properties
        return {
            "name": outcome.nodeid.removeprefix("tests/"),
            "number": p.get("number", "0.0"),
            "score": round(score, 2),
            "max_score": round(max_score, 2),
            "status": "passed" if outcome.status == "passed" else "failed",
            "output": as_markdown(outcome),
            "output_format": "md",
            "tags": [p["assignment"], p["tier"]],
            "visibility": p.get("visibility", "visible"),
        }

    @staticmethod
    def cells(row: dict) -> list[str]:
        return [
            f"{row['tiers'][t]['passed']}/{row['tiers'][t]['total']}" if t in row["tiers"] else "-"
            for t in TIERS
        ]

    def table_markdown(self, summary: dict, score: float, max_score: float) -> str:
        lines = ["| assignment | " + " | ".join(TIERS) + " | points |",
                 "|---" * (len(TIERS) + 2) + "|"]  # fmt: skip
        for name, row in summary.items():
            points = f"{row['score']:g} / {row['max_score']:g}"
            lines.append(f"| {name} | " + " | ".join(self.cells(row)) + f" | {points} |")
        lines.append("| **total** |" + " |" * len(TIERS) + f" **{score:g} / {max_score:g}** |")
        return "\n".join(lines)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not (harness.grading() or self.config.getoption("--grade-json")):
            return
        result = self.grade()
        summary = result["extra_data"]["assignments"]
        write = terminalreporter.write_line
        terminalreporter.section(f"grade for {harness.solutions_root()}")
        write(f"{'assignment':16}" + "".join(f"{t:>12}" for t in TIERS) + f"{'points':>16}")
        for name, row in summary.items():
            cells = "".join(f"{cell:>12}" for cell in self.cells(row))
            write(f"{name:16}{cells}{row['score']:>9.1f} / {row['max_score']:<5g}")
        total = f"{result['score']:>9.1f} / {result['extra_data']['max_score']:<5g}"
        write(f"{'total':16}{'':{12 * len(TIERS)}}{total}")
        for name, row in summary.items():
            if row["not_run"]:
                write(f"{name}: {row['not_run']} tests not run because its gate failed")
        if path := self.config.getoption("--grade-json"):
            Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
            write(f"results written to {path}")
