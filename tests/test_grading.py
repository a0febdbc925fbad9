"""The grader's own power: deliberately broken variants of the reference scripts must fail.

Each variant is the reference folder with one classic mistake patched in (a text
replacement, so the variants follow the reference code as it changes). The suite runs
against the variant with --solutions, and the test that guards against that mistake must
fail. Marked `unit`: they test this repository, not a student's folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.unit


@dataclass
class Variant:
    name: str
    folder: str
    file: str
    old: str  # replaced by `new`; more pairs in `also`
    new: str
    caught_by: str  # the test (in tests/test_<folder>.py) that must fail
    also: tuple[tuple[str, str], ...] = ()


VARIANTS = [
    Variant(
        "serves one client at a time",
        "echo_tcp", "server.py",
        'threading.Thread(target=echo, args=(conn, f"{client_host}:{client_port}")).start()',
        'echo(conn, f"{client_host}:{client_port}")',
        "test_second_client_is_served_while_the_first_stays_connected",
    ),
    Variant(
        "reply truncated at 1024 bytes",
        "echo_tcp", "client.py",
        "reply = reader.readline()",
        'reply = conn.recv(1024).decode("utf-8", errors="replace") + "\\n"',
        "test_long_reply_is_printed_whole",
    ),
    Variant(
        "one recv() taken as one message (characters split across reads)",
        "chat_tcp", "server.py",
        "for line in read_lines(self.rfile):",
        'for line in iter(lambda: self.request.recv(1024).rstrip(b"\\n"), b""):',
        "test_character_split_across_segments_is_reassembled",
    ),
    Variant(
        "crashes when a client disconnects",
        "chat_tcp", "server.py",
        "        except OSError:\n            pass  # connection reset: the client vanished\n",
        "",
        "test_abrupt_reset_mid_line_disturbs_nobody",
    ),
    Variant(
        "broadcast stalled by one slow client",
        "chat_tcp", "server.py",
        "if not member.deliver(text, wait=SLOW_READER_SECONDS):",
        'if member.sock.sendall(text.encode() + b"\\n"):',
        "test_client_that_never_reads_does_not_stall_the_others",
    ),
    Variant(
        "serves files outside its root",
        "ws_file_server", "server.py",
        'if ".." in PurePosixPath(name).parts:', "if False:",
        "test_http_never_serves_outside_the_root",
        also=(("if not path.is_relative_to(root):", "if False:"),),
    ),
    Variant(
        "loses acknowledged log records on a crash (buffered writes)",
        "ws_chat_json", "server.py",
        "buffering=0)", "buffering=1 << 20)",
        "test_kill_mid_burst_loses_nothing_acknowledged",
    ),
    Variant(
        "rewrites the whole log for every message",
        "ws_chat_json", "server.py",
        '''"""Add one record; on return it is in the file, and the file is valid JSON again."""''',
        '''"""Add one record, the obvious (quadratic) way."""
        if self.path.exists() and self.path.stat().st_size:
            records = json.loads(self.path.read_text("utf-8")) + [record]
            self.path.write_text(json.dumps(records, ensure_ascii=False, indent=1), "utf-8")
            return''',
        "test_earlier_records_are_never_rewritten",
    ),
    Variant(
        "broadcast awaits each client in turn, as the seed's ConnectionManager",
        "fastapi_chat", "server.py",
        'manager.broadcast(f"{member.name}: {text}")',
        'await manager.broadcast_in_turn(f"{member.name}: {text}")',
        "test_a_client_that_never_reads_is_dropped_and_the_others_get_everything",
        also=(("    def drop(self, member: Member) -> None:",
               "    async def broadcast_in_turn(self, text: str) -> None:\n"
               "        for member in list(self.members.values()):\n"
               "            await member.websocket.send_text(text)\n\n"
               "    def drop(self, member: Member) -> None:"),),
    ),
]  # fmt: skip


def make_variant(variant: Variant, root: Path) -> Path:
    tree = root / "solutions"
    shutil.copytree(harness.REPO / variant.folder, tree / variant.folder)
    if (harness.REPO / "static").is_dir():
        shutil.copytree(harness.REPO / "static", tree / "static")
    path = tree / variant.folder / variant.file
    source = path.read_text("utf-8")
    for old, new in ((variant.old, variant.new), *variant.also):
        assert source.count(old) == 1, (
            f"variant {variant.name!r} no longer applies: {old!r} is not in "
            f"{variant.folder}/{variant.file} exactly once; update VARIANTS"
        )
        source = source.replace(old, new)
    path.write_text(source, "utf-8")
    return tree


def run_suite(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(harness.REPO / "pyproject.toml"),
         "--rootdir", str(harness.REPO), "-n", "0", "-q", "-p", "no:cacheprovider", *args],
        cwd=harness.REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variant_is_caught(variant: Variant, tmp_path: Path):
    """The test that guards against this classic mistake fails when the mistake is made."""
    tree = make_variant(variant, tmp_path)
    results = tmp_path / "results.json"
    run = run_suite(
        [f"--solutions={tree}", f"--grade-json={results}",
         f"tests/test_{variant.folder}.py::{variant.caught_by}"],
        tmp_path,
    )  # fmt: skip
    assert results.is_file(), f"the suite did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    tests = json.loads(results.read_text())["tests"]
    assert tests, f"{variant.caught_by} did not run:\n{run.stdout[-3000:]}"
    assert all(t["score"] == 0 for t in tests), (
        f"{variant.caught_by} passed against a variant that {variant.name}:\n{run.stdout[-3000:]}"
    )


@pytest.mark.timeout(300)
def test_grade_class_with_good_hung_and_crashing_students(tmp_path: Path):
    """tools/grade_class.py grades every student, and a hung or crashing submission gets 0
    with feedback instead of stopping the others."""
    submissions = tmp_path / "submissions"
    good = submissions / "good" / "echo_tcp"
    shutil.copytree(harness.REPO / "echo_tcp", good)
    crashing = submissions / "crashing" / "echo_tcp"
    crashing.mkdir(parents=True)
    (crashing / "server.py").write_text('raise RuntimeError("boom")\n')
    hung = submissions / "hung" / "echo_tcp"
    hung.mkdir(parents=True)
    # Prints the line, then ignores Ctrl+C and never exits.
    (hung / "server.py").write_text(
        "import signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('Listening on tcp://127.0.0.1:9', flush=True)\n"
        "while True:\n    time.sleep(1)\n"
    )
    # A correct server that starts a child process of its own (as a reloader would), which
    # holds the pipes open: it is graded like any other, and nothing is left running.
    spawner = submissions / "spawner" / "echo_tcp"
    spawner.mkdir(parents=True)
    source = (harness.REPO / "echo_tcp" / "server.py").read_text("utf-8")
    (spawner / "server.py").write_text(
        source.replace(
            "def main() -> None:\n",
            "def main() -> None:\n    import subprocess\n"
            "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3771)'])\n",
            1,
        ).replace("import argparse\n", "import argparse\nimport sys\n", 1)
    )
    for student in ("crashing", "hung", "spawner"):
        shutil.copy(harness.REPO / "echo_tcp" / "client.py", submissions / student / "echo_tcp")
    out = tmp_path / "grades"
    run = subprocess.run(
        [sys.executable, str(harness.REPO / "tools" / "grade_class.py"), str(submissions),
         "--assignment", "echo_tcp", "--out", str(out), "--jobs", "4",
         "--", "-k", "test_one_message_comes_back_whole"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {line.split(",")[0]: line.split(",") for line in
            (out / "grades.csv").read_text().splitlines()[1:]}  # fmt: skip
    assert rows["good"][1] == "10/10", rows
    assert rows["crashing"][1] == "0/10", rows
    assert rows["hung"][1] == "0/10", rows
    assert rows["spawner"][1] == "10/10", rows
    leftovers = subprocess.run(["pgrep", "-f", "time.sleep(3771)"], capture_output=True)
    assert not leftovers.stdout, "a process a student's server started was left running"
    assert (out / "grades.md").read_text().count("|") > 10
    hung_results = json.loads((out / "hung.json").read_text())
    feedback = hung_results["tests"][0]["output"]
    assert "did not exit" in feedback, feedback  # the student is told what went wrong
