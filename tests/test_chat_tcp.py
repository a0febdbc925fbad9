"""chat_tcp: the threaded TCP chat server and client (seed 001), by its README's protocol.

The protocol guarantees little about timing: a message reaches every other member, and one
connection's lines are handled in order. So a test never waits for a particular notice before
it begins. It knows that everyone is in the room once a message has reached everyone
(`settle`), and that a `/name` took effect because that connection's later lines come after
it. Whether the server confirms a rename is checked by a test of its own.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import threading
import time

import harness
import pytest

FOLDER = "chat_tcp"
TEXT = "Привіт усім! สวัสดีครับ 🌍🚀"


class Peer:
    """A chat member on a raw socket. One that reads has a thread that files every line it
    receives; one that does not (a laggard, or a client about to reset) never reads at all."""

    def __init__(
        self, address: tuple[str, int], name: str | None, rcvbuf: int = 0, reads: bool = True
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf:  # must be set before connecting to take effect
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(harness.TIMEOUT)
        self.sock.connect(address)
        self.sock.settimeout(None)
        self.name = name
        self.lines = harness.Stream(self.sock.makefile("rb"), f"{name}'s socket") if reads else None
        if name:
            self.say(f"/name {name}")

    def say(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def expect(self, pattern: str, timeout: float | None = None) -> str:
        """The next line (after the last one matched) that matches `pattern`."""
        assert self.lines is not None, "this member does not read"
        return self.lines.expect(pattern, timeout).string

    def since(self) -> int:
        """From now on: expect() looks only at lines that come after this call; returns a mark
        for lines_after()."""
        if self.lines is None:
            return 0
        self.lines.cursor = len(self.lines.lines)
        return self.lines.cursor

    def lines_after(self, mark: int) -> list[str]:
        return self.lines.lines[mark:]

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def until_heard(say, hear, what: str) -> None:
    """Say new tokens until one is heard: then the hearer is surely in the room.

    The protocol says nothing about when a connection joins the room, only that a message
    reaches every other member; so a token said too early is followed by another one.
    """
    deadline = time.monotonic() + harness.WAIT
    for number in range(1_000_000):
        token = f"sync-{number}-{os.getpid()}"
        say(token)
        try:
            hear(re.escape(token), harness.scaled(0.5))
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"a message never reached {what}") from None


class Room:
    """The members a test connected, and a way to know that all of them are in the room."""

    def __init__(self, server: harness.Server) -> None:
        self.server = server
        self.peers: list[Peer] = []

    def join(self, name: str | None = None, rcvbuf: int = 0, reads: bool = True) -> Peer:
        """Connect a member and send `/name NAME`; its later lines come after the rename."""
        peer = Peer(self.server.address, name, rcvbuf, reads)
        self.peers.append(peer)
        return peer

    def settle(self) -> None:
        """Wait until every member is in the room: it heard another one, or was heard."""
        readers = [peer for peer in self.peers if peer.lines is not None]
        for peer in self.peers:
            other = next(p for p in readers + self.peers if p is not peer)
            if peer.lines is not None:
                until_heard(other.say, peer.expect, peer.name or "a guest")
            else:
                until_heard(peer.say, other.expect, f"{other.name} from {peer.name}")
        for peer in self.peers:
            peer.since()  # the tests look only at what comes next

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@pytest.fixture
def room(start_server):
    """room(*args) -> Room around a freshly started server; its members close at the end."""
    rooms: list[Room] = []

    def make(*args: str) -> Room:
        rooms.append(Room(start_server(FOLDER, *args)))
        return rooms[-1]

    yield make
    for made in rooms:
        made.close()


def message_from(name: str, text: str) -> str:
    """A message as others see it: `ann: text` (a prefix such as a time may come first)."""
    return rf"\b{re.escape(name)}\W.*{re.escape(text)}$"


def sync_clients(sender: harness.Proc, receiver: harness.Proc) -> None:
    """Until a line typed into `sender` shows up at `receiver`: both are in the room."""
    until_heard(sender.send, receiver.expect, receiver.label)


# --- the room ----------------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    "every line a member sends goes to every other member as `name: text`; keep the members "
    "in one list that every handler thread shares (under a lock), and skip the sender"
)
def test_message_reaches_every_other_client_but_not_the_sender(room):
    """A message reaches every other member as `ann: text` and is not sent back to its sender
    (chat_tcp README, Protocol: 'a message to everyone else')."""
    chat = room()
    ann, bob, eve = chat.join("ann"), chat.join("bob"), chat.join("eve")
    chat.settle()
    mark = ann.since()
    ann.say(TEXT)
    for other in (bob, eve):
        other.expect(message_from("ann", TEXT))
    # Whatever the server sent ann because of her own message was queued before bob's
    # answer, so it would be among the lines she receives before that answer.
    bob.say("answer")
    ann.expect(message_from("bob", "answer"))
    assert not any(TEXT in line for line in ann.lines_after(mark)), "the sender got her message"


@pytest.mark.core
@pytest.mark.hint("a client that never sends /name is `guest-N`: give it that name when it joins")
def test_client_without_name_is_a_guest(room):
    """A client that never sends /name is `guest-N`: the others see its messages under that name
    (chat_tcp README, Protocol)."""
    chat = room()
    ann, guest = chat.join("ann"), chat.join()
    chat.settle()
    guest.say("hello")
    ann.expect(r"\bguest-\d+\W.*hello$")


@pytest.mark.core
@pytest.mark.hint("after `/name NEW`, tell that member: a `* ...` line that contains NEW")
def test_rename_is_confirmed_to_the_member(room):
    """`/name NEW` is confirmed to the member who sent it with a `* ...` notice that contains NEW;
    a name already taken gets a `* ...` notice saying why not, and the old name stays (chat_tcp
    README, Protocol)."""
    chat = room()
    ann = chat.join()
    ann.say("/name zed")
    ann.expect(r"^\*.*\bzed\b")  # confirmed
    bob = chat.join("bob")
    chat.settle()
    ann.say("/name bob")  # taken
    ann.expect(r"^\*")  # the reason why not
    ann.say("still zed")
    bob.expect(message_from("zed", "still zed"))


@pytest.mark.core
@pytest.mark.hint("a rename is news for the others too: tell them `* OLD is now NEW` (any words)")
def test_rename_is_announced_to_the_others(room):
    """When a member renames itself, the others are told with a notice that names the new name
    (chat_tcp README, Protocol: 'and tells the others')."""
    chat = room()
    ann, guest = chat.join("ann"), chat.join()
    chat.settle()
    guest.say("/name kim")
    ann.expect(r"^\*.*\bkim\b")


@pytest.mark.core
@pytest.mark.hint("when a member joins or leaves, tell everyone else in a `* ...` notice naming it")
def test_join_and_leave_notices(room, start_client):
    """Members get a notice naming a client when it joins and when it leaves with `exit`, and that
    client exits 0 (chat_tcp README, Protocol: `* ...` notices)."""
    chat = room()
    ann = chat.join("ann")
    chat.join("bob")
    chat.settle()  # ann is in the room: she hears of everyone who comes after
    guest = chat.join()
    name = re.search(r"guest-\d+", ann.expect(r"^\*.*\bguest-\d+")).group()  # it joined
    guest.close()
    ann.expect(rf"^\*.*\b{name}\b")  # it left
    zed = start_client(FOLDER, "--port", str(chat.server.port), "--name", "zed")
    ann.expect(r"^\*.*\b(zed|guest-\d+)\b")  # zed is here (perhaps first as a guest)
    zed.send("exit")
    zed.assert_exit(0)
    ann.expect(r"^\*.*\bzed\b")  # zed left


@pytest.mark.core
@pytest.mark.hint(
    "one recv() is not one message: read until the newline (e.g. readline() on "
    "sock.makefile('rb')) and decode whole lines, so a letter split in two comes out whole"
)
def test_character_split_across_segments_is_reassembled(room):
    """A message sent one byte per TCP segment, so letters arrive in pieces, is delivered whole
    (chat_tcp README: framing; the contract's text rule)."""
    chat = room()
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    ann.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in f"{TEXT}\n".encode():  # one byte per send: letters arrive in pieces
        ann.sock.sendall(bytes([byte]))
    bob.expect(message_from("ann", TEXT))


@pytest.mark.core
@pytest.mark.hint("a member's lines go out in the order it sent them: one outbox per member")
def test_many_messages_arrive_whole_and_in_order(room):
    """200 messages of 2 KB sent at once, several in one TCP segment, arrive whole and in order
    (chat_tcp README: framing)."""
    chat = room()
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    payload = "ї" * 1000
    ann.sock.sendall("".join(f"{n} {payload}\n" for n in range(200)).encode())
    for number in range(200):
        line = bob.expect(rf"\bann\W.*\d+ {payload}$")
        assert line.endswith(f"{number} {payload}"), f"message {number} came as {line[:40]!r}"


# --- hostile input and laggards -----------------------------------------------------------
@pytest.mark.robustness
def test_invalid_utf8_does_not_break_the_server(room):
    """Invalid UTF-8 and binary bytes break neither the server nor the sender's session: its next
    message is still delivered (the contract, servers 5)."""
    chat = room()
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    ann.sock.sendall(b"bad \xff\xfe bytes\n\x00\x01binary\n")
    ann.say("still here")
    bob.expect(message_from("ann", "still here"))
    chat.server.assert_no_traceback()


@pytest.mark.robustness
def test_abrupt_reset_mid_line_disturbs_nobody(room):
    """A client that resets its connection mid-line is announced as gone, its unfinished line is
    dropped, and the others chat on (the contract, servers 5; chat_tcp README: framing)."""
    chat = room()
    ann, bob, rude = chat.join("ann"), chat.join("bob"), chat.join("rude", reads=False)
    chat.settle()
    mark = ann.since()
    rude.sock.sendall(b"half a mess")  # no newline: the line never ends
    # SO_LINGER with a zero timeout makes close() send a reset instead of a goodbye.
    rude.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rude.sock.close()
    ann.expect(r"^\*.*\brude\b")  # told that rude is gone
    bob.say("after the reset")
    ann.expect(message_from("bob", "after the reset"))
    assert not any("half a mess" in line for line in ann.lines_after(mark)), (
        "an unfinished line was delivered"
    )
    chat.server.assert_no_traceback()


@pytest.mark.robustness
def test_oversized_line_gets_an_error_and_is_discarded(room):
    """A 100 KiB line (the limit is 64 KiB) gets an error line back, is not delivered, and the
    sender's connection keeps working (chat_tcp README: framing; the contract, servers 5)."""
    chat = room()
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    mark = bob.since()
    ann.sock.sendall(b"A" * (100 * 1024) + b"\n")
    error = ann.expect(".")  # some line comes back to the sender
    assert "A" * 1000 not in error, f"expected a short error line, got back {error[:80]!r}..."
    ann.say("short one")
    bob.expect(message_from("ann", "short one"))  # the same connection still works
    assert not any("A" * 1000 in line for line in bob.lines_after(mark)), (
        "the oversized line was delivered"
    )
    chat.server.assert_no_traceback()


@pytest.mark.robustness
@pytest.mark.hint(
    "never write to a member from the sender's thread: give each member a bounded outbox and a "
    "writer of its own, and drop a member whose outbox stays full"
)
def test_client_that_never_reads_does_not_stall_the_others(room):
    """Another client pushes 16 MB while one member never reads: the others get every line, in
    order, and the one that never reads is dropped with a notice (chat_tcp README: one slow
    client must not stall the room)."""
    chat = room()
    chat.join("lazy", rcvbuf=4096, reads=False)  # a tiny buffer: it falls behind early
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    mark = bob.since()
    count, payload = 16_000, "x" * 1000
    sender = threading.Thread(
        target=lambda: ann.sock.sendall("".join(f"{i} {payload}\n" for i in range(count)).encode())
    )
    sender.start()
    for number in range(count):
        # A room that stalls shows as TIMEOUT without a line.
        line = bob.expect(rf"\bann\W.*\d+ {payload}$", harness.TIMEOUT)
        assert line.endswith(f"{number} {payload}"), f"message {number} lost: {line[:60]}"
    sender.join()
    bob.lines.cursor = mark
    bob.expect(r"^\*.*\blazy\b", harness.WAIT)  # the laggard was dropped with a notice


@pytest.mark.robustness
def test_ctrl_c_with_several_clients_that_never_read(room):
    """Ctrl+C while a sender floods the room and five members have stopped reading: the server
    still exits 0 within 5 s (the contract, servers 4; chat_tcp: a slow client must not stall)."""
    chat = room()
    for number in range(5):
        chat.join(f"lazy{number}", rcvbuf=4096, reads=False)
    ann, bob = chat.join("ann"), chat.join("bob")
    chat.settle()
    flood = ("x" * 1000 + "\n") * 20_000

    def send() -> None:
        try:
            ann.sock.sendall(flood.encode())
        except OSError:
            pass  # the server closed the connection at Ctrl+C

    threading.Thread(target=send, daemon=True).start()
    bob.expect(r"\bann\W", harness.WAIT)  # the flood has begun
    bob.expect(r"^\*.*\blazy\d\b", harness.WAIT)  # the first laggard is dropped
    chat.server.stop()  # exit status 0 within 5 s, no traceback


# --- the client ------------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    "the client must read the keyboard and the socket at the same time: a thread for each, or "
    "select(); print every line the server sends as it arrives"
)
def test_two_terminal_clients_chat(start_server, start_client):
    """Two client.py processes chat both ways in Cyrillic, Thai and emoji; `exit` and the end of
    input each end a client with status 0 (the contract: clients 2 and 3, text)."""
    server = start_server(FOLDER)
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    bob = start_client(FOLDER, "--port", str(server.port), "--name", "bob")
    sync_clients(ann, bob)
    sync_clients(bob, ann)
    ann.send(TEXT)
    bob.expect(message_from("ann", TEXT))
    bob.send("hi ann")
    ann.expect(message_from("bob", "hi ann"))
    ann.send("exit")
    ann.assert_exit(0)
    bob.close_input()
    bob.assert_exit(0)


@pytest.mark.contract
def test_client_says_when_the_server_goes_away(room, start_client):
    """When the server stops, a connected client.py says so on stderr and exits by itself with a
    non-zero status, no traceback (chat_tcp README, Try: 'Stop the server')."""
    chat = room()
    bob = chat.join("bob")
    ann = start_client(FOLDER, "--port", str(chat.server.port), "--name", "ann")
    until_heard(ann.send, bob.expect, "bob")  # ann is connected and in the room
    chat.server.stop()
    assert ann.wait(harness.WAIT) != 0, "the client should exit with a non-zero status"
    assert ann.stderr.lines, "the client should say that the server went away"
    ann.assert_no_traceback()


@pytest.mark.core
@pytest.mark.hint("any TCP client must be able to chat: plain UTF-8 lines, nothing of your own")
def test_netcat_beside_a_terminal_client(start_server, start_client, nc):
    """netcat joins as a guest beside client.py and the two exchange messages both ways (chat_tcp
    README, Try: two client.py windows and an nc window)."""
    server = start_server(FOLDER)
    ann = start_client(FOLDER, "--port", str(server.port), "--name", "ann")
    netcat = subprocess.Popen(
        [nc, server.host, str(server.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        output = harness.Stream(netcat.stdout, "nc stdout")

        def nc_says(text: str) -> None:
            netcat.stdin.write(f"{TEXT} {text}\n".encode())
            netcat.stdin.flush()

        def ann_hears(token: str, timeout: float) -> None:  # from a guest: nc has no name
            ann.expect(rf"\bguest-\d+\W.*{re.escape(TEXT)} {token}$", timeout)

        until_heard(nc_says, ann_hears, "client.py")
        ann.send("hello nc")
        output.expect(message_from("ann", "hello nc"))
    finally:
        netcat.kill()
        netcat.wait()


@pytest.mark.interface
def test_typing_while_messages_arrive_in_a_terminal(room, start_terminal):
    """In a real terminal, a message that arrives while you type shows on a line of its own, what
    you typed stays on screen and is sent whole, and Ctrl+C leaves without a traceback (chat_tcp
    README, Try: 'the incoming line is printed above the line you are typing')."""
    chat = room()
    bob = chat.join("bob")
    term = start_terminal(FOLDER, "--port", str(chat.server.port), "--name", "ann")
    until_heard(bob.say, term.wait_for, "the terminal")  # ann is in the room
    term.type("hello wor")
    term.wait_for(r"hello wor")
    bob.say("incoming message")
    line = term.wait_for(r"\bbob\W+incoming message")
    assert "hello wor" not in line, f"the message was mixed into the typed line: {line!r}"
    term.wait_for(r"hello wor")  # what was typed is still on screen
    term.type("ld\r")
    bob.expect(message_from("ann", "hello world"))  # and it was sent whole
    term.interrupt()
    term.wait_exit()
    assert "Traceback" not in term.raw.decode("utf-8", "replace"), term.text()
