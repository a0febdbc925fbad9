"""chat_tcp: the threaded TCP chat server and client (seed 001)."""

from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import threading

import harness
import pytest
from terminal import Terminal

FOLDER = "chat_tcp"
TEXT = "Привіт усім! สวัสดีครับ 🌍🚀"


class Peer:
    """A chat client on a raw socket, reading newline-framed UTF-8 lines."""

    def __init__(self, address: tuple[str, int], name: str | None = None, rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:  # must be set before connecting to take effect
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(harness.TIMEOUT)
        self.sock.connect(address)
        self.buffer = bytearray()
        self.seen: list[str] = []
        if name:
            self.say(f"/name {name}")

    def say(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def line(self, timeout: float = harness.TIMEOUT) -> str:
        line = harness.recv_line(self.sock, self.buffer, timeout)
        self.seen.append(line)
        return line

    def expect(self, pattern: str, timeout: float = harness.TIMEOUT) -> list[str]:
        """Read lines until one matches; return the lines read before it."""
        regex = re.compile(pattern)
        before: list[str] = []
        while not regex.search(line := self.line(timeout)):
            before.append(line)
        return before

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peers():
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def join(server: harness.Server, peers: list[Peer], name: str | None = None, **kw) -> Peer:
    """Connect a peer; with a name, wait until the server has confirmed it."""
    peer = Peer(server.address, name, **kw)
    peers.append(peer)
    if name:
        peer.expect(re.escape(name))  # the server acknowledged the name
    return peer


def test_message_reaches_every_other_client_but_not_the_sender(start_server, peers):
    """A message reaches every other member as `ann: text` and is not sent back to its sender
    (chat_tcp README, Protocol: 'a message to everyone else')."""
    server = start_server(FOLDER)
    ann, bob, eve = (join(server, peers, n) for n in ("ann", "bob", "eve"))
    ann.say(TEXT)
    for other in (bob, eve):
        other.expect(rf"^ann\W.*{re.escape(TEXT)}$")
    # Whatever the server sent ann because of her own message was queued before bob's
    # answer, so it would appear among the lines ann reads before that answer.
    bob.say("answer")
    before = ann.expect(r"^bob\W.*answer$")
    assert not any(TEXT in line for line in before), f"the sender got her own message: {before}"


def test_client_without_name_is_a_guest(start_server, peers):
    """A client that never sends /name is `guest-N`: the others are told it joined and see its
    messages under that name (chat_tcp README, Protocol)."""
    server = start_server(FOLDER)
    ann = join(server, peers, "ann")
    guest = join(server, peers)
    ann.expect(r"guest-\d+")  # the join notice names the guest
    guest.say("hello")
    ann.expect(r"^guest-\d+\W.*hello$")


def test_join_and_leave_notices(start_server, start_client, peers):
    """Members get a notice naming a client when it joins and when it leaves with `exit`, and that
    client exits 0 (chat_tcp README, Protocol: `* ...` notices; CONTRACT clients 3)."""
    server = start_server(FOLDER)
    ann = join(server, peers, "ann")
    zed = start_client(FOLDER, "--port", str(server.port), "--name", "zed")
    ann.expect(r"\bzed\b")  # told that zed is here
    zed.send("exit")
    zed.assert_exit(0)
    ann.expect(r"\bzed\b")  # told that zed left


def test_character_split_across_segments_is_reassembled(start_server, peers):
    """A message sent one byte per TCP segment, so letters arrive in pieces, is delivered whole
    (chat_tcp README: framing; CONTRACT text)."""
    server = start_server(FOLDER)
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    ann.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in f"{TEXT}\n".encode():  # one byte per send: letters arrive in pieces
        ann.sock.sendall(bytes([byte]))
    bob.expect(rf"^ann\W.*{re.escape(TEXT)}$")


def test_invalid_utf8_does_not_break_the_server(start_server, peers):
    """Invalid UTF-8 and binary bytes break neither the server nor the sender's session: its next
    message is still delivered (CONTRACT servers 5)."""
    server = start_server(FOLDER)
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    ann.sock.sendall(b"bad \xff\xfe bytes\n\x00\x01binary\n")
    ann.say("still here")
    bob.expect(r"^ann\W.*still here$")


def test_abrupt_reset_mid_line_disturbs_nobody(start_server, peers):
    """A client that resets its connection mid-line is announced as gone, its unfinished line is
    dropped, and the others chat on (CONTRACT servers 5; chat_tcp README: framing)."""
    server = start_server(FOLDER)
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    rude = join(server, peers, "rude")
    ann.expect(r"\brude\b")
    rude.sock.sendall(b"half a mess")  # no newline: the line never ends
    # SO_LINGER with a zero timeout makes close() send a reset instead of a goodbye.
    rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rude.close()
    ann.expect(r"\brude\b")  # told that rude is gone
    bob.say("after the reset")
    before = ann.expect(r"^bob\W.*after the reset$")
    assert not any("half a mess" in line for line in before), "an unfinished line was delivered"


def test_oversized_line_gets_an_error_and_is_discarded(start_server, peers):
    """A 100 KiB line (the limit is 64 KiB) gets an error line back, is not delivered, and the
    sender's connection keeps working (chat_tcp README: framing; CONTRACT servers 5)."""
    server = start_server(FOLDER)
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    ann.sock.sendall(b"A" * (100 * 1024) + b"\n")
    error = ann.line()  # some error line comes back to the sender
    assert "A" * 1000 not in error, f"expected a short error line, got back {error[:80]!r}..."
    ann.say("short one")  # the same connection still works
    before = bob.expect(r"^ann\W.*short one$")
    assert not any("A" * 1000 in line for line in before), "the oversized line was delivered"


def test_client_that_never_reads_does_not_stall_the_others(start_server, peers):
    """Another client pushes 16 MB while one member never reads."""
    server = start_server(FOLDER)
    # A tiny receive buffer makes the laggard fall behind early. It reads until its name is
    # confirmed, then never again.
    join(server, peers, "lazy", rcvbuf=4096)  # kept open (and unread) in `peers`
    ann = join(server, peers, "ann")
    bob = join(server, peers, "bob")

    count, payload = 16_000, "x" * 1000
    sender = threading.Thread(
        target=lambda: ann.sock.sendall("".join(f"{i} {payload}\n" for i in range(count)).encode())
    )
    sender.start()
    received = 0
    dropped_notice = False
    while received < count:
        line = bob.line(timeout=30)
        if line.startswith("ann"):
            assert line.endswith(f"{received} {payload}"), f"message {received} lost: {line[:60]}"
            received += 1
        elif "lazy" in line:
            dropped_notice = True
    sender.join()
    if not dropped_notice:
        bob.expect(r"\blazy\b", timeout=30)  # the laggard is dropped with a notice


def test_ctrl_c_with_clients_connected(start_server, peers):
    """Ctrl+C with 4 members connected: exit status 0 within 5 s, no traceback, and every connection
    is closed, not left hanging (CONTRACT servers 4)."""
    server = start_server(FOLDER)
    members = [join(server, peers, f"m{i}") for i in range(4)]
    server.stop()  # exit status 0 within 5 s, no traceback
    for peer in members:  # every connection is closed, not left hanging
        peer.sock.settimeout(5)
        while True:
            try:
                data = peer.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break


def test_sigterm_stops_the_server(start_server, peers):
    """SIGTERM with a member connected: the server exits with status 0 within 5 s, no traceback
    (CONTRACT servers 4)."""
    server = start_server(FOLDER)
    join(server, peers, "ann")
    server.popen.send_signal(signal.SIGTERM)
    server.assert_exit(0, timeout=5)


def test_restart_on_the_same_port(start_server, peers):
    """Right after Ctrl+C the server starts again on the same --port (CONTRACT servers 1 and 4)."""
    server = start_server(FOLDER)
    join(server, peers, "ann")
    server.stop()
    again = start_server(FOLDER, "--port", str(server.port))
    assert again.port == server.port, (
        f"started with --port {server.port}, it listens on {again.port}"
    )


def test_two_terminal_clients_chat(start_server, start_client):
    """Two client.py processes chat both ways in Cyrillic, Thai and emoji; `exit` and the end of
    input each end a client with status 0 (CONTRACT clients 2 and 3, CONTRACT text)."""
    server = start_server(FOLDER)
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    ann.expect(r"\bann\b")
    bob = start_client(FOLDER, "--port", str(server.port), "--name", "bob")
    ann.expect(r"\bbob\b")
    ann.send(TEXT)
    bob.expect(rf"ann\W.*{re.escape(TEXT)}$")
    bob.send("hi ann")
    ann.expect(r"bob\W.*hi ann$")
    ann.send("exit")
    ann.assert_exit(0)
    bob.close_input()
    bob.assert_exit(0)


def test_client_says_when_the_server_goes_away(start_server, start_client):
    """When the server stops, a connected client.py says so on stderr and exits by itself with a
    non-zero status, no traceback (chat_tcp README, Try: 'Stop the server')."""
    server = start_server(FOLDER)
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    ann.expect(r"\bann\b")
    server.stop()
    ann.wait()  # it ends by itself
    assert ann.stderr.lines, "the client should say that the server went away"
    ann.assert_no_traceback()


def test_client_without_server_says_so(start_client):
    """With no server listening, the client prints one line to stderr naming the address and exits
    with status 1, no traceback (CONTRACT clients 4)."""
    port = harness.free_port()
    client = start_client(FOLDER, "--port", str(port))
    client.assert_exit(1)
    errors = client.stderr.lines
    assert len(errors) == 1 and str(port) in errors[0], (
        f"expected one line on stderr naming 127.0.0.1:{port}, got {errors}"
    )


def test_netcat_beside_a_terminal_client(start_server, start_client, nc):
    """netcat joins as a guest beside client.py and the two exchange messages both ways (chat_tcp
    README, Try: two client.py windows and an nc window)."""
    server = start_server(FOLDER)
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    ann.expect(r"\bann\b")
    netcat = subprocess.Popen(
        [nc, server.host, str(server.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        output = harness.Stream(netcat.stdout, "nc stdout")
        ann.expect(r"guest-\d+")  # nc joined as a guest
        netcat.stdin.write(f"{TEXT}\n".encode())
        netcat.stdin.flush()
        ann.expect(rf"guest-\d+\W.*{re.escape(TEXT)}$")
        ann.send("hello nc")
        output.expect(r"^ann\W.*hello nc$")
    finally:
        netcat.kill()
        netcat.wait()


def test_typing_while_messages_arrive_in_a_terminal(start_server, peers, workdir):
    """In a real terminal, a message that arrives while you type is printed legibly, what you
    typed stays visible and is sent whole, and Ctrl+C leaves without a traceback."""
    server = start_server(FOLDER)
    term = Terminal(
        harness.script(FOLDER, "client.py"), ["--port", str(server.port), "--name", "ann"], workdir
    )
    try:
        term.wait_for(r"\bann\b")  # the name is confirmed
        bob = join(server, peers, "bob")
        term.wait_for(r"\bbob\b")
        term.type("hello wor")
        term.wait_for(r"hello wor")
        bob.say("incoming message")
        term.wait_for(r"^bob\W+incoming message$")  # a line of its own, not mixed with typing
        term.wait_for(r"hello wor$")  # the half-typed line is still on screen
        term.type("ld\r")
        bob.expect(r"^ann\W.*hello world$")  # and it was sent whole
        term.interrupt()
        term.wait_exit()
        assert "Traceback" not in term.raw.decode("utf-8", "replace"), term.text()
    finally:
        term.close()


def test_ctrl_c_with_several_clients_that_never_read(start_server, peers):
    """Ctrl+C while a sender floods the room and five members have stopped reading: the server
    still exits 0 within 5 s (CONTRACT servers 4; chat_tcp: a slow client must not stall)."""
    server = start_server(FOLDER)
    for number in range(5):
        join(server, peers, f"lazy{number}", rcvbuf=4096)  # then never read again
    ann, bob = join(server, peers, "ann"), join(server, peers, "bob")
    flood = ("x" * 1000 + "\n") * 20_000

    def send() -> None:
        try:
            ann.sock.sendall(flood.encode())
        except OSError:
            pass  # the server closed the connection at Ctrl+C

    threading.Thread(target=send, daemon=True).start()
    bob.expect(r"^ann\W", timeout=30)  # the flood has begun
    bob.expect(r"\blazy\d\b", timeout=30)  # the first laggard is dropped: the room is stalling
    server.stop()  # exit status 0 within 5 s, no traceback
