"""The contract, assignment by assignment: what tests/test_contract.py and the gates need to know.

For each assignment: the scheme and default port of its server, the options its server needs
in a test, how to open a connection the server must look after, and how its client makes one
basic exchange. With these, every clause of the contract (README.md, "What your scripts must
do to be graded") is checked once, by one test, for every assignment.

The gates (check50's idea): an assignment's server gate is "the server starts on --port 0 and
prints its line"; its client gate is "the client connects and does one basic exchange". When a
gate fails, every other test of that assignment that needs it is reported once as not run,
with the gate's feedback, instead of as a page of timeouts.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import harness
import pytest
from websockets.sync.client import connect as ws_connect

try:
    import fcntl  # to share the gates' verdicts between xdist workers
except ImportError:  # Windows
    fcntl = None

TEXT = "Привіт ✓ สวัสดี 🙂"


# --- connections a server must look after --------------------------------------------------------
def upgrade_request(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def opener(first_bytes: bytes) -> Callable[[harness.Server], socket.socket]:
    """A raw connection that sends the first bytes of the protocol and does not wait."""

    def touch(server: harness.Server) -> socket.socket:
        sock = harness.connect(server.address)
        sock.sendall(first_bytes)
        return sock

    return touch


def echo_line(server: harness.Server):
    sock = harness.connect(server.address)
    sock.sendall(b"hello\n")
    assert harness.recv_line(sock, bytearray()) == "hello", "the echo server did not echo"
    return sock


def http_keepalive(path: str):
    def open_http(server: harness.Server):
        sock = harness.connect(server.address)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = harness.recv_until(sock, lambda data: b"\r\n\r\n" in data)
        assert head.startswith(b"HTTP/1."), f"no HTTP answer to GET {path}: {head[:80]!r}"
        return sock

    return open_http


def websocket(path: str, greeted: bool = False):
    def open_ws(server: harness.Server) -> contextlib.ExitStack:
        """The open connection, to be closed with close()."""
        stack = contextlib.ExitStack()
        url = server.url(path, "ws")
        ws = stack.enter_context(ws_connect(url, open_timeout=harness.TIMEOUT, proxy=None))
        if greeted:  # a chat room says something first; then it surely counts us in
            ws.recv(timeout=harness.TIMEOUT)
        return stack

    return open_ws


# --- a client's basic exchange -------------------------------------------------------------------
class Session:
    """A client started against a server, ready to send messages and show their effect."""

    def __init__(self, client: harness.Proc) -> None:
        self.client = client

    def send(self, text: str) -> None:
        self.client.send(text)

    def delivered(self, pattern: str, timeout: float | None = None) -> None:
        """Wait until the effect of a message shows: here, a line the client prints."""
        self.client.expect(pattern, timeout)

    def close(self) -> None:
        pass


class Listener:
    """A chat member on a raw socket whose reader thread files every line it receives."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = harness.connect(address)
        self.stream = harness.Stream(self.sock.makefile("rb"), "a raw chat member")

    def say(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class ChatSession(Session):
    """chat_tcp's client next to a raw member, bob: what one says, the other must print."""

    def __init__(self, client: harness.Proc, bob: Listener) -> None:
        super().__init__(client)
        self.bob = bob

    def delivered(self, pattern: str, timeout: float | None = None) -> None:
        self.bob.stream.expect(pattern, timeout)

    def close(self) -> None:
        self.bob.close()


def sync_chat(client: harness.Proc, bob: Listener) -> None:
    """Wait until the client is surely in the room: bob's messages reach it.

    The protocol says nothing about when a new connection joins the room, only that a message
    reaches every other member. So bob says a new token now and then until the client prints
    one; the first one may come before the client has joined.
    """
    deadline = time.monotonic() + harness.WAIT
    for number in range(1000):
        token = f"sync-{number}-{os.getpid()}"
        bob.say(token)
        try:
            client.expect(re.escape(token), timeout=harness.scaled(0.5))
            return
        except AssertionError:
            if time.monotonic() > deadline or client.popen.poll() is not None:
                raise AssertionError(
                    "a message from another member never reached the client: it is not in the "
                    f"room, or it does not print what it receives\n{client.describe()}"
                ) from None


@dataclass(frozen=True)
class Spec:
    """What the contract tests need to know of one assignment."""

    name: str
    scheme: str  # of the `Listening on` line
    port: int  # the default port in the README's table
    handled: Callable[[harness.Server], object]  # a connection the server is looking after
    touch: Callable[[harness.Server], socket.socket]  # a raw connection, first bytes sent
    offline: tuple[str, ...] = ()  # client options beside --port for a server that is not there
    interactive: bool = True  # the client reads messages from standard input
    server_args: Callable[[Path], list[str]] = lambda workdir: []
    start: Callable[[harness.Scope, harness.Server | None], Session] | None = None
    message: Callable[[int], tuple[str, str]] = lambda n: (f"{TEXT} {n}", re.escape(f"{TEXT} {n}"))
    client_needs_server: bool = True
    notes: dict = field(default_factory=dict)


def start_echo(scope: harness.Scope, server: harness.Server) -> Session:
    return Session(scope.client("echo_tcp", "--port", str(server.port)))


def start_chat(scope: harness.Scope, server: harness.Server) -> Session:
    bob = Listener(server.address)
    client = scope.client("chat_tcp", "--port", str(server.port), "--name", "ann")
    session = ChatSession(client, bob)
    try:
        sync_chat(client, bob)
    except BaseException:
        session.close()
        raise
    return session


def start_ws_client(scope: harness.Scope, server: harness.Server) -> Session:
    return Session(scope.client("ws_client", "--url", server.url("/ws", "ws")))


def start_file_client(scope: harness.Scope, server: harness.Server) -> Session:
    return Session(scope.client("ws_file_server", "--port", str(server.port)))


def start_ws_chat(scope: harness.Scope, server: harness.Server) -> Session:
    client = scope.client("ws_chat_json", "--port", str(server.port))
    client.expect(re.escape("Добро пожаловать в чат!"), harness.WAIT)  # in the room now
    return Session(client)


def start_fastapi_chat(scope: harness.Scope, server: harness.Server) -> Session:
    return Session(scope.client("fastapi_chat", "--port", str(server.port), "--name", "ann"))


class EventSession(Session):
    """push_pull's client follows events: a message is an event published with POST /events."""

    def __init__(self, client: harness.Proc, server: harness.Server) -> None:
        super().__init__(client)
        self.server = server

    def send(self, text: str) -> None:
        request = urllib.request.Request(
            self.server.url("/events", "http"), data=text.encode("utf-8"), method="POST"
        )
        urllib.request.urlopen(request, timeout=harness.TIMEOUT).close()


def start_push_pull(scope: harness.Scope, server: harness.Server) -> Session:
    return EventSession(
        scope.client("push_pull", "--port", str(server.port), "--method", "ws"), server
    )


def file_root(workdir: Path) -> list[str]:
    """ws_file_server serves a folder of the test's own: the messages are its file names."""
    root = workdir / "site"
    root.mkdir(exist_ok=True)
    for n in range(10):
        (root / f"file{n}.txt").write_text(f"{TEXT} file {n}\n", encoding="utf-8")
    return ["--root", str(root)]


SPECS = {
    spec.name: spec
    for spec in [
        Spec("echo_tcp", "tcp", 12345, echo_line, opener(b"hello\n"), ("--message", "hi"),
             start=start_echo, message=lambda n: (f"{TEXT} {n}", re.escape(f"{TEXT} {n}") + "$")),
        Spec("chat_tcp", "tcp", 12346, opener(b"/name probe\n"), opener(b"/name probe\n"),
             start=start_chat),
        Spec("http_client", "http", 8081, http_keepalive("/json"),
             opener(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"), interactive=False,
             client_needs_server=False),
        Spec("ws_client", "ws", 8082, websocket("/ws"), opener(upgrade_request("/ws")),
             ("--message", "hi"), start=start_ws_client,
             message=lambda n: (f"{TEXT} {n}", re.escape(f"{TEXT} {n}/answer") + "$")),
        Spec("ws_file_server", "http", 8080, websocket("/ws"), opener(upgrade_request("/ws")),
             ("file0.txt",), server_args=file_root, start=start_file_client,
             message=lambda n: (f"file{n}.txt", re.escape(f"{TEXT} file {n}") + "$")),
        Spec("ws_chat_json", "ws", 8765, websocket("/", greeted=True),
             opener(upgrade_request("/")), server_args=lambda w: ["--log", str(w / "log.json")],
             start=start_ws_chat),
        Spec("fastapi_chat", "http", 8000, websocket("/ws?name=probe", greeted=True),
             opener(upgrade_request("/ws?name=probe")), start=start_fastapi_chat,
             message=lambda n: (f"{TEXT} {n}", r"\bann: " + re.escape(f"{TEXT} {n}") + "$")),
        # Its client reads nothing but `exit` from standard input: not interactive here.
        Spec("push_pull", "http", 8083, websocket("/ws"), opener(upgrade_request("/ws")),
             server_args=lambda workdir: ["--rate", "0"], start=start_push_pull,
             interactive=False, message=lambda n: (f"{TEXT} {n}", re.escape(f"{TEXT} {n}") + "$")),
    ]
}  # fmt: skip


# --- the gates -----------------------------------------------------------------------------------
_memo: dict[str, str | None] = {}
run_dir: Path | None = None  # shared by the xdist workers of one run; set by course_plugin


def serve_once(path: str = "/ok") -> tuple[http.server.ThreadingHTTPServer, str]:
    """A tiny HTTP server of the test's own, for http_client's gate."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{path}"


def check_server(spec: Spec, scope: harness.Scope) -> None:
    server = scope.server(spec.name, *spec.server_args(scope.workdir))
    assert server.scheme == spec.scheme, (
        f"the line says {server.scheme}://, expected {spec.scheme}:// for this server"
    )
    harness.connect(server.address).close()  # it accepts connections once it printed the line


def check_client(spec: Spec, scope: harness.Scope) -> None:
    if spec.name == "http_client":
        http, url = serve_once()
        try:
            client = scope.client(spec.name, url)
            client.assert_exit(0, harness.WAIT)
            line = next((line for line in client.stdout.lines if url in line), None)
            assert line and re.search(r"\b200\b", line), (
                f"expected a line naming {url} with status 200\n{client.describe()}"
            )
        finally:
            http.shutdown()
            http.server_close()
        return
    server = scope.server(spec.name, *spec.server_args(scope.workdir))
    session = spec.start(scope, server)
    try:
        text, expected = spec.message(0)
        session.send(text)
        session.delivered(expected, harness.WAIT)
    finally:
        session.close()


def run_gate(name: str, kind: str) -> str | None:
    """Run one gate in a folder of its own; None if it passed, else what went wrong."""
    spec = SPECS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"gate-{name}-{kind}-", dir=run_dir))
    scope = harness.Scope(workdir)
    try:
        (check_server if kind == "server" else check_client)(spec, scope)
        return None
    except (Exception, pytest.fail.Exception) as error:
        feedback = str(error).strip() or type(error).__name__
        described = "\n".join(proc.describe() for proc in scope.procs)
        return feedback if described in feedback else f"{feedback}\n{described}".strip()
    finally:
        scope.close()


def gate(name: str, kind: str) -> str | None:
    """The verdict of one gate, worked out once per run and shared by the xdist workers."""
    key = f"{name}-{kind}"
    if key not in _memo:
        if kind == "client" and SPECS[name].client_needs_server and gate(name, "server"):
            _memo[key] = "the client needs the server, and the server's gate failed"
        elif run_dir is None or fcntl is None:  # no flock (Windows): each worker runs it
            _memo[key] = run_gate(name, kind)
        else:
            result = run_dir / f"gate-{key}.json"
            with open(run_dir / f"gate-{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker runs it, the others wait
                if not result.exists():
                    result.write_text(json.dumps(run_gate(name, kind)), "utf-8")
                _memo[key] = json.loads(result.read_text("utf-8"))
    return _memo[key]


GATE_TITLES = {
    "server": "the server starts on --port 0 and prints its `Listening on` line",
    "client": "the client connects and makes one basic exchange",
}
