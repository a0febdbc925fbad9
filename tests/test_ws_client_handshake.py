"""ws_client/handshake.py: the WebSocket handshake and frames by hand, over a plain TCP socket.

This repository's demonstration of the lecture's handshake (seed 001), not part of what a
student's ws_client folder must hold: every test is skipped when grading (--solutions).
Black-box: subprocesses, real sockets, 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import threading
from collections.abc import Iterator

import harness
import pytest
from websockets.sync.server import ServerConnection, serve

FOLDER = "ws_client"
SCRIPT = "handshake.py"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
LECTURE_KEY = "x3JJHMbDL1EzLkh9YZrd92=="
LECTURE_ACCEPT = "HSmrc0sMlYUkAGmm5OPpG2HaGWk="  # what the lecture prints beside that key


def skip_when_grading() -> None:
    if harness.grading():
        pytest.skip("handshake.py is this repository's demonstration, not part of the assignment")


def accept_of(key: str) -> str:
    """Computed here, independently of the script under test."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def printed(stdout: str, header: str) -> str:
    """The value of `header` in the request (`> `) or the response (`< `) the script printed."""
    match = re.search(rf"^[<>] {header}:\s*(\S+)\s*$", stdout, re.MULTILINE | re.IGNORECASE)
    assert match, f"no {header} line in the output:\n{stdout}"
    return match.group(1)


def assert_handshake_checked(client: harness.Proc) -> None:
    """The key the script sent and the accept the server answered belong together."""
    client.assert_exit(0)
    stdout = client.stdout.text()
    key, accept = printed(stdout, "Sec-WebSocket-Key"), printed(stdout, "Sec-WebSocket-Accept")
    assert len(base64.b64decode(key, validate=True)) == 16, f"the key must be 16 bytes: {key}"
    assert accept == accept_of(key), f"the server's accept does not fit the key:\n{stdout}"
    assert re.search(r"^< HTTP/1\.1 101\b", stdout, re.MULTILINE), stdout
    assert re.search(rf"expected Sec-WebSocket-Accept: {re.escape(accept)}", stdout), stdout


def assert_one_line_exit_1(client: harness.Proc, address: str) -> None:
    client.assert_exit(1)
    errors = [line for line in client.stderr.text().splitlines() if line.strip()]
    assert len(errors) == 1, f"expected one line on stderr\n{client.describe()}"
    assert address in errors[0], f"the error line must name {address}\n{client.describe()}"


@contextlib.contextmanager
def websockets_echo_server() -> Iterator[int]:
    """An echo server written with the `websockets` library, in a thread; yields its port."""

    def echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(message)

    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(harness.TIMEOUT)


@pytest.mark.core
@pytest.mark.hint("the accept is base64(SHA-1(key + GUID)) of the key as text, not decoded")
@pytest.mark.parametrize("key", ["dGhlIHNhbXBsZSBub25jZQ==", LECTURE_KEY])
def test_key_prints_its_accept_without_a_server(start_client, key):
    """`--key KEY` prints the Sec-WebSocket-Accept for KEY and exits 0 with no network: RFC
    6455's example gives `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`, and the lecture's key does not give the
    accept the lecture prints beside it (ws_client README, The handshake by hand)."""
    skip_when_grading()
    client = start_client(FOLDER, "--key", key, "--port", str(harness.free_port()), name=SCRIPT)
    client.assert_exit(0)
    stdout = client.stdout.text()
    assert accept_of(key) in stdout, stdout
    if key == LECTURE_KEY:
        assert LECTURE_ACCEPT not in stdout, "the lecture's accept belongs to another key"
    else:
        assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in stdout, stdout


@pytest.mark.core
@pytest.mark.hint("compare the server's Sec-WebSocket-Accept with the one computed from our key")
def test_accept_matches_what_aiohttp_sends(start_server, start_client):
    """Against ws_client/server.py (aiohttp) the script prints its request and the 101 answer,
    and the Sec-WebSocket-Accept it shows fits the key it sent."""
    skip_when_grading()
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port), name=SCRIPT)
    assert_handshake_checked(client)


@pytest.mark.core
@pytest.mark.hint("compare the server's Sec-WebSocket-Accept with the one computed from our key")
def test_accept_matches_what_websockets_sends(start_client):
    """Against a `websockets` echo server (reached by --url) the accept fits the key too, and
    the message comes back."""
    skip_when_grading()
    with websockets_echo_server() as port:
        client = start_client(FOLDER, "--url", f"ws://127.0.0.1:{port}/", name=SCRIPT)
        assert_handshake_checked(client)
    assert re.search(r"^reply: Hello, WebSocket!$", client.stdout.text(), re.MULTILINE)


@pytest.mark.core
@pytest.mark.hint("a payload over 125 bytes needs the 126 (2 bytes) or 127 (8 bytes) length")
@pytest.mark.parametrize(
    "message",
    [None, "привіт, світ 🙂 สวัสดี", "x" * 300, "y" * 70_000],
    ids=["default", "unicode", "126-length", "127-length"],
)
def test_echo_reply_is_decoded_and_the_close_answered(start_server, start_client, message):
    """One masked text frame (the default `Hello, WebSocket!`, Unicode, and lengths that need
    the 126 and 127 encodings) gets ws_client/server.py's `/answer` reply, printed as text; the
    close frame (1000) gets the server's close back, and the script exits 0."""
    skip_when_grading()
    server = start_server(FOLDER)
    options = [] if message is None else ["--message", message]
    client = start_client(FOLDER, "--port", str(server.port), *options, name=SCRIPT)
    client.assert_exit(0)
    stdout = client.stdout.text()
    expected = (message or "Hello, WebSocket!") + "/answer"
    assert f"reply: {expected}" in stdout.splitlines(), client.describe()
    sent = stdout.split("received:")[0]
    assert "MASK=1" in sent, f"a client must mask its frames\n{client.describe()}"
    last_received = stdout.rsplit("received:", 1)[-1]
    assert "close code 1000" in last_received, f"no close from the server\n{client.describe()}"


@pytest.mark.contract
def test_plain_http_page_is_one_line_and_exit_1(start_server, start_client):
    """`GET /` of ws_client/server.py is a web page (200), not a WebSocket: one line on stderr
    naming the address, exit status 1, no traceback."""
    skip_when_grading()
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port), "--path", "/", name=SCRIPT)
    assert_one_line_exit_1(client, f"127.0.0.1:{server.port}")


@pytest.mark.contract
def test_server_that_hangs_up_is_one_line_and_exit_1(start_client):
    """A server that reads the request and closes without an answer: one line, exit 1."""
    skip_when_grading()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def hang_up() -> None:
            conn, _ = listener.accept()
            with conn:
                harness.recv_until(conn, lambda data: b"\r\n\r\n" in data)

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        client = start_client(FOLDER, "--port", str(port), name=SCRIPT)
        assert_one_line_exit_1(client, f"127.0.0.1:{port}")
        thread.join(harness.TIMEOUT)


@pytest.mark.contract
def test_no_server_is_one_line_and_exit_1(start_client):
    """No server at the address: one line on stderr naming it, exit status 1, no traceback."""
    skip_when_grading()
    port = harness.free_port()
    client = start_client(FOLDER, "--port", str(port), name=SCRIPT)
    assert_one_line_exit_1(client, f"127.0.0.1:{port}")
