#!/usr/bin/env python3
"""Threaded TCP chat: each line a client sends goes to every other client (seed 001).

What it teaches: a thread per client (socketserver runs the accept loop for us), shared
state guarded by a lock, a byte stream framed into lines, and why one client that stops
reading must never be able to stall the others.

Protocol: UTF-8 lines ending in "\\n". A line is a message, except `/name NEW`, which
changes your name. The server sends `name: text` for messages and `* ...` for notices.
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
OUTBOX_LIMIT = 1000  # lines that may wait for one client
SLOW_READER_SECONDS = 2.0  # how long a full outbox may stay full before we drop its client
GOODBYE_SECONDS = 2.0  # at shutdown, how long each client gets to receive the goodbye
NAME = re.compile(r"[\w.-]{1,32}")


def log(text: str) -> None:
    """Print one line. print() writes the text and the newline separately, so the lines of
    two threads could run together; one write per line keeps them apart."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def read_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Yield each complete line from a byte stream, or None for a line that is too long.

    TCP delivers bytes, not messages: one recv() may hold half a line or three lines, and
    the bytes of one Cyrillic letter or emoji may arrive in two pieces. readline() on the
    socket's buffered file keeps reading until the newline, and we decode only whole lines.
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
        # and everyone Alice writes to after Bob would wait with her. So broadcast only puts
        # lines into each member's queue, and one writer thread per member does the sending.
        # The queue is bounded, so a member who stops reading cannot eat all our memory.
        self.outbox: queue.Queue[bytes | None] = queue.Queue(OUTBOX_LIMIT)
        self.writer = threading.Thread(target=self.write_outbox, daemon=True)
        self.writer.start()

    def deliver(self, text: str, wait: float = 0.0) -> bool:
        """Queue one line for this member; False if its outbox stayed full for `wait` s."""
        try:
            self.outbox.put(text.encode("utf-8") + b"\n", timeout=wait or None, block=wait > 0)
            return True
        except queue.Full:
            return False

    def write_outbox(self) -> None:
        """The writer thread: the only thread that writes to this member's socket."""
        try:
            while (data := self.outbox.get()) is not None:
                self.sock.sendall(data)
        except OSError:
            pass  # the client is gone; its reading thread sees that and cleans up
        finally:
            self.disconnect()

    def close(self) -> None:
        """Send what is already queued, then disconnect."""
        try:
            self.outbox.put_nowait(None)  # tells the writer to finish
        except queue.Full:
            self.disconnect()  # the member is not reading; do not wait for it

    def disconnect(self) -> None:
        # shutdown() wakes the threads blocked in recv() or sendall() on this socket.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already disconnected


class Room:
    """Everyone connected. Handler threads call these methods at the same time, so every
    read or change of the member list happens under one lock (the seed changed its list
    from one thread while another looped over it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, Member] = {}
        self._guest_numbers = itertools.count(1)

    def join(self, sock: socket.socket) -> Member:
        with self._lock:
            while (name := f"guest-{next(self._guest_numbers)}") in self._members:
                pass  # somebody took this name with /name; try the next number
            member = Member(sock, name)
            # Who is here at this moment: they hear that we joined, and we hear their names.
            # Taken under the lock, so that somebody joining at the same time is in exactly
            # one of the two lists.
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
                return  # dropped, or the server is shutting down: nobody to rename
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
        """Remove a member. Safe to call twice: only the first call announces it."""
        with self._lock:
            if self._members.get(member.name) is not member:
                return
            del self._members[member.name]
        member.close()
        self.broadcast(f"* {member.name} {why}")

    def broadcast(self, text: str, exclude: Member | None = None) -> None:
        with self._lock:  # copy the list, so nobody waits for the lock while we deliver
            recipients = [m for m in self._members.values() if m is not exclude]
        self.deliver_all(recipients, text)

    def deliver_all(self, recipients: list[Member], text: str) -> None:
        for member in recipients:
            with self._lock:
                if self._members.get(member.name) is not member:
                    continue  # gone since we copied the list: dropped, left, or shutdown
            # A full outbox usually means a burst that a reader is still working through:
            # wait a little (the sender's own socket fills meanwhile, and TCP slows it
            # down). A member whose outbox stays full has stopped reading: drop it.
            if not member.deliver(text, wait=SLOW_READER_SECONDS):
                self.leave(member, "was disconnected: too slow to read messages")

    def close_all(self) -> None:
        """Say goodbye to everyone and disconnect them (server shutdown)."""
        with self._lock:
            members = list(self._members.values())
            self._members.clear()
        for member in members:
            member.deliver("* the server is shutting down, goodbye")
            member.close()
        deadline = time.monotonic() + GOODBYE_SECONDS
        for member in members:
            member.writer.join(max(0.0, deadline - time.monotonic()))
            member.disconnect()


class ChatHandler(socketserver.StreamRequestHandler):
    """socketserver runs handle() in a new thread for each client that connects."""

    server: ChatServer

    def handle(self) -> None:
        room = self.server.room
        member = room.join(self.request)
        log(f"{self.client_address[0]}:{self.client_address[1]} joined as {member.name}")
        try:
            for line in read_lines(self.rfile):
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
            log(f"{member.name} left")


class ChatServer(socketserver.ThreadingTCPServer):
    # SO_REUSEADDR: a restart right after Ctrl+C can bind the port again. Not on Windows,
    # where the option would let another program take the port (see echo_tcp).
    allow_reuse_address = not hasattr(socket, "SO_EXCLUSIVEADDRUSE")
    # server_close() waits for every client thread to finish (close_all() disconnects
    # them first), so no thread is still printing while the interpreter shuts down.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, ChatHandler)
        self.room = Room()


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
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error}")

    def stop(signum: int, frame: object) -> None:
        # Ctrl+C (SIGINT) and `kill` (SIGTERM) ask serve_forever() to return. Not by raising
        # KeyboardInterrupt: that could land in the middle of starting a client's thread.
        # shutdown() waits for serve_forever() to return, so it runs in a thread of its own.
        threading.Thread(target=server.shutdown).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    with server:
        host, port = server.server_address[:2]
        print(f"Listening on tcp://{host}:{port}", flush=True)
        # serve_forever() looks for shutdown() every half second, on Windows too.
        server.serve_forever()
        server.room.close_all()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
