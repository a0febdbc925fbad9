"""fastapi_chat: the FastAPI WebSocket echo and chat, through the contract in README.md.

Chat clients here are `websockets` connections whose messages a thread collects, so a test
waits for a message (with a timeout), never for time to pass. The chat protocol the issue
fixes: everyone, the sender too, gets `name: text`; notices (joins, leaves, errors) are
free text, so tests only look for a name in them, never for this repo's wording.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import harness
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

FOLDER = "fastapi_chat"
WAIT = 20.0  # generous: the machine is shared and tests run in parallel
UNICODE = "Привіт, світе! สวัสดีครับ 👋🌍"


class Peer:
    """One chat client; a thread files every message it receives, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[str | bytes] = []
        self.seen: set[str | bytes] = set()
        self.cursor = 0
        self.closed = False
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                with self._cond:
                    self.messages.append(message)
                    self.seen.add(message)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass  # closed without a close frame: close_code is None
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def send(self, message: str | bytes) -> None:
        self.ws.send(message)

    def expect(self, predicate, timeout: float = WAIT) -> str | bytes:
        """The next message (after the last one returned) for which predicate holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self.cursor < len(self.messages):
                    message = self.messages[self.cursor]
                    self.cursor += 1
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    why = "the connection closed" if self.closed else f"{timeout:.0f} s passed"
                    raise AssertionError(f"no expected message: {why}; got {self.tail()}")
                self._cond.wait(remaining)

    def wait_seen(self, message: str, timeout: float = WAIT) -> None:
        """Wait until `message` has arrived, wherever it is (expect()'s place stays put)."""
        with self._cond:
            if not self._cond.wait_for(lambda: message in self.seen or self.closed, timeout):
                raise AssertionError(f"{message[:40]!r}… never arrived; got {self.tail()}")

    def expect_text(self, text: str, timeout: float = WAIT) -> str:
        return self.expect(lambda m: m == text, timeout)

    def wait_closed(self, timeout: float = WAIT) -> int | None:
        """Wait for the connection to end; the close code the server sent, if it sent one."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed, timeout):
                raise AssertionError(f"the connection stayed open; got {self.tail()}")
        return self.ws.close_code

    def tail(self) -> str:
        return repr([m if len(m) < 80 else m[:80] + "…" for m in self.messages[-10:]])

    def close(self) -> None:
        self.ws.close()


def notice_about(name: str):
    """A message that names `name` but is not a chat message from them (join/leave/drop)."""
    return lambda m: isinstance(m, str) and name in m and not m.startswith(f"{name}: ")


@pytest.fixture
def server(start_server):
    return start_server(FOLDER)


@pytest.fixture
def peers():
    """peers(server, name=None, path="/ws") -> Peer; all are closed at the end of the test."""
    connections = contextlib.ExitStack()

    def open_peer(server: harness.Server, name: str | None = None, path: str = "/ws") -> Peer:
        query = f"?name={name}" if name else ""
        url = server.url(path + query, scheme="ws")
        # compression=None keeps the per-message work low when the tests push megabytes.
        peer = Peer(connections.enter_context(connect(url, compression=None, open_timeout=WAIT)))
        if path == "/ws":
            # The room knows this peer once the server has said something to it.
            peer.expect(lambda m: True)
            peer.cursor = 0
        return peer

    with connections:
        yield open_peer


def raw_handshake(server: harness.Server, path: str, rcvbuf: int | None = None) -> socket.socket:
    """Open a WebSocket by hand on a plain socket, which the test then controls fully."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:  # a small receive buffer: a client that never reads fills up sooner
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(WAIT)
    sock.connect(server.address)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = harness.recv_until(sock, lambda data: b"\r\n\r\n" in data, WAIT)
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    # recv_until may have read a first frame too; this test never looks at them.
    return sock


def read_close_code(sock: socket.socket, timeout: float = WAIT) -> int | None:
    """Read frames until a close frame (its code) or the end of the stream (None)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        # Parse whole frames from the front of the buffer (server frames are unmasked).
        while len(data) >= 2:
            opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
            if length == 126:
                if len(data) < 4:
                    break
                length, offset = struct.unpack("!H", data[2:4])[0], 4
            elif length == 127:
                if len(data) < 10:
                    break
                length, offset = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < offset + length:
                break
            if opcode == 0x8:
                payload = data[offset : offset + length]
                return struct.unpack("!H", payload[:2])[0] if length >= 2 else 1005
            del data[: offset + length]
        remaining = deadline - time.monotonic()
        assert remaining > 0, "neither a close frame nor the end of the connection came"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk


# --- the page ------------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "serve static/chat.html at GET / and build the WebSocket URL from location, not localhost:8000"
)
def test_page_is_served_with_its_ids(server):
    """`GET /` is the chat page with its ids and no hard-coded `localhost:8000` (seed 001;
    fastapi_chat README). How it shows text is checked in a real browser."""
    with urllib.request.urlopen(server.url("/"), timeout=WAIT) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/html"
        page = response.read().decode("utf-8")
    for element_id in ("name", "message", "send", "messages", "status"):
        assert re.search(rf"""id=["']?{element_id}["'\s>]""", page), f"no #{element_id}"
    assert "localhost:8000" not in page, "the page must not hard-code localhost:8000"


# --- echo ----------------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint("/echo: accept, then answer every text message with a reply that contains it")
def test_echo_answers_every_text_with_a_reply_containing_it(server, peers):
    """/echo answers every text message (Unicode and 30 kB too) with a text reply containing it
    (seed 001; fastapi_chat README, Protocol)."""
    peer = peers(server, path="/echo")
    for text in ("hello", UNICODE, "x" * 30000):
        peer.send(text)
        reply = peer.expect(lambda m: True)
        assert isinstance(reply, str) and text in reply, (
            f"sent {text[:40]!r} ({len(text)} characters), got back {reply!r:.100}"
        )


# --- the chat room -------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "keep every connection in the manager and send each message to all of them, the sender too"
)
def test_every_message_reaches_every_named_client_sender_included(server, peers):
    """20 named clients each send a message; every client, the sender too, gets all 20 messages
    as `name: text` (fastapi_chat README, Protocol)."""
    names = [f"user{i}" for i in range(20)]
    room = [peers(server, name) for name in names]
    for name, peer in zip(names, room, strict=True):
        peer.send(f"hello from {name} {UNICODE}")
    for peer in room:
        wanted = {f"{name}: hello from {name} {UNICODE}" for name in names}
        while wanted:
            wanted.discard(peer.expect(wanted.__contains__))


@pytest.mark.core
@pytest.mark.hint("without a valid ?name=, call the client guest-N")
def test_a_client_without_a_name_gets_a_guest_name(server, peers):
    """Without ?name= a client is guest-N: its message comes back as `guest-N: text` (fastapi_chat
    README, Protocol)."""
    guest = peers(server)
    guest.send("who am I?")
    assert re.fullmatch(r"guest-\d+: who am I\?", guest.expect(lambda m: "who am I?" in m))


@pytest.mark.core
@pytest.mark.hint("tell the room when someone joins and leaves, with a notice that names them")
def test_join_and_leave_notices(server, peers):
    """Members get a notice naming a client when it joins and when it leaves, and the room carries
    on (fastapi_chat README, Protocol)."""
    ann = peers(server, "ann")
    bob = peers(server, "bob")
    ann.expect(notice_about("bob"))  # bob joined
    bob.close()
    ann.expect(notice_about("bob"))  # bob left
    ann.send("still here")
    ann.expect_text("ann: still here")


@pytest.mark.robustness
def test_blank_binary_and_oversized_messages_are_not_broadcast(server, peers):
    """Blank, binary and 2 MiB messages are never broadcast: the sender gets an error notice (or a
    close 1009) (fastapi_chat README, Protocol; CONTRACT servers 5)."""
    ann = peers(server, "ann")
    bob = peers(server, "bob")
    ann.expect(notice_about("bob"))
    bob.cursor = len(bob.messages)  # only what comes after this
    bob.send("   ")
    bob.send(b"\x00\x01binary")
    reply = bob.expect(lambda m: True)  # a polite error, to bob only
    assert isinstance(reply, str) and not reply.startswith("bob:"), (
        f"a blank or binary message must get an error notice, got {reply!r}"
    )
    try:
        bob.send("y" * (2 * 1024 * 1024))  # refused: an error or a close 1009, never shared
    except ConnectionClosed:
        pass
    ann.send("after")
    # The next chat message ann sees is her own: nothing bob sent above was broadcast.
    assert ann.expect(lambda m: isinstance(m, str) and m.startswith(("ann: ", "bob: "))) == (
        "ann: after"
    )
    assert not any(isinstance(m, bytes) or len(m) > 100_000 for m in ann.messages), (
        "bob's binary or oversized message reached ann"
    )
    server.assert_no_traceback()


def push_until_dropped(pushers: dict[str, Peer], watcher: Peer, laggard: str) -> dict[str, int]:
    """Send 16 KiB messages from every pusher until `watcher` hears that `laggard` is gone.

    Returns how many messages each pusher sent. A pusher keeps at most WINDOW messages on
    the way, as a real chat user would: pushing flat out would make any reader in this one
    test process fall behind sooner or later, and a server is right to drop such a reader.
    The pushing runs in a thread so that a server that stalls (the seed's sequential
    broadcast) fails this test instead of hanging it.
    """
    dropped = threading.Event()
    sent = dict.fromkeys(pushers, 0)

    def push() -> None:
        while not dropped.is_set() and sum(sent.values()) < 4000:  # at most 64 MB
            for name, pusher in pushers.items():
                pusher.send(f"{sent[name]:06d} {CHUNK}")
                sent[name] += 1
                if sent[name] > WINDOW:
                    pusher.wait_seen(f"{name}: {sent[name] - WINDOW - 1:06d} {CHUNK}")

    pushing = threading.Thread(target=push, daemon=True)
    pushing.start()
    try:
        watcher.expect(notice_about(laggard), 60)
    finally:
        dropped.set()
    pushing.join(WAIT)
    assert not pushing.is_alive(), "the server stopped reading from the pushers"
    return sent


CHUNK = "z" * 16000
WINDOW = 8  # messages a pusher may have on the way


@pytest.mark.robustness
def test_a_client_that_never_reads_is_dropped_and_the_others_get_everything(server, peers):
    """A client that never reads is dropped with a notice while the readers get every message in
    order (fastapi_chat: one slow client must not stall the room)."""
    readers = [peers(server, f"reader{i}") for i in range(3)]
    pushers = {name: peers(server, name) for name in ("pusher0", "pusher1")}
    laggard = raw_handshake(server, "/ws?name=slowpoke", rcvbuf=4096)
    for reader in readers:
        reader.expect(notice_about("slowpoke"))  # it joined
    sent = push_until_dropped(pushers, readers[0], "slowpoke")
    for pusher in pushers.values():
        pusher.send("done")

    for reader in readers:
        for name in pushers:
            reader.cursor = 0  # read this pusher's messages from the start
            received = []
            while (message := reader.expect(lambda m, p=name: m.startswith(f"{p}: "))) != (
                f"{name}: done"
            ):
                assert message.endswith(CHUNK), f"a message arrived changed: {message[:40]!r}..."
                received.append(int(message.split()[1]))
            assert received == list(range(sent[name])), "a reader missed or reordered messages"
    # The laggard's connection ends once it reads again: a close frame (1008 or 1013 with
    # this server) after what it had not read, or a closed connection.
    code = read_close_code(laggard)
    assert code in (None, 1008, 1013), f"the laggard got close code {code}"
    laggard.close()


@pytest.mark.robustness
def test_clients_that_reset_mid_broadcast_do_not_hurt_the_others(server, peers):
    """10 clients that reset their connections mid-broadcast make no reader miss a message and cause
    no traceback (fastapi_chat README, design point 3; CONTRACT servers 5)."""
    readers = [peers(server, f"reader{i}") for i in range(3)]
    pusher = peers(server, "pusher")
    victims = [raw_handshake(server, f"/ws?name=victim{i}") for i in range(10)]
    for number in range(len(victims)):
        readers[0].expect(notice_about(f"victim{number}"))  # joined
    for number in range(300):
        pusher.send(f"{number} {'r' * 4000}")
        if number == 100:
            for victim in victims:
                # SO_LINGER 0: close() sends a reset instead of a polite FIN.
                victim.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                victim.close()
    pusher.send("done")
    for reader in readers:
        numbers = []
        while (message := reader.expect(lambda m: m.startswith("pusher: "))) != "pusher: done":
            numbers.append(int(message.split()[1]))
        assert numbers == list(range(300)), "a reader missed or reordered messages"
    server.stop()  # exit status 0 within 5 s, and no traceback from the resets


# --- stopping the server -------------------------------------------------------------------


@pytest.mark.contract
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl+C", "SIGTERM"])
def test_stopping_sends_a_close_frame(server, peers, signum):
    """Ctrl+C and SIGTERM send chat and echo clients a close frame, 1001 or uvicorn's 1012, and
    the server exits 0 within 5 s with no traceback (the contract, servers 4)."""
    ann = peers(server, "ann")
    echo = peers(server, path="/echo")
    server.popen.send_signal(signum)
    server.assert_exit(0, harness.STOP_TIMEOUT)
    for peer in (ann, echo):
        assert peer.wait_closed() in (1001, 1012), "no close frame 1001 or 1012"


@pytest.mark.robustness
def test_ctrl_c_with_a_client_that_stopped_reading(server, peers):
    """Ctrl+C still exits within 5 s when a client has stopped reading and its buffers are full
    (CONTRACT servers 4; fastapi_chat README: timeout_graceful_shutdown)."""
    ann = peers(server, "ann")
    laggard = raw_handshake(server, "/ws?name=slowpoke", rcvbuf=4096)
    ann.expect(notice_about("slowpoke"))
    # Until it is dropped, the laggard's buffers fill; they stay full, as it never reads.
    push_until_dropped({"ann": ann}, ann, "slowpoke")
    server.stop()  # must not wait for the laggard
    laggard.close()


# --- the terminal client -------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint("the client prints every message it receives, its own ones too")
def test_two_clients_chat(server, start_client):
    """Two client.py processes chat, each sees every message (its own too), and `exit` and the end
    of input end them with status 0 (CONTRACT clients 2 and 3; fastapi_chat README)."""
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    ann.send("ready")
    ann.expect("ann: ready$")  # ann is in the room
    bob = start_client(FOLDER, "--port", str(server.port), "--name", "bob")
    bob.send("hi ann")
    ann.expect("bob: hi ann$")
    bob.expect("bob: hi ann$")
    ann.send(UNICODE)
    bob.expect(re.escape(f"ann: {UNICODE}"))
    ann.expect(re.escape(f"ann: {UNICODE}"))
    bob.send("exit")
    bob.assert_exit(0)
    ann.expect("bob")  # bob left
    ann.close_input()
    ann.assert_exit(0)


@pytest.mark.contract
def test_client_when_the_server_goes_away(server, start_client):
    """When the server stops, the client notices and ends by itself without a traceback (CONTRACT
    clients 4)."""
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    ann.send("ready")
    ann.expect("ann: ready$")
    server.stop()
    ann.wait(WAIT)  # it notices and ends by itself
    ann.assert_no_traceback()


# --- `uvicorn server:app`, as the seed runs it ----------------------------------------------


@pytest.mark.core
@pytest.mark.hint("keep a module-level `app = FastAPI()`: `uvicorn server:app` imports it")
def test_runs_under_the_uvicorn_command(procs):
    """`uvicorn server:app`, the seed's way to run it, serves the page and /echo and stops on Ctrl+C
    without a traceback (seed 001; fastapi_chat README: Run it)."""
    folder = harness.script(FOLDER).parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:app", "--port", "0"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=harness.subprocess_env(),
    )
    stderr = harness.Stream(proc.stderr, "uvicorn stderr")
    harness.Stream(proc.stdout, "uvicorn stdout")
    try:
        port = int(stderr.expect(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", WAIT).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as response:
            assert re.search(rb"""id=["']?messages["'\s>]""", response.read())
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=WAIT) as ws:
            ws.send("ping")
            assert "ping" in ws.recv(WAIT)
    finally:
        proc.send_signal(signal.SIGINT) if sys.platform != "win32" else proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
        stderr.wait_closed(2)
    assert "Traceback" not in stderr.text()


# --- real third-party clients and a real terminal ------------------------------------------


@pytest.mark.core
@pytest.mark.hint("plain text frames in and out: any WebSocket client must be able to chat")
def test_websocat_joins_the_chat(server, peers, start_tool, websocat):
    """websocat joins the room as `cat`; its message reaches the others and itself (fastapi_chat
    README: try it with a third-party client)."""
    ann = peers(server, "ann")
    tool = start_tool(
        websocat, "--text", "--linemode-strip-newlines", server.url("/ws?name=cat", "ws")
    )
    ann.expect(notice_about("cat"))  # it joined
    tool.send("meow ✓")
    ann.expect(lambda m: m == "cat: meow ✓")
    tool.expect("cat: meow ✓$")  # the sender gets it too
    tool.close_input()
    assert tool.wait() == 0


@pytest.mark.interface
def test_typing_while_messages_arrive_in_a_terminal(server, peers, start_terminal):
    """In a real terminal, a message that arrives while you type shows on a line of its own, what
    you typed stays on screen and is sent whole, and Ctrl+C leaves without a traceback
    (fastapi_chat README: the terminal client)."""
    term = start_terminal(FOLDER, "--port", str(server.port), "--name", "ann")
    bob = peers(server, "bob")
    deadline = time.monotonic() + harness.WAIT
    for number in range(1000):  # until ann is surely in the room: she hears bob
        bob.send(f"sync {number}")
        try:
            term.wait_for(rf"\bbob\W+sync {number}\b", harness.scaled(0.5))
            break
        except AssertionError:
            assert time.monotonic() < deadline, f"bob never reached the terminal:\n{term.text()}"
    term.type("hello wor")
    term.wait_for("hello wor")
    bob.send("incoming message")
    line = term.wait_for(r"\bbob\W+incoming message")
    assert "hello wor" not in line, f"the message was mixed into the typed line: {line!r}"
    term.wait_for("hello wor")  # what was typed is still on screen
    term.type("ld\r")
    bob.expect(lambda m: isinstance(m, str) and m.endswith("ann: hello world"))  # sent whole
    term.interrupt()
    term.wait_exit()
    assert "Traceback" not in term.raw.decode("utf-8", "replace"), term.text()
