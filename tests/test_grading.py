"""The grader's own power: deliberately broken variants of the reference scripts must fail.

Each variant is the reference folder with one classic mistake patched in (a text
replacement, so the variants follow the reference code as it changes), or a whole broken
solution from tests/broken/. The suite runs against the variant with --solutions, and the
test that guards against that mistake must fail - not be skipped, not be "not run" because
a gate failed. A near miss (`exactly=True`) runs the whole assignment: it must lose that one
test and nothing else. Marked `unit`: they test this repository, not a student's folder.
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
import selftest

pytestmark = pytest.mark.unit


@dataclass
class Variant:
    name: str
    folder: str
    file: str
    old: str  # replaced by `new`; more pairs in `also`
    new: str
    caught_by: str  # the test (in tests/test_<folder>*.py or test_contract.py) that must fail
    also: tuple[tuple[str, str], ...] = ()
    base: str | None = None  # a folder under tests/broken/ that replaces the reference's files
    exactly: bool = False  # a near miss: run the whole assignment; only `caught_by` may fail


VARIANTS = [
    Variant(
        "serves one client at a time",
        "echo_tcp", "server.py",
        "threading.Thread(target=echo, args=(conn, host_port(address))).start()",
        "echo(conn, host_port(address))",
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
        "for line in read_lines(stream):",
        'for line in iter(lambda: conn.recv(1024).rstrip(b"\\n"), b""):',
        "test_character_split_across_segments_is_reassembled",
    ),
    Variant(
        "crashes when a client disconnects (the reset escapes the handler, a ghost stays)",
        "chat_tcp", "server.py",
        "    except OSError:\n        pass  # connection reset: the client vanished\n"
        "    finally:\n        room.leave(member)\n",
        "    finally:\n        pass\n    if True:\n        room.leave(member)\n",
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
        "if not path.is_relative_to(root):", "if False:",
        "test_http_never_serves_outside_the_root",
    ),
    Variant(
        "loses acknowledged log records on a crash (buffered writes)",
        "ws_chat_json", "jsonlog.py",
        "buffering=0)", "buffering=1 << 20)",
        "test_kill_mid_burst_loses_nothing_acknowledged",
    ),
    Variant(
        "rewrites the whole log for every message",
        "ws_chat_json", "jsonlog.py",
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
        'elif text.strip() and not await manager.publish(f"{member.name}: {text}"):',
        'elif text.strip() and not await manager.broadcast_in_turn(f"{member.name}: {text}"):',
        "test_a_client_that_never_reads_is_dropped_and_the_others_get_everything",
        also=(('    def leave(self, member: Member, why: str = "left") -> None:',
               "    async def broadcast_in_turn(self, text: str) -> bool:\n"
               "        for member in list(self.members.values()):\n"
               "            await member.websocket.send_text(text)\n"
               "        return True\n\n"
               '    def leave(self, member: Member, why: str = "left") -> None:'),),
    ),
    Variant(
        "announces a rename only to the others (a near miss)",
        "chat_tcp", "server.py",
        '        member.deliver(f"* you are now {new_name}")\n', "",
        "test_rename_is_confirmed_to_the_member", exactly=True,
    ),
    Variant(
        "asyncio handlers that print a traceback when cancelled at shutdown",
        "echo_tcp", "server.py", "", "",
        "test_signal_right_after_new_connections[echo_tcp]", base="echo_tcp/cancelled_handlers",
    ),
    Variant(
        "long poll that answers only at its timeout",
        "push_pull", "server.py",
        "        events = await hub.next_events(last_id, request.app[LONGPOLL_TIMEOUT])",
        "        await asyncio.sleep(request.app[LONGPOLL_TIMEOUT])\n"
        "        events = hub.after(last_id)",
        "test_longpoll_is_held_until_an_event_is_published",
    ),
    Variant(
        "SSE stream without ids",
        "push_pull", "server.py",
        "f\"id: {event['id']}\\ndata: {to_json(event)}\\n\\n\"",
        "f\"data: {to_json(event)}\\n\\n\"",
        "test_sse_reconnecting_with_last_event_id_gets_exactly_what_it_missed",
    ),
    Variant(
        "poll that replays everything",
        "push_pull", "server.py",
        "return web.json_response(request.app[HUB].after(after_id(request)), dumps=to_json)",
        "return web.json_response(list(request.app[HUB].history), dumps=to_json)",
        "test_poll_answers_at_once_with_the_events_after_id",
    ),
]  # fmt: skip


def make_variant(variant: Variant, root: Path) -> Path:
    source_folder = (
        selftest.BROKEN / variant.base if variant.base else harness.REPO / variant.folder
    )
    tree = selftest.tree_of({variant.folder: source_folder}, root)
    for script in ("server.py", "client.py"):  # a broken solution may come with one of them
        if not (tree / variant.folder / script).exists():
            shutil.copy(harness.REPO / variant.folder / script, tree / variant.folder)
    path = tree / variant.folder / variant.file
    source = path.read_text("utf-8")
    for old, new in ((variant.old, variant.new), *variant.also):
        if not old:
            continue  # a whole broken solution needs no patch
        assert source.count(old) == 1, (
            f"variant {variant.name!r} no longer applies: {old!r} is not in "
            f"{variant.folder}/{variant.file} exactly once; update VARIANTS"
        )
        source = source.replace(old, new)
    path.write_text(source, "utf-8")
    return tree


def location_of(variant: Variant) -> str:
    """Where its test lives: tests/test_contract.py for a contract clause."""
    for path in sorted(Path(__file__).parent.glob(f"test_{variant.folder}*.py")):
        if f"def {variant.caught_by.split('[')[0]}(" in path.read_text("utf-8"):
            return f"tests/{path.name}::{variant.caught_by}"
    return f"tests/test_contract.py::{variant.caught_by}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_broken_variant_is_caught(variant: Variant, tmp_path: Path):
    """The test that guards against this classic mistake fails when the mistake is made; a
    near miss loses that test and no other."""
    tree = make_variant(variant, tmp_path)
    if variant.exactly:
        results, output = selftest.grade(tree, f"--assignment={variant.folder}", jobs=2)
    else:
        results, output = selftest.grade(tree, location_of(variant))
    found = selftest.verdicts(results)
    caught = {name: verdict for name, verdict in found.items() if variant.caught_by in name}
    assert caught, f"{variant.caught_by} did not run:\n{output}"
    assert set(caught.values()) == {"failed"}, (
        f"{variant.caught_by} gave {caught} against a variant that {variant.name}:\n{output}"
    )
    if variant.exactly:
        others = {name: v for name, v in found.items() if v != "passed" and name not in caught}
        assert not others, f"a near miss must cost only {variant.caught_by}, it also lost {others}"


@pytest.mark.timeout(300)
def test_a_failed_gate_reports_the_other_tests_as_not_run(tmp_path: Path):
    """A server that never prints its `Listening on` line fails the server gate; every other
    test of its assignment is reported once as not run, with that feedback, in seconds."""
    tree = selftest.tree_of({"echo_tcp": harness.REPO / "echo_tcp"}, tmp_path)
    (tree / "echo_tcp" / "server.py").write_text("print('hello')\n", "utf-8")
    results, output = selftest.grade(tree, "--assignment=echo_tcp", jobs=2)
    found = selftest.verdicts(results)
    assert found.pop("test_contract.py::test_gate_server[echo_tcp]") == "failed", output
    assert found and set(found.values()) == {"not run"}, found
    assert results["score"] == 0 and results["execution_time"] < harness.scaled(60), output
    assert "never printed 'Listening on" in json.dumps(results), "no feedback from the gate"


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
        capture_output=True, text=True, timeout=harness.scaled(240),
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
    feedback = "\n".join(test["output"] for test in hung_results["tests"])
    assert "Connection refused" in feedback, feedback  # the student is told what went wrong
