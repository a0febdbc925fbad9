"""echo_tcp: the TCP echo server and client (seed 000 task 1, seed 001)."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import harness
import pytest

FOLDER = "echo_tcp"
TEXT = "Привіт, світ! สวัสดีครับ 🌍🚀 ok"


def echo_in_random_chunks(address: tuple[str, int], payload: bytes, seed: int) -> bytes:
    """Send payload in random-sized pieces while reading the echo at the same time."""
    rng = random.Random(seed)
    with harness.connect(address, timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send() -> None:
            view = memoryview(payload)
            while view:
                size = rng.randint(1, 9000)
                sock.sendall(view[:size])
                view = view[size:]

        # Send from a thread: a client that writes megabytes before reading any of the
        # echo would deadlock once both directions' buffers are full.
        sender = threading.Thread(target=send)
        sender.start()
        echoed = harness.recv_until(sock, lambda data: len(data) >= len(payload), timeout=60)
        sender.join()
        return echoed


def first_difference(a: bytes, b: bytes) -> int:
    """The index of the first byte where a and b differ (or where the shorter one ends)."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@pytest.mark.core
def test_one_message_comes_back_whole(start_server, start_client):
    """`client.py --message TEXT` prints the echo of a Cyrillic, Thai and emoji message as one line
    and exits 0 (seed 000 task 1; CONTRACT text)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port), "--message", TEXT)
    client.expect(f"{TEXT}$")
    client.assert_exit(0)


@pytest.mark.contract
def test_interactive_lines_until_exit(start_server, start_client):
    """Each typed line is echoed on a line of its own, in order; `exit` ends the client with 0 and
    nothing typed after it is sent (CONTRACT clients 2 and 3)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port))
    for line in ["first", TEXT, "   spaced   "]:
        client.send(line)
        client.expect(f"{line}$")
    client.send("exit")
    client.send("after exit")  # must not be sent: exit ends the client
    client.assert_exit(0)
    assert "after exit" not in client.stdout.text()


@pytest.mark.contract
def test_end_of_input_ends_the_client(start_server, start_client):
    """The end of input ends the client with status 0, but only after the echo it is still owed is
    printed (CONTRACT clients 3)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port))
    client.send("last one")
    client.close_input()
    client.expect("last one$")
    client.assert_exit(0)


@pytest.mark.core
def test_long_reply_is_printed_whole(start_server, start_client):
    """The seed read one recv(1024) and cut longer replies (and split characters)."""
    server = start_server(FOLDER)
    long_text = ("Ї😀ก" * 50_000) + "end"  # 450 kB of multibyte characters
    client = start_client(FOLDER, "--port", str(server.port))
    client.send(long_text)
    client.close_input()
    client.assert_exit(0, timeout=30)
    replies = [line for line in client.stdout.lines if "Ї😀ก" in line]
    assert len(replies) == 1 and replies[0].endswith(long_text), (
        f"expected the reply as one line ending in the {len(long_text)} characters sent, got "
        f"{len(replies)} line(s) of lengths {[len(line) for line in replies][:10]}"
    )


@pytest.mark.core
def test_many_clients_at_once_with_large_multibyte_payloads(start_server):
    """20 clients at once send large multibyte texts in random-sized pieces and each gets back
    exactly its own bytes (echo_tcp README: a thread per client, TCP is a byte stream)."""
    server = start_server(FOLDER)
    payloads = [(f"{i}:{TEXT}\n" * (2000 + 300 * i)).encode() for i in range(20)]
    with ThreadPoolExecutor(len(payloads)) as pool:
        results = list(
            pool.map(
                echo_in_random_chunks,
                [server.address] * len(payloads),
                payloads,
                range(len(payloads)),
            )
        )
    for i, (sent, echoed) in enumerate(zip(payloads, results, strict=True)):
        assert echoed == sent, (
            f"client {i}: sent {len(sent)} bytes, got {len(echoed)} back; first difference at "
            f"byte {first_difference(sent, echoed)}"
        )


@pytest.mark.core
def test_second_client_is_served_while_the_first_stays_connected(start_server):
    """The seed served one client at a time: a second one hung until the first left."""
    server = start_server(FOLDER)
    with harness.connect(server.address) as first, harness.connect(server.address) as second:
        second.sendall(b"second\n")
        assert harness.recv_line(second, bytearray()) == "second"
        first.sendall(b"first\n")
        assert harness.recv_line(first, bytearray()) == "first"


@pytest.mark.contract
def test_client_without_server_says_so(start_client):
    """With no server listening, the client prints one line to stderr naming the address and exits
    with status 1, no traceback (CONTRACT clients 4)."""
    port = harness.free_port()
    client = start_client(FOLDER, "--port", str(port), "--message", "hi")
    client.assert_exit(1)
    errors = client.stderr.lines
    assert len(errors) == 1 and str(port) in errors[0], (
        f"expected one line on stderr naming 127.0.0.1:{port}, got {errors}"
    )


@pytest.mark.contract
def test_client_ctrl_c_has_no_traceback(start_server, start_client):
    """Ctrl+C on a connected client ends it without a traceback (CONTRACT clients 4)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port))
    client.send("ready")
    client.expect("ready$")
    client.interrupt()
    client.wait()
    client.assert_no_traceback()


@pytest.mark.core
def test_netcat_is_a_client(start_server, nc, procs, workdir):
    """netcat, a client nobody here wrote, gets its two lines echoed back byte for byte (echo_tcp
    README, Try: `nc 127.0.0.1 12345`)."""
    server = start_server(FOLDER)
    result = subprocess.run(
        [nc, "-N", server.host, str(server.port)],
        input=f"{TEXT}\nsecond line\n".encode(),
        capture_output=True,
        timeout=10,
    )
    assert result.stdout.decode() == f"{TEXT}\nsecond line\n", (
        f"nc sent two lines and got back {result.stdout!r}; nc's stderr: {result.stderr!r}"
    )


@pytest.mark.contract
def test_ctrl_c_with_idle_clients_connected(start_server):
    """Ctrl+C with 5 clients connected: exit status 0 within 5 s, no traceback, and every client
    connection is closed, not left hanging (CONTRACT servers 4)."""
    server = start_server(FOLDER)
    clients = [harness.connect(server.address) for _ in range(5)]
    try:
        for sock in clients:  # each one has been accepted and served once
            sock.sendall(b"hello\n")
            assert harness.recv_line(sock, bytearray()) == "hello"
        server.stop()  # exit status 0 within 5 s, no traceback
        for sock in clients:  # each connection was closed, not left hanging
            sock.settimeout(5)
            assert sock.recv(1) == b""
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.contract
def test_sigterm_stops_the_server(start_server):
    """SIGTERM with a client connected: the server exits with status 0 within 5 s, no traceback
    (CONTRACT servers 4)."""
    server = start_server(FOLDER)
    with harness.connect(server.address):
        server.popen.send_signal(signal.SIGTERM)
        server.assert_exit(0, timeout=5)


@pytest.mark.contract
def test_restart_on_the_same_port_right_after_ctrl_c(start_server):
    """Right after Ctrl+C the server starts again on the same --port and serves (CONTRACT servers 1;
    echo_tcp README: SO_REUSEADDR)."""
    server = start_server(FOLDER)
    with harness.connect(server.address) as sock:
        sock.sendall(b"x\n")
        harness.recv_line(sock, bytearray())
        # The server closes this connection first, which leaves it in TIME_WAIT: binding
        # the port again needs SO_REUSEADDR.
        server.stop()
    again = start_server(FOLDER, "--port", str(server.port))
    assert again.port == server.port, (
        f"started with --port {server.port}, it listens on {again.port}"
    )
    with harness.connect(again.address) as sock:
        sock.sendall(b"again\n")
        assert harness.recv_line(sock, bytearray()) == "again"
