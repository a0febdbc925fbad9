"""ws_chat_json: the websockets chat that logs every message and event to a JSON file.

Black-box through the contract in README.md and the folder README: real WebSocket connections
to a server started with --port 0 and a --log in the test's own directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import harness
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

FOLDER = "ws_chat_json"
GREETING = "Добро пожаловать в чат!"  # fixed by seed 002
GOODBYE = "Сессия завершена. До свидания!"  # fixed by seed 002
CLIENT_ID = re.compile(r"Client_\d+")
TIMEOUT = harness.WAIT  # 20 s, stretched by --time-scale (read after pytest_configure set it)
OVERSIZED = 2 * 1024 * 1024 + 1  # above any sensible limit, websockets' default 1 MiB too


# --- helpers ------------------------------------------------------------------------------

# Every connection a test opens; each is closed at the end of the test, pass or fail.
sessions = contextlib.ExitStack()


@pytest.fixture(autouse=True)
def _close_sessions():
    with sessions:
        yield


class Session:
    """A chat connection; frames join() looked at before the test are handed out first."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.early: list[str | bytes] = []

    def recv(self, timeout: float | None = None) -> str | bytes:
        return self.early.pop(0) if self.early else self.ws.recv(timeout=timeout)

    def send(self, message: str | bytes) -> None:
        self.ws.send(message)

    def close(self) -> None:
        self.ws.close()


def join(server: harness.Server, origin: str | None = None) -> tuple[Session, str | None]:
    """Connect (sending `Origin: origin` if given, as a browser's page would); check that the
    first frame is the greeting; return the connection and the id the server told it.

    The id is looked for in the greeting and the frame after it; a server that does not tell
    it loses test_greeting_is_the_first_frame_and_names_the_client, and the tests here that
    need the id learn it otherwise (from the log, or from what the others receive).
    """
    # max_queue=None: frames a test never reads must not stop the client from reading the
    # server's close frame at the end (websockets pauses reading once 16 frames wait).
    ws = sessions.enter_context(
        connect(server.url(), origin=origin, open_timeout=TIMEOUT, close_timeout=5, max_queue=None)
    )
    session = Session(ws)
    first = ws.recv(timeout=TIMEOUT)
    assert isinstance(first, str) and first.startswith(GREETING), (
        f"the first frame must be the greeting {GREETING!r}, got {first!r}"
    )
    if found := CLIENT_ID.search(first.removeprefix(GREETING)):
        return session, found.group()
    try:
        second = ws.recv(timeout=harness.scaled(2))
    except TimeoutError:
        return session, None
    found = CLIENT_ID.search(second) if isinstance(second, str) else None
    if found and not relay_like(second):
        return session, found.group()
    session.early.append(second)  # not the id: the test reads it as usual
    return session, None


def relay_like(frame: str) -> bool:
    """`Client_3: text`: somebody's message from the history, not the server telling an id."""
    return bool(re.match(r"^\W*Client_\d+\W*:", frame))


def expect(ws: ClientConnection, pattern: str, timeout: float = TIMEOUT) -> str:
    """Receive frames until one matches `pattern` (others, such as notices, are skipped)."""
    regex = re.compile(pattern)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no frame matching {pattern!r}; received {seen[-10:]!r}")
        try:
            frame = ws.recv(timeout=remaining)
        except TimeoutError:
            continue
        seen.append(frame if isinstance(frame, str) else repr(frame))
        if isinstance(frame, str) and regex.search(frame):
            return frame


def closed_by_server(ws: ClientConnection, timeout: float = TIMEOUT) -> ConnectionClosed:
    """Read until the server closes the connection; return how it closed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            continue
        except ConnectionClosed as closed:
            return closed
    raise AssertionError("the server did not close the connection")


def load(log: Path) -> list[dict]:
    with log.open(encoding="utf-8") as file:
        records = json.load(file)
    assert isinstance(records, list), "the log must be a JSON array"
    return records


def messages(records: list[dict], client_id: str | None) -> list[str]:
    """The logged messages of one client (of every client where its id is not known)."""
    return [m for cid, m in said(records) if client_id is None or cid == client_id]


def ids_of(records: list[dict], event: str) -> list[str]:
    return [r["client_id"] for r in records if r.get("event") == event]


def said(records: list[dict]) -> list[tuple[str, str]]:
    """(client_id, message) of every client message in the log."""
    return [(r["client_id"], r["message"]) for r in records if r.get("sender") == "client"]


def start_chat(start_server, workdir: Path, *args: str, **kwargs) -> tuple[harness.Server, Path]:
    log = workdir / "chat-log.json"
    return start_server(FOLDER, "--log", str(log), *args, **kwargs), log


def acknowledgement(text: str) -> str:
    """The sender's acknowledgement contains its text (the reference says `You said: TEXT`)."""
    return re.escape(text) + "$"


def relayed(sender_id: str | None, text: str) -> str:
    """What the others get: the text with the sender's id (the reference: `Client_2: TEXT`);
    any client's id where the server never told the sender its own."""
    sender = re.escape(sender_id) if sender_id else r"Client_\d+"
    return sender + r"\W.*" + re.escape(text) + "$"


def say(ws: ClientConnection, text: str) -> None:
    """Send a message and wait for its acknowledgement."""
    ws.send(text)
    expect(ws, acknowledgement(text))


# --- the server ---------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "send the greeting `Добро пожаловать в чат!` as the very first frame, then the client's id"
)
def test_greeting_is_the_first_frame_and_names_the_client(start_server, workdir):
    """Every newcomer first gets the greeting `Добро пожаловать в чат!`, then its own id Client_N,
    different for each client (seed 002; ws_chat_json README, Protocol)."""
    server, _ = start_chat(start_server, workdir)
    first, first_id = join(server)
    second, second_id = join(server)
    assert first_id != second_id
    first.close()
    second.close()


@pytest.mark.core
@pytest.mark.hint(
    "keep the last messages in a bounded deque and send them to a newcomer after the greeting"
)
def test_newcomer_sees_recent_history(start_server, workdir):
    """A client that joins later is sent the recent messages first (ws_chat_json README, Protocol:
    'the last K messages')."""
    server, _ = start_chat(start_server, workdir)
    alice, _ = join(server)
    say(alice, "раз 🙂")
    say(alice, "สวัสดี two")
    bob, _ = join(server)
    expect(bob, "раз 🙂")
    expect(bob, "สวัสดี two")
    alice.close()
    bob.close()


@pytest.mark.core
@pytest.mark.hint(
    "send the sender `You said: TEXT` and everyone else `Client_N: TEXT` (websockets.broadcast)"
)
def test_message_is_acknowledged_and_fanned_out_with_the_sender_id(start_server, workdir):
    """A message is acknowledged to its sender as `You said: text` and reaches the others as
    `Client_N: text` (seed 002; ws_chat_json README, Protocol)."""
    server, _ = start_chat(start_server, workdir)
    members = [join(server) for _ in range(5)]
    (sender, sender_id), others = members[0], members[1:]
    text = "Привет всем, สวัสดี, 👋 " + "длинно " * 500
    sender.send(text)
    expect(sender, acknowledgement(text))
    for ws, _ in others:
        expect(ws, relayed(sender_id, text))
    for ws, _ in members:
        ws.close()


@pytest.mark.core
@pytest.mark.hint(
    "write the record before you acknowledge the message; the file must be a valid JSON array "
    "after every write"
)
def test_log_records_every_message_and_event_and_stays_valid(start_server, workdir):
    """The log is a valid JSON array after each acknowledged message; records have the README's
    fields, and connect and disconnect are logged (seed 002; ws_chat_json README, log format)."""
    server, log = start_chat(start_server, workdir)
    ws, client_id = join(server)
    texts = ["первое", "second ✓", "ที่สาม 🎉"]
    for count, text in enumerate(texts, 1):
        say(ws, text)
        # The acknowledgement comes after the record is written: the file is valid now.
        records = load(log)
        assert messages(records, client_id) == texts[:count]
    for record in records:
        assert {"time", "client_id", "message", "sender"} <= record.keys(), record
        datetime_from_iso(record["time"])
    connects = ids_of(records, "connect")
    assert len(connects) == 1 and client_id in (None, connects[0]), connects

    ws.send("exit")
    closed_by_server(ws)
    server.stop()
    records = load(log)
    leaving = [r for r in records if r.get("event") == "disconnect"]
    assert len(leaving) == 1 and client_id in (None, leaving[0]["client_id"]), (
        f"expected one disconnect record for {client_id}, got {leaving}"
    )
    assert "status" in leaving[0] and leaving[0]["status"], "a disconnect records its status"


def datetime_from_iso(text: str) -> None:
    from datetime import datetime

    datetime.fromisoformat(text)  # raises ValueError unless ISO 8601


@pytest.mark.core
@pytest.mark.hint("the default --log is messages.json, relative to the current directory")
def test_log_is_created_in_the_current_directory_by_default(start_server, workdir):
    """Without --log, the log is messages.json in the current working directory (ws_chat_json
    README: Run it)."""
    server = start_server(FOLDER)
    ws, client_id = join(server)
    say(ws, "hello")
    assert "hello" in messages(load(workdir / "messages.json"), client_id)
    ws.close()


@pytest.mark.core
@pytest.mark.hint("open an existing log and continue its array; never start it anew")
def test_log_from_an_earlier_run_is_continued(start_server, workdir):
    """A restarted server continues the log of the earlier run; the old records stay first and
    unchanged (ws_chat_json README: 'a log from an earlier run is continued')."""
    server, log = start_chat(start_server, workdir)
    ws, _ = join(server)
    say(ws, "from the first run")
    ws.close()
    server.stop()
    before = load(log)

    server, _ = start_chat(start_server, workdir)
    ws, second_id = join(server)
    say(ws, "from the second run")
    after = load(log)
    assert after[: len(before)] == before, "the old records must stay, unchanged and first"
    assert messages(after, second_id)[-1] == "from the second run"
    ws.close()


@pytest.mark.core
@pytest.mark.hint(
    "do not json.load and json.dump the whole list per message: overwrite only the closing `]` "
    "with `,` + the record + `]`"
)
def test_earlier_records_are_never_rewritten(start_server, workdir):
    """Appending must not read, parse and rewrite the whole file for each message (that costs
    more with every record): the bytes of the earlier records stay exactly as they were."""
    log = workdir / "chat-log.json"
    # One record per line, as this log is written, with unusual spacing inside the record:
    # json.dump() of the parsed list would tidy it away.
    earlier = (
        '[\n{"time":  "2023-10-31T13:45:00",   "client_id": "Client_1",  '
        '"message":   "Привет от клиента",  "sender": "client"}\n]\n'
    )
    log.write_text(earlier, encoding="utf-8")
    server, _ = start_chat(start_server, workdir)
    ws, client_id = join(server)
    say(ws, "one")
    say(ws, "two")
    text = log.read_text(encoding="utf-8")
    kept = earlier.rstrip().removesuffix("]").rstrip()
    assert text.startswith(kept), f"the earlier record was rewritten:\n{text[:400]}"
    assert messages(load(log), client_id)[-2:] == ["one", "two"]
    ws.close()


@pytest.mark.core
@pytest.mark.hint(
    "append each record with one write and no await in between, so two records never interleave"
)
def test_burst_from_several_clients_is_logged_exactly_once(start_server, workdir):
    """8 clients send 25 messages each without waiting: every message is acknowledged and logged
    exactly once (ws_chat_json README: two records can never interleave)."""
    server, log = start_chat(start_server, workdir)
    clients, per_client = 8, 25
    members = [join(server) for _ in range(clients)]
    errors: list[BaseException] = []

    def chat(ws: Session, number: int) -> None:
        try:
            texts = [f"member {number} message {n} ✓" for n in range(per_client)]
            for text in texts:  # pipelined: no waiting between sends
                ws.send(text)
            for text in texts:
                expect(ws, acknowledgement(text))
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=chat, args=(ws, n)) for n, (ws, _) in enumerate(members)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(harness.scaled(60))
    assert not errors, errors[0]
    logged = said(load(log))
    texts = [m for _, m in logged]
    expected = {f"member {i} message {n} ✓" for i in range(clients) for n in range(per_client)}
    assert len(texts) == len(expected) and set(texts) == expected, (
        f"{len(expected)} messages were sent and {len(texts)} logged: "
        f"{len(expected - set(texts))} missing, {len(texts) - len(set(texts))} logged twice"
    )
    for number, (_, client_id) in enumerate(members):  # each member's under one id, its own
        ids = {cid for cid, m in logged if m.startswith(f"member {number} ")}
        assert len(ids) == 1 and client_id in (None, *ids), f"member {number} logged as {ids}"
    for ws, _ in members:
        ws.close()


@pytest.mark.robustness
def test_kill_mid_burst_loses_nothing_acknowledged(start_server, workdir):
    """After kill -9 mid-burst the log is valid JSON holding every acknowledged message, and a
    restart continues it (ws_chat_json README: survives kill -9)."""
    server, log = start_chat(start_server, workdir)
    ws, client_id = join(server)
    acknowledged: list[str] = []
    total, kill_after = 400, 50

    def send_all() -> None:
        try:
            for n in range(total):
                ws.send(f"burst {n} ✓")
        except (ConnectionClosed, OSError):
            pass  # the server was killed under us

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    try:
        while True:
            frame = ws.recv(timeout=TIMEOUT)
            if isinstance(frame, str) and (found := re.search(r"(burst \d+ ✓)$", frame)):
                acknowledged.append(found.group(1))
                if len(acknowledged) == kill_after:
                    server.kill()  # kill -9: no chance to clean up
    except ConnectionClosed:
        pass
    sender.join(TIMEOUT)
    assert len(acknowledged) >= kill_after, (
        f"only {len(acknowledged)} messages were acknowledged before the connection ended"
    )

    records = load(log)  # valid JSON right after the kill
    lost = set(acknowledged) - set(messages(records, client_id))
    assert not lost, f"{len(lost)} acknowledged messages are not in the log: {sorted(lost)[:3]}"

    server, _ = start_chat(start_server, workdir)
    ws, new_id = join(server)
    say(ws, "after the restart")
    after = load(log)
    assert after[: len(records)] == records
    assert messages(after, new_id)[-1] == "after the restart"
    ws.close()


@pytest.mark.robustness
def test_restart_repairs_a_torn_last_record(start_server, workdir):
    """A log whose last record a crash cut in half is repaired at the next start: complete records
    stay, new ones follow (ws_chat_json README: the unfinished last line is dropped)."""
    server, log = start_chat(start_server, workdir)
    ws, client_id = join(server)
    say(ws, "kept one")
    say(ws, "kept two")
    ws.close()
    server.stop()
    complete = load(log)
    # What a crash in the middle of appending one more record leaves behind: the closing
    # bracket gone and half a record after the last complete one.
    text = log.read_text(encoding="utf-8").rstrip()
    assert text.endswith("]"), f"after a clean stop the log must end with ']': ...{text[-80:]!r}"
    log.write_text(text[:-1].rstrip() + ',\n{"time": "2024-01-01T00:00:00", "cli', "utf-8")

    server, _ = start_chat(start_server, workdir)
    ws, new_id = join(server)
    say(ws, "after the repair")
    repaired = load(log)
    assert repaired[: len(complete)] == complete
    assert messages(repaired, new_id)[-1] == "after the repair"
    assert "kept two" in messages(repaired, client_id)
    ws.close()


@pytest.mark.core
@pytest.mark.hint("on `exit`, await websocket.close(1000, 'Сессия завершена. До свидания!')")
def test_exit_closes_with_1000_and_the_goodbye(start_server, workdir):
    """`exit` closes the session with code 1000 and the reason `Сессия завершена. До свидания!`, and
    the disconnect is logged (seed 002; ws_chat_json README, Protocol)."""
    server, log = start_chat(start_server, workdir)
    ws, client_id = join(server)
    ws.send("exit")
    closed = closed_by_server(ws)
    assert closed.rcvd is not None, "the server must send a close frame"
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, GOODBYE)
    server.stop()
    leaving = ids_of(load(log), "disconnect")
    assert len(leaving) == 1 and client_id in (None, leaving[0]), leaving


@pytest.mark.contract
def test_ctrl_c_closes_every_client_with_1001_and_the_goodbye(start_server, workdir):
    """Ctrl+C closes every client with 1001 and the goodbye reason, exits 0 within 5 s, and the log
    has the last message and every disconnect (ws_chat_json README; the contract, servers 4)."""
    server, log = start_chat(start_server, workdir)
    members = [join(server) for _ in range(3)]
    say(members[0][0], "last words")
    server.stop()  # Ctrl+C; exit status 0 within 5 s, no traceback
    for ws, _ in members:
        closed = closed_by_server(ws)
        assert closed.rcvd is not None, "every client must get a close frame"
        assert (closed.rcvd.code, closed.rcvd.reason) == (1001, GOODBYE)
    records = load(log)
    assert messages(records, members[0][1])[-1] == "last words"
    leaving = ids_of(records, "disconnect")
    told = {cid for _, cid in members}
    assert len(leaving) == 3 and (None in told or set(leaving) == told), leaving


@pytest.mark.core
@pytest.mark.hint(
    "read the server's standard input in a thread and hand each line to the event loop; send it"
    " to everyone and log it"
)
def test_operator_console_through_a_pipe(start_server, workdir):
    """A line written to the server's standard input reaches every client and is logged with sender
    `server` (seed 003: the operator talks to everyone; ws_chat_json README)."""
    server, log = start_chat(start_server, workdir, stdin=subprocess.PIPE)
    members = [join(server) for _ in range(2)]
    text = "Внимание: сервер говорит 📢"
    server.send(text)
    for ws, _ in members:
        expect(ws, re.escape(text))
    # The record is written before the frames go out.
    assert any(r.get("sender") == "server" and r["message"] == text for r in load(log)), (
        "the operator's line is not in the log as a record with sender 'server'"
    )
    for ws, _ in members:
        ws.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.contract
def test_closed_stdin_keeps_serving_without_spinning(start_server, workdir):
    """A server whose standard input is closed keeps serving and does not spin or keep printing
    (the contract, servers 6)."""
    server, _ = start_chat(start_server, workdir, stdin=subprocess.PIPE)
    server.close_input()
    ws, _ = join(server)
    say(ws, "still here")
    if not Path(f"/proc/{server.popen.pid}/stat").exists():
        pytest.skip("measuring CPU time needs Linux /proc")
    # A measuring window, not a synchronisation: an idle server uses next to no CPU in it,
    # one that loops on the end of its input uses a whole core.
    before = cpu_seconds(server.popen.pid)
    with pytest.raises(subprocess.TimeoutExpired):
        server.popen.wait(harness.scaled(2.0))
    assert cpu_seconds(server.popen.pid) - before < 1.0, "the server spins on a closed stdin"
    assert len(server.output().splitlines()) < 30, "the server keeps printing on a closed stdin"
    say(ws, "and still here")
    ws.close()


@pytest.mark.robustness
def test_oversized_message_closes_only_that_client_with_1009(start_server, workdir):
    """A message over 64 KiB closes only its sender, with code 1009; the other clients carry on
    (ws_chat_json README: close codes; the contract, servers 5)."""
    server, _ = start_chat(start_server, workdir)
    healthy, _ = join(server)
    greedy, _ = join(server)
    try:
        greedy.send("x" * OVERSIZED)
    except (ConnectionClosed, OSError):
        pass  # the server may close before all of it is sent
    closed = closed_by_server(greedy)
    assert closed.rcvd is not None and closed.rcvd.code == 1009, (
        f"expected a close frame with code 1009, got {closed.rcvd}"
    )
    say(healthy, "all fine here")
    newcomer, _ = join(server)
    expect(newcomer, re.escape("all fine here"))
    healthy.close()
    newcomer.close()
    server.assert_no_traceback()


@pytest.mark.robustness
def test_binary_frame_gets_an_error_and_the_session_goes_on(start_server, workdir):
    """A binary frame gets a text error frame, not an acknowledgement, and the session goes on
    (ws_chat_json README, Protocol: `* error: ...`; the contract, servers 5)."""
    server, _ = start_chat(start_server, workdir)
    ws, _ = join(server)
    ws.send(b"\x00\x01binary")
    reply = ws.recv(timeout=TIMEOUT)
    assert isinstance(reply, str) and not reply.endswith("binary"), (
        f"a binary frame must get a text error frame, got {reply!r}"
    )
    say(ws, "text works")
    ws.close()
    server.assert_no_traceback()


def handshake_status(server: harness.Server, origin: str) -> int | str:
    """The HTTP status the server answers a handshake from a page of `origin` with (101: it
    opened a WebSocket)."""
    try:
        with connect(server.url(), origin=origin, open_timeout=harness.TIMEOUT):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code
    except (InvalidHandshake, OSError) as error:  # TimeoutError is an OSError
        return f"no HTTP answer ({type(error).__name__}: {error})"


def own_origin(server: harness.Server) -> str:
    """The origin of a page served from the server's own host and port."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"http://{host}:{server.port}"


@pytest.mark.robustness
@pytest.mark.hint(
    "pass origins=[None, the server's own http://HOST:PORT, *--allow-origin] to websockets' "
    "serve(): None lets in clients that send no Origin, any other origin gets HTTP 403"
)
def test_handshake_from_another_origin_is_refused_with_403(start_server, workdir):
    """A handshake from another site's page (`Origin: http://evil.example`) gets HTTP 403 and no
    WebSocket, so a page you visit cannot chat in your name; a page of the server's own origin and
    a client that sends no Origin (a terminal, websocat) join (ws_chat_json README: Notice)."""
    server, _ = start_chat(start_server, workdir)
    status = handshake_status(server, "http://evil.example")
    assert status == 403, (
        f"a handshake with Origin: http://evil.example must be refused with HTTP 403 before the "
        f"upgrade, got {status}"
    )
    own, own_id = join(server, origin=own_origin(server))
    plain, _ = join(server)
    say(own, "same origin ✓")
    expect(plain, relayed(own_id, "same origin ✓"))
    own.close()
    plain.close()
    server.assert_no_traceback()


@pytest.mark.robustness
@pytest.mark.hint("--allow-origin ORIGIN (repeatable: action='append') adds ORIGIN to origins=")
def test_allow_origin_lets_a_listed_origin_in(start_server, workdir):
    """`--allow-origin ORIGIN`, given twice, lets pages of both origins join; an origin not listed
    is still refused with HTTP 403 (ws_chat_json README: Run it)."""
    listed = ["http://localhost:3000", "https://chat.example"]
    server, _ = start_chat(
        start_server, workdir, "--allow-origin", listed[0], "--allow-origin", listed[1]
    )
    for origin in listed:
        ws, _ = join(server, origin=origin)
        say(ws, f"from {origin}")
        ws.close()
    status = handshake_status(server, "http://localhost:3001")
    assert status == 403, f"an origin not listed must still get HTTP 403, got {status}"
    server.assert_no_traceback()


# --- the client ---------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint("the client prints every frame it receives, and sends `exit` at the end of input")
def test_two_clients_chat_and_exit(start_server, start_client, workdir):
    """Two client.py processes (--port and --url) chat; `exit` and the end of input each end a
    client after the goodbye, with status 0 (the contract, clients 1-3; ws_chat_json README)."""
    server, _ = start_chat(start_server, workdir)
    alice = start_client(FOLDER, "--port", str(server.port))
    greeting = alice.expect(re.escape(GREETING)).string  # the id may be in the same frame
    alice_id = (CLIENT_ID.search(greeting) or alice.expect(r"Client_\d+")).group()
    bob = start_client(FOLDER, "--url", server.url())
    bob.expect(re.escape(GREETING))
    alice.send("Привет, Bob 👋")
    alice.expect(acknowledgement("Привет, Bob 👋"))
    bob.expect(relayed(alice_id, "Привет, Bob 👋"))
    bob.send("exit")
    bob.expect(re.escape(GOODBYE))
    bob.assert_exit(0)
    alice.close_input()  # the end of input ends it like exit, after the owed replies
    alice.expect(re.escape(GOODBYE))
    alice.assert_exit(0)


@pytest.mark.robustness
def test_client_reports_a_message_that_was_too_big(start_server, start_client, workdir):
    """A line over the server's limit makes the server end the session with 1009: the client
    tells its user (the code on standard output, or a line on standard error) and ends by itself
    without a traceback (ws_chat_json README: close codes; the exit status is not prescribed)."""
    server, _ = start_chat(start_server, workdir)
    client = start_client(FOLDER, "--port", str(server.port))
    client.expect(re.escape(GREETING))
    client.send("x" * OVERSIZED)
    client.close_input()
    assert client.wait(harness.WAIT) in (0, 1), client.describe()
    client.assert_no_traceback()
    assert client.stderr.text().strip() or "1009" in client.stdout.text(), (
        f"the client did not say that the server refused the message\n{client.describe()}"
    )


@pytest.mark.contract
def test_client_says_so_when_the_server_goes_away(start_server, start_client, workdir):
    """When the server stops, the client says so (on stderr, or by printing the goodbye) and exits
    by itself without a traceback (ws_chat_json README: Ctrl+C on the server)."""
    server, _ = start_chat(start_server, workdir)
    client = start_client(FOLDER, "--port", str(server.port))
    client.expect(re.escape(GREETING))
    server.stop()
    client.wait(TIMEOUT)  # it exits by itself
    client.assert_no_traceback()
    assert client.stderr.text().strip() or GOODBYE in client.stdout.text(), client.describe()


# --- third-party clients ------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "any standard WebSocket client must be able to chat: plain text frames, no framing of your own"
)
def test_websocat_is_a_client(start_server, workdir, start_tool, websocat):
    """websocat, a client nobody here wrote, gets the greeting and `You said: ...`, and ends cleanly
    after `exit` (ws_chat_json README: With a third-party client)."""
    server, _ = start_chat(start_server, workdir)
    # --linemode-strip-newlines, as the README says: otherwise websocat sends `exit\n`.
    tool = start_tool(websocat, "--text", "--linemode-strip-newlines", "--no-close", server.url())
    tool.expect(re.escape(GREETING))
    tool.send("hello from websocat ✓")
    tool.expect(acknowledgement("hello from websocat ✓"))
    tool.send("exit")
    tool.close_input()  # websocat also waits for its input to end
    assert tool.wait(TIMEOUT) == 0


@pytest.mark.core
@pytest.mark.hint("close with the code and the reason as text: `python -m websockets` prints them")
def test_python_m_websockets_is_a_client(start_server, workdir, start_tool):
    """`python -m websockets` gets the greeting and the acknowledgement, and sees close code 1000
    and the goodbye after `exit` (ws_chat_json README: With a third-party client)."""
    server, _ = start_chat(start_server, workdir)
    tool = start_tool(sys.executable, "-m", "websockets", server.url())
    tool.expect(re.escape(GREETING))
    tool.send("hello from python -m websockets")
    tool.expect(re.escape("hello from python -m websockets"))
    tool.send("exit")
    tool.expect("1000.*" + re.escape(GOODBYE))
    assert tool.wait(TIMEOUT) == 0


# --- the log on its own -------------------------------------------------------------------


def load_json_log() -> type:
    """This repo's JsonLog class (ws_chat_json/jsonlog.py), loaded under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        "ws_chat_json_jsonlog", harness.REPO / FOLDER / "jsonlog.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JsonLog


@pytest.mark.unit
def test_json_log_appends_without_rereading_and_repairs_its_tail(tmp_path):
    """Unit test of this repo's JsonLog: created with its first record, valid after every append, a
    torn last record dropped when reopened (ws_chat_json README: How it is written)."""
    JsonLog = load_json_log()
    path = tmp_path / "log.json"
    log = JsonLog(path)
    assert not path.exists(), "the file is created with its first record"
    for n in range(3):
        log.append({"n": n, "text": "ок ✓"})
        assert json.loads(path.read_text("utf-8")) == [
            {"n": i, "text": "ок ✓"} for i in range(n + 1)
        ]
    log.close()
    torn = path.read_bytes().rstrip()[:-1] + b',\n{"n": 3, "te'
    path.write_bytes(torn)
    log = JsonLog(path)
    log.append({"n": 4})
    log.close()
    assert [r["n"] for r in json.loads(path.read_text("utf-8"))] == [0, 1, 2, 4]


@pytest.mark.unit
def test_json_log_keeps_every_complete_record_wherever_an_append_is_torn(tmp_path):
    """Unit test of this repo's JsonLog: an append cut short after any number of bytes (the
    first one included, which leaves `{...},]`) loses at most the record it was writing, and the
    reopened log takes new records (ws_chat_json README: How it is written)."""
    JsonLog = load_json_log()
    records = [{"n": n, "text": "ок ✓ ]},"} for n in range(3)]
    new = {"n": 3, "text": "ок ✓ ]},"}  # multi-byte characters, and `]`, `}`, `,` inside
    for before in ([], records):  # the first append (creates the file) and a later one
        # What the file holds before the append, and the bytes the append writes at its end.
        path = tmp_path / "whole.json"
        path.unlink(missing_ok=True)
        log = JsonLog(path)
        for record in before:
            log.append(record)
        log.close()
        old = path.read_bytes() if before else b""
        log = JsonLog(path)
        log.append(new)
        log.close()
        line = json.dumps(new, ensure_ascii=False).encode("utf-8")
        start = len(old) - len(JsonLog.TAIL) if before else 0
        data = path.read_bytes()[start:]
        assert data.endswith(line + JsonLog.TAIL)
        for torn_at in range(len(data)):
            # write() overwrote the old tail with the first `torn_at` bytes and then stopped.
            torn = bytearray(old)
            torn[start : start + torn_at] = data[:torn_at]
            path.write_bytes(bytes(torn))
            log = JsonLog(path)
            log.append({"n": 4})
            log.close()
            kept = [r["n"] for r in json.loads(path.read_text("utf-8"))]
            complete = torn_at >= len(data) - len(JsonLog.TAIL)  # the new line is all there
            expected = [r["n"] for r in before] + ([3] if complete else []) + [4]
            assert kept == expected, f"torn after {torn_at} bytes: {bytes(torn)[-60:]!r}"


@pytest.mark.interface
def test_typing_while_messages_arrive_in_a_terminal(start_server, start_terminal, workdir):
    """In a real terminal, a message that arrives while you type shows on a line of its own, what
    you typed stays on screen and is sent whole, and Ctrl+C leaves without a traceback
    (ws_chat_json README: the client prints incoming messages above the line being typed)."""
    server, _ = start_chat(start_server, workdir)
    term = start_terminal(FOLDER, "--port", str(server.port))
    term.wait_for(re.escape(GREETING))  # in the room: the greeting comes after joining
    other, other_id = join(server)
    term.type("hello wor")
    term.wait_for("hello wor")
    other.send("incoming message")
    line = term.wait_for(rf"\b{other_id}\W+incoming message")
    assert "hello wor" not in line, f"the message was mixed into the typed line: {line!r}"
    term.wait_for("hello wor")  # what was typed is still on screen
    term.type("ld\r")
    expect(other, r"Client_\d+\W+hello world$")  # and it was sent whole
    term.interrupt()
    term.wait_exit()
    assert "Traceback" not in term.raw.decode("utf-8", "replace"), term.text()
