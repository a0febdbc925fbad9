#!/usr/bin/env python3
"""Threaded TCP chat: each line a client sends goes to every other client (seed 001).

What it teaches: a thread per client, shared state guarded by a lock, a byte stream framed into
lines, and why one client that stops reading must never be able to stall the others.

Protocol: UTF-8 lines ending in "\\n" both ways. A line is a message to everyone else, except
`/name NEW`, which renames you: you get a `* ...` notice with NEW, the others hear of it too.
The server sends `name: text` for a message and `* ...` for a notice.
"""

from __future__ import annotations

import argparse
import itertools
import queue
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12346
MAX_LINE_BYTES = 64 * 1024  # a longer line is refused, so nobody can fill our memory
OUTBOX_LIMIT = 1000  # lines that may wait for one member
SLOW_READER_SECONDS = 2.0  # how long an outbox may stay full before its member is dropped
GOODBYE_SECONDS = 2.0  # at shutdown, how long the members get to receive the goodbye
NAME = re.compile(r"[\w.-]{1,32}")
GOODBYE = "* the server is shutting down, goodbye"


def log(text: str) -> None:
    sys.stdout.write(text + "\n")  # one write: print() could part two threads' lines
    sys.stdout.flush()


def read_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Yield each complete line from a byte stream, or None for a line that is too long.

    TCP delivers bytes, not messages: one recv() may hold half a line or three lines, and the
    bytes of one Cyrillic letter or emoji may arrive in two pieces. readline() on the socket's
    buffered file keeps reading until the newline, and we decode only whole lines.
    """
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if line.endswith(b"\n"):
            yield line[:-1]
        elif len(line) <= MAX_LINE_BYTES:
            return  # the connection ended in the middle of a line: drop the unfinished part
        else:
            # Too long: skip the rest of it, a bounded piece at a time, then report it.
            while (rest := stream.readline(MAX_LINE_BYTES + 1)) and not rest.endswith(b"\n"):
                pass
            yield None


class Member:
    """One connected client: its socket, its name and the lines waiting to be sent to it."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        # Why an outbox and a writer thread: if Alice's thread wrote to Bob directly and Bob
        # stopped reading, sendall() would block Alice as soon as Bob's socket buffer filled,
        # and everyone Alice writes to after Bob would wait with her. So a broadcast only puts
        # lines into each member's queue, and one writer thread per member does the sending.
        # The queue is bounded, so a member who stops reading cannot eat all our memory.
        self.outbox: queue.Queue[bytes | None] = queue.Queue(OUTBOX_LIMIT)
        self.writer = threading.Thread(target=self.write_outbox, daemon=True)
        self.writer.start()

    def deliver(self, text: str, wait: float = 0.0) -> bool:
        """Queue one line for this member; False if its outbox stayed full for `wait` s."""
        try:
            self.outbox.put(text.encode("utf-8") + b"\n", block=wait > 0, timeout=wait)
            return True
        except queue.Full:
            return False

    def write_outbox(self) -> None:
        """The writer thread: the only thread that writes to this member's socket."""
        try:
            while (data := self.outbox.get()) is not None:
                self.sock.sendall(data)
        except OSError:
            pass  # the client is gone; its reading thread sees that and leaves
        finally:
            self.hang_up()

    def finish(self) -> None:
        """Let the writer send what is queued, then hang up."""
        try:
            self.outbox.put_nowait(None)
        except queue.Full:
            self.hang_up()  # the member is not reading; do not wait for it

    def hang_up(self) -> None:
        # shutdown() wakes the threads blocked in recv() or sendall() on this socket.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already disconnected


class Room:
    """Everyone connected. Client threads call these methods at the same time, so every read
    or change of the member list happens under one lock (the seed changed its list from one
    thread while another looped over it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, Member] = {}
        self._guest_numbers = itertools.count(1)
        self._closed = False  # the server is stopping: nobody comes in any more

    def join(self, sock: socket.socket) -> Member:
        with self._lock:
            while (name := f"guest-{next(self._guest_numbers)}") in self._members:
                pass  # somebody took this name with /name; try the next number
            member = Member(sock, name)
            if self._closed:  # accepted just before Ctrl+C
                member.deliver(GOODBYE)
                member.finish()
                return member
            # Those here now hear that we joined, and we hear their names; taken under the
            # lock, so that somebody joining at the same time is in exactly one of the lists.
            others = list(self._members.values())
            self._members[name] = member
        member.deliver(f"* welcome, {name}! Send /name NEW to change your name.")
        member.deliver(f"* here now: {', '.join(sorted(m.name for m in others)) or 'nobody else'}")
        self.deliver_all(others, f"* {name} joined")
        return member

    def rename(self, member: Member, new_name: str) -> None:
        with self._lock:
            old_name = member.name
            if self._members.get(old_name) is not member:
                return  # dropped, or the server is stopping: nobody to rename
            if not NAME.fullmatch(new_name):
                error = "* a name is 1 to 32 letters, digits, '.', '-' or '_'"
            elif new_name in self._members:
                error = f"* the name {new_name} is taken"
            else:
                error = None
                del self._members[old_name]
                member.name = new_name
                self._members[new_name] = member
        if error:
            member.deliver(error)
            return
        member.deliver(f"* you are now {new_name}")
        self.broadcast(f"* {old_name} is now {new_name}", exclude=member)

    def leave(self, member: Member, why: str = "left") -> None:
        """Remove a member and hang up. Safe to call twice: only the first call announces it."""
        with self._lock:
            if self._members.get(member.name) is not member:
                return
            del self._members[member.name]
        member.hang_up()
        member.finish()  # ends the writer thread
        self.broadcast(f"* {member.name} {why}")

    def broadcast(self, text: str, exclude: Member | None = None) -> None:
        with self._lock:  # copy the list, so nobody waits for the lock while we deliver
            recipients = [m for m in self._members.values() if m is not exclude]
        self.deliver_all(recipients, text)

    def deliver_all(self, recipients: list[Member], text: str) -> None:
        for member in recipients:
            with self._lock:
                if self._members.get(member.name) is not member:
                    continue  # gone since we copied the list: dropped, left, or stopping
            # A full outbox usually means a burst that a reader is still working through:
            # wait a little (the sender's own socket fills meanwhile, and TCP slows it
            # down). A member whose outbox stays full has stopped reading: drop it.
            if not member.deliver(text, wait=SLOW_READER_SECONDS):
                self.leave(member, "was disconnected: too slow to read messages")

    def close(self) -> None:
        """Server shutdown: everyone gets a goodbye and is disconnected."""
        with self._lock:
            self._closed = True
            members = list(self._members.values())
            self._members.clear()
        for member in members:
            member.deliver(GOODBYE)
            member.finish()
        # The members read their goodbyes at the same time: one deadline for all of them.
        deadline = time.monotonic() + GOODBYE_SECONDS
        for member in members:
            member.writer.join(max(0.0, deadline - time.monotonic()))
            member.hang_up()


def chat(conn: socket.socket, address: str, room: Room) -> None:
    """One client's thread: act on each line it sends, until it hangs up."""
    member = room.join(conn)
    log(f"{address} joined as {member.name}")
    try:
        with conn.makefile("rb") as stream:
            for line in read_lines(stream):
                if line is None:
                    member.deliver(f"* error: line longer than {MAX_LINE_BYTES} bytes, discarded")
                    continue
                # errors="replace": invalid UTF-8 from one client becomes "�", not a crash.
                text = line.decode("utf-8", errors="replace").rstrip("\r")
                if text.startswith("/name "):
                    room.rename(member, text.removeprefix("/name ").strip())
                elif text.strip():
                    room.broadcast(f"{member.name}: {text}", exclude=member)
    except OSError:
        pass  # connection reset: the client vanished
    finally:
        room.leave(member)
        # The writer ends once the member is hung up on (by leave(), or by the room's close()
        # at shutdown); then socketserver may close the socket.
        member.writer.join()
        log(f"{member.name} left")


class ChatHandler(socketserver.BaseRequestHandler):
    """socketserver runs handle() in a new thread for each client that connects."""

    server: ChatServer

    def handle(self) -> None:
        chat(self.request, host_port(self.client_address), self.server.room)


class ChatServer(socketserver.ThreadingTCPServer):
    # SO_REUSEADDR: a restart right after Ctrl+C can bind the port again. Not on Windows,
    # where the option would let another program take the port (see echo_tcp).
    allow_reuse_address = not hasattr(socket, "SO_EXCLUSIVEADDRUSE")
    # server_close() waits for every client thread (the room's close() ends them first), so
    # no thread is still printing while the interpreter shuts down.
    daemon_threads = False

    def __init__(self, address: tuple[str, int]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, ChatHandler)
        self.room = Room()


# --- Starting and stopping ------------------------------------------------------------------------
def host_port(address: tuple) -> str:
    """`host:port` of a socket address, an IPv6 host in brackets as in a URL."""
    host, port = address[:2]  # an IPv6 address has two more fields
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Threaded TCP chat server.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on, 0 for any free port (default: %(default)s)",
    )
    args = parser.parse_args()
    try:
        server = ChatServer((args.host, args.port))
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")

    def stop(signum: int, frame: object) -> None:
        # Ctrl+C and SIGTERM ask serve_forever() to return - not by raising an exception,
        # which could land in the middle of starting a client's thread. shutdown() waits
        # until serve_forever() has returned, so it runs in a thread of its own.
        threading.Thread(target=server.shutdown).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    with server:
        print(f"Listening on tcp://{host_port(server.server_address)}", flush=True)
        server.serve_forever()  # looks for shutdown() every half second, on Windows too
        server.room.close()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
