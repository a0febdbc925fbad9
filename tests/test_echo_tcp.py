"""echo_tcp: the TCP echo server and client (seed 000 task 1, seed 001)."""

from __future__ import annotations

import random
import re
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
    with harness.connect(address, timeout=harness.scaled(30)) as sock:
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
        echoed = harness.recv_until(
            sock, lambda data: len(data) >= len(payload), timeout=harness.scaled(60)
        )
        sender.join()
        return echoed


def first_difference(a: bytes, b: bytes) -> int:
    """The index of the first byte where a and b differ (or where the shorter one ends)."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@pytest.mark.core
@pytest.mark.hint("encode the text as UTF-8 and end it with a newline; print the reply's text")
def test_one_message_comes_back_whole(start_server, start_client):
    """`client.py --message TEXT` sends one message, prints the server's reply and exits 0: a
    Cyrillic, Thai and emoji message comes back as the same line (seed 000 task 1; the
    contract's text rule)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port), "--message", TEXT)
    client.expect(f"{TEXT}$")
    client.assert_exit(0)


@pytest.mark.core
@pytest.mark.hint("read a line, send it, print its echo, and again, until `exit`")
def test_interactive_lines_come_back_in_order(start_server, start_client):
    """The client sends every line typed on its standard input and prints each echo on a line of
    its own, in order (echo_tcp README, Run it; the contract, clients 2 and 3)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--port", str(server.port))
    for line in ["first", TEXT, "   spaced   "]:
        client.send(line)
        client.expect(f"{re.escape(line)}$")


@pytest.mark.core
@pytest.mark.hint(
    "the reply was cut: one recv() is not one message - read until the newline, for example "
    "with readline() on sock.makefile()"
)
def test_long_reply_is_printed_whole(start_server, start_client):
    """A 450 kB reply is printed whole, as one line (echo_tcp README: TCP is a byte stream; the
    client reads until the whole line is there). The seed read one recv(1024) and cut longer
    replies, and split characters."""
    server = start_server(FOLDER)
    long_text = ("Ї😀ก" * 50_000) + "end"  # 450 kB of multibyte characters
    client = start_client(FOLDER, "--port", str(server.port))
    client.send(long_text)
    client.close_input()
    client.assert_exit(0, timeout=harness.scaled(30))
    replies = [line for line in client.stdout.lines if "Ї😀ก" in line]
    assert len(replies) == 1 and replies[0].endswith(long_text), (
        f"expected the reply as one line ending in the {len(long_text)} characters sent, got "
        f"{len(replies)} line(s) of lengths {[len(line) for line in replies][:10]}"
    )


@pytest.mark.core
@pytest.mark.hint("send back exactly the bytes received, with sendall(): send() may write less")
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
@pytest.mark.hint("serve each client in a thread of its own, so accept() goes on for the next")
def test_second_client_is_served_while_the_first_stays_connected(start_server):
    """A second client is served while the first one stays connected (echo_tcp README: a thread
    per client). The seed served one client at a time: a second one hung until the first left."""
    server = start_server(FOLDER)
    with harness.connect(server.address) as first, harness.connect(server.address) as second:
        second.sendall(b"second\n")
        assert harness.recv_line(second, bytearray()) == "second"
        first.sendall(b"first\n")
        assert harness.recv_line(first, bytearray()) == "first"


@pytest.mark.core
@pytest.mark.hint("the server must not expect anything but bytes: no framing of its own")
def test_netcat_is_a_client(start_server, nc, procs, workdir):
    """netcat, a client nobody here wrote, gets its two lines echoed back byte for byte (echo_tcp
    README, Try: `nc 127.0.0.1 12345`)."""
    server = start_server(FOLDER)
    result = subprocess.run(
        [nc, "-N", server.host, str(server.port)],
        input=f"{TEXT}\nsecond line\n".encode(),
        capture_output=True,
        timeout=harness.scaled(10),
    )
    assert result.stdout.decode() == f"{TEXT}\nsecond line\n", (
        f"nc sent two lines and got back {result.stdout!r}; nc's stderr: {result.stderr!r}"
    )
