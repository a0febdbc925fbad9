#!/usr/bin/env python3
"""TCP chat server on a single thread: a `selectors` loop over non-blocking sockets.

Protocol (chat_tcp/README.md): UTF-8 lines ending in "\\n". `/name NEW` changes your name,
any other line goes to everybody else as `name: text`. Notices start with `* `.

Nothing here ever blocks: every socket is non-blocking, each connection keeps the bytes it
has received but not yet framed into lines (`inbox`) and the bytes it still has to send
(`outbox`), and the loop asks the selector for "writable" only while an outbox holds
something. Because there is one thread, the member list needs no lock.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys
import time

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12346
RECV_SIZE = 64 * 1024
LINE_LIMIT = 64 * 1024  # bytes in one line, newline excluded; longer lines are thrown away
BACKLOG_LIMIT = 1024 * 1024  # bytes waiting for one member before senders must wait for it
STALL_SECONDS = 2.0  # a full backlog that takes no byte for this long: the member is dropped
# How often to try sending to a member whose backlog is full. "Writable" is reported only
# once a good part of the socket's send buffer is free (a third of it, on Linux), and that
# buffer can grow to megabytes: a member who reads slowly but steadily might not become
# "writable" for seconds, while a plain send() would show that it does take bytes.
PROBE_SECONDS = 0.25
FAREWELL_SECONDS = 1.5  # at shutdown, how long everybody together gets to receive the goodbye
MAX_NAME = 32
NAME_EXTRA = "._-"
LONGEST_SLEEP = 2.0  # cap on one select(): signals wake it anyway, this is a safety net
# Control characters (ESC above all) from one member could repaint another member's
# terminal; they are shown as U+FFFD instead. Tab is harmless and kept.
UNPRINTABLE = {code: "\ufffd" for code in [*range(32), 127] if code != 9}


def log(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError:
        pass  # nobody reads our output any more; keep serving


def valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and all(ch.isalnum() or ch in NAME_EXTRA for ch in name)


class Connection:
    """One client socket and its two buffers."""

    def __init__(self, sock: socket.socket, peer: str, name: str) -> None:
        self.sock = sock
        self.peer = peer
        self.name = name
        self.inbox = bytearray()  # received, not yet a complete line
        self.scanned = 0  # how much of `inbox` is known to contain no newline
        self.skipping = False  # inside an oversized line: drop bytes until its newline
        self.outbox = bytearray()  # still to be sent to this client
        self.last_progress = time.monotonic()  # when the socket last took bytes from us
        self.next_probe = 0.0  # when to try sending again while the backlog is full
        self.paused = False  # has a line to deliver but a recipient's backlog is full
        self.leaving = False  # no longer in the room; only finishing what it is owed
        self.mask = 0  # events it is registered for in the selector (0: not registered)

    def full(self) -> bool:
        return len(self.outbox) >= BACKLOG_LIMIT


class ChatServer:
    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.connections: set[Connection] = set()
        self.members: dict[str, Connection] = {}  # casefolded name -> member in the room
        self.paused: list[Connection] = []
        self.dirty: set[Connection] = set()  # outbox grew since the last attempt to send
        self.guests = 0
        self.stopping = False
        # A signal handler only runs between two bytecodes, and Python retries select()
        # after it; the C-level handler also writes a byte into this socketpair, which
        # makes that select() return, so the loop sees `stopping` at once.
        self.wake_in, self.wake_out = socket.socketpair()
        self.wake_in.setblocking(False)
        self.wake_out.setblocking(False)
        self.selector.register(self.wake_in, selectors.EVENT_READ, "wake")

    # --- signals --------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.set_wakeup_fd(self.wake_out.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.on_signal)

    def on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def drain_wakeups(self) -> None:
        try:
            while self.wake_in.recv(512):
                pass
        except OSError:
            pass  # nothing more to read

    # --- the loop -------------------------------------------------------------------
    def run(self) -> None:
        while not self.stopping:
            for key, events in self.selector.select(self.sleep_time()):
                if key.data == "accept":
                    self.accept_all()
                elif key.data == "wake":
                    self.drain_wakeups()
                else:
                    conn: Connection = key.data
                    if events & selectors.EVENT_READ and conn in self.connections:
                        self.receive(conn)
                    if events & selectors.EVENT_WRITE and conn in self.connections:
                        self.dirty.add(conn)
            self.send_dirty()
            self.watch_stalled()
            self.send_dirty()

    def sleep_time(self) -> float:
        """Until the earliest moment a stalled connection must be given up on."""
        now = time.monotonic()
        wait = LONGEST_SLEEP
        for conn in self.connections:
            if self.stalled(conn):
                wait = min(wait, conn.next_probe - now, conn.last_progress + STALL_SECONDS - now)
        return max(0.0, wait)

    def update_interest(self, conn: Connection) -> None:
        """Ask for readable unless paused or leaving, for writable only while owed bytes."""
        mask = 0
        if not conn.paused and not conn.leaving:
            mask |= selectors.EVENT_READ
        if conn.outbox:
            mask |= selectors.EVENT_WRITE
        if mask == conn.mask:
            return
        if not conn.mask:
            self.selector.register(conn.sock, mask, conn)
        elif not mask:
            self.selector.unregister(conn.sock)
        else:
            self.selector.modify(conn.sock, mask, conn)
        conn.mask = mask

    # --- connections coming and going -----------------------------------------------
    def accept_all(self) -> None:
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of file descriptors, for instance
                log(f"accept failed: {error}")
                return
            sock.setblocking(False)
            self.guests += 1
            while f"guest-{self.guests}" in self.members:
                self.guests += 1  # somebody renamed themselves to this guest name
            name = f"guest-{self.guests}"
            conn = Connection(sock, f"{address[0]}:{address[1]}", name)
            others = sorted(m.name for m in self.members.values())
            self.connections.add(conn)
            self.members[name.casefold()] = conn
            self.update_interest(conn)
            here = ", ".join(others) if others else "nobody else yet"
            self.notify(conn, f"* hi {name}! In the room: {here}. Pick a name with /name NEW")
            self.broadcast(f"* {name} came in", skip=conn)
            log(f"{conn.peer} connected as {name}")

    def depart(self, conn: Connection, notice: str) -> None:
        """Take a member out of the room; its socket stays open until its outbox is sent."""
        if self.members.get(conn.name.casefold()) is conn:
            del self.members[conn.name.casefold()]
            self.broadcast(notice)
            log(f"{conn.name} ({conn.peer}) is gone")
        conn.leaving = True
        conn.paused = False
        if conn in self.paused:
            self.paused.remove(conn)
        if conn.outbox:
            self.update_interest(conn)
        else:
            self.close(conn)
        self.resume_paused()  # whoever waited for room in its backlog can go on

    def hang_up(self, conn: Connection, notice: str) -> None:
        """Disconnect at once, dropping whatever it was still owed."""
        conn.outbox.clear()
        self.depart(conn, notice)

    def close(self, conn: Connection) -> None:
        if conn.mask:
            self.selector.unregister(conn.sock)
            conn.mask = 0
        conn.sock.close()
        self.connections.discard(conn)
        self.dirty.discard(conn)

    # --- reading --------------------------------------------------------------------
    def receive(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.hang_up(conn, f"* {conn.name} dropped off (connection lost)")
            return
        if not data:
            # The client finished sending. We read only while not paused, so every complete
            # line it sent has been handled; what is left is an unfinished line: dropped.
            self.depart(conn, f"* {conn.name} has left the room")
            return
        conn.inbox += data
        self.handle_lines(conn)

    def handle_lines(self, conn: Connection) -> None:
        """Cut complete lines off the inbox and act on them, as far as backlogs allow."""
        inbox = conn.inbox
        while conn in self.connections and not conn.leaving:
            if conn.skipping:
                end = inbox.find(b"\n")
                if end < 0:
                    inbox.clear()
                    break
                del inbox[: end + 1]
                conn.skipping = False
                continue
            end = inbox.find(b"\n", conn.scanned)
            if end < 0:
                if len(inbox) > LINE_LIMIT:
                    inbox.clear()
                    conn.skipping = True
                    self.refuse_long_line(conn)
                else:
                    conn.scanned = len(inbox)
                break
            if self.someone_is_full(conn):
                # Wait for room instead of dropping the line: a member who reads slowly
                # must get every message. We stop reading this sender meanwhile, so TCP
                # slows it down; watch_stalled() bounds how long that can last.
                conn.paused = True
                self.paused.append(conn)
                break
            line = bytes(inbox[:end])
            del inbox[: end + 1]
            conn.scanned = 0
            if len(line) > LINE_LIMIT:
                self.refuse_long_line(conn)
            else:
                self.handle_line(conn, line)
        if conn in self.connections:
            self.update_interest(conn)

    def refuse_long_line(self, conn: Connection) -> None:
        self.notify(conn, f"* error: lines are limited to {LINE_LIMIT} bytes; yours was dropped")

    def someone_is_full(self, sender: Connection) -> bool:
        return any(m.full() for m in self.members.values() if m is not sender)

    def resume_paused(self) -> None:
        waiting, self.paused = self.paused, []
        for conn in waiting:
            conn.paused = False
            self.handle_lines(conn)

    def handle_line(self, conn: Connection, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").removesuffix("\r").translate(UNPRINTABLE)
        if text == "/name" or text.startswith("/name "):
            self.rename(conn, text[len("/name") :].strip())
        elif text.strip():
            self.broadcast(f"{conn.name}: {text}", skip=conn)

    def rename(self, conn: Connection, wanted: str) -> None:
        if not valid_name(wanted):
            self.notify(
                conn,
                f"* cannot rename you to '{wanted}': use 1 to {MAX_NAME} letters, digits, "
                f"dots, dashes or underscores",
            )
            return
        holder = self.members.get(wanted.casefold())
        if holder is not None and holder is not conn:
            self.notify(conn, f"* cannot rename you: {wanted} is already taken")
            return
        old = conn.name
        del self.members[old.casefold()]
        conn.name = wanted
        self.members[wanted.casefold()] = conn
        self.notify(conn, f"* ok, your name is {wanted} now")
        if old != wanted:
            self.broadcast(f"* {old} renamed themselves to {wanted}", skip=conn)
            log(f"{old} ({conn.peer}) is now {wanted}")

    # --- writing --------------------------------------------------------------------
    def notify(self, conn: Connection, text: str) -> None:
        self.enqueue(conn, (text + "\n").encode("utf-8"))

    def broadcast(self, text: str, skip: Connection | None = None) -> None:
        data = (text + "\n").encode("utf-8")
        for member in self.members.values():
            if member is not skip:
                self.enqueue(member, data)

    def enqueue(self, conn: Connection, data: bytes) -> None:
        if not conn.outbox:
            # The stall clock starts now: an idle member has not been slow to read.
            conn.last_progress = time.monotonic()
        conn.outbox += data
        self.dirty.add(conn)

    def send_dirty(self) -> None:
        """Send straight away what was queued during this round; the selector is asked
        for "writable" only for what the socket would not take."""
        while self.dirty:
            self.send_some(self.dirty.pop())

    def send_some(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        if conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.hang_up(conn, f"* {conn.name} dropped off (connection lost)")
                return
            if sent:
                was_full = conn.full()
                del conn.outbox[:sent]
                conn.last_progress = time.monotonic()
                if was_full and not conn.full():
                    self.resume_paused()
        if conn.leaving and not conn.outbox:
            self.close(conn)
        elif conn in self.connections:
            self.update_interest(conn)

    @staticmethod
    def stalled(conn: Connection) -> bool:
        """Owes bytes and either holds up its senders or is leaving: it must keep reading."""
        return bool(conn.outbox) and (conn.full() or conn.leaving)

    def watch_stalled(self) -> None:
        """Probe stalled members now and then; drop those that took nothing for a while."""
        for conn in list(self.connections):
            if conn not in self.connections or not self.stalled(conn):
                continue
            now = time.monotonic()
            if now >= conn.next_probe or now - conn.last_progress >= STALL_SECONDS:
                conn.next_probe = now + PROBE_SECONDS
                self.send_some(conn)  # a byte taken counts as progress
            gone = conn not in self.connections or not self.stalled(conn)
            if not gone and time.monotonic() - conn.last_progress >= STALL_SECONDS:
                log(f"{conn.name} ({conn.peer}) stopped reading: disconnected")
                self.hang_up(conn, f"* {conn.name} stopped reading and was disconnected")

    # --- stopping -------------------------------------------------------------------
    def shutdown(self) -> None:
        """Say goodbye to everyone, give them a moment to receive it, close everything."""
        self.selector.unregister(self.listener)
        self.listener.close()
        self.paused.clear()
        for conn in self.members.values():
            self.enqueue(conn, b"* the server is shutting down - bye!\n")
        self.members.clear()
        for conn in list(self.connections):
            conn.paused = False
            conn.leaving = True
            self.send_some(conn)
        deadline = time.monotonic() + FAREWELL_SECONDS
        while self.connections and (left := deadline - time.monotonic()) > 0:
            for key, _events in self.selector.select(left):
                if key.data == "wake":
                    self.drain_wakeups()
                elif isinstance(key.data, Connection):
                    self.send_some(key.data)
        for conn in list(self.connections):
            self.close(conn)
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.wake_in.close()
        self.wake_out.close()


def open_listener(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # A restart right after Ctrl+C may bind the port again at once. Not on Windows,
        # where this option would let a second program take over a port in use.
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description="Single-threaded TCP chat server (selectors).")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 lets the system pick a free one (default: %(default)s)",
    )
    args = parser.parse_args()
    try:
        sys.stdout.reconfigure(errors="replace")
    except AttributeError:
        pass  # stdout replaced by something that is not a text file; print() still works

    try:
        listener = open_listener(args.host, args.port)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    server = ChatServer(listener)
    server.install_signal_handlers()
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log(f"Listening on tcp://{shown}:{port}")
    server.run()
    log("shutting down")
    server.shutdown()
    log("stopped")


if __name__ == "__main__":
    main()
