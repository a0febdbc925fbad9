#!/usr/bin/env python3
"""Terminal client for the TCP chat: one thread and a selector over socket and keyboard.

Instead of a thread that blocks in input() and another that blocks in recv(), a single
loop waits until either the keyboard or the network has something, and handles it.

In a terminal the program edits the line itself (the terminal is switched to
non-canonical mode without echo), so that an incoming message can be printed above the
line being typed and that line drawn again. With input from a pipe or a file, lines are
forwarded as they are.
"""

from __future__ import annotations

import argparse
import codecs
import os
import selectors
import shutil
import signal
import socket
import sys
import threading
import time
import unicodedata
from collections.abc import Callable

try:
    import termios
except ImportError:  # Windows
    termios = None

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12346
PROMPT = "chat> "
GOODBYE_SECONDS = 5.0  # after `exit`, how long the server gets to handle our last lines
READ_SIZE = 64 * 1024
SEND_LIMIT = 1024 * 1024  # unsent bytes beyond which we stop reading the keyboard for a while

EXIT_OK, EXIT_SERVER_GONE, EXIT_INTERRUPTED = 0, 1, 130


def cells(text: str) -> int:
    """Terminal columns `text` takes: emoji and CJK take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return width


class LineEditor:
    """The line being typed, kept by us because the terminal no longer echoes it."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.chars: list[str] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.escape = 0  # 1: after ESC, 2: inside an escape sequence (arrow keys and such)

    def columns(self) -> int:
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns or 80
        except OSError:
            return shutil.get_terminal_size().columns

    def erase(self) -> None:
        """Clear the prompt and the typed text, which may wrap over several rows."""
        used = cells(PROMPT + "".join(self.chars))
        rows_up = (used - 1) // self.columns()
        self.write("\r" + (f"\x1b[{rows_up}A" if rows_up else "") + "\x1b[J")

    def draw(self) -> None:
        self.write(PROMPT + "".join(self.chars))

    def show_above(self, line: str) -> None:
        self.erase()
        self.write(line + "\n")
        self.draw()

    def feed(self, data: bytes) -> list[str | None]:
        """Handle keystrokes; return the lines finished with Enter (None: Ctrl+D)."""
        finished: list[str | None] = []
        for ch in self.decoder.decode(data):
            if self.escape == 1:
                self.escape = 2 if ch in "[O" else 0
            elif self.escape == 2:
                if "@" <= ch <= "~":  # the final byte of the sequence
                    self.escape = 0
            elif ch == "\x1b":
                self.escape = 1
            elif ch in "\r\n":
                finished.append("".join(self.chars))
                self.chars.clear()
                self.write("\n")
                self.draw()
            elif ch in "\x7f\x08":  # Backspace
                if self.chars:
                    self.erase()
                    self.chars.pop()
                    self.draw()
            elif ch in "\x15\x17":  # Ctrl+U clears the line, Ctrl+W the last word
                self.erase()
                if ch == "\x15":
                    self.chars.clear()
                else:
                    while self.chars and self.chars[-1] == " ":
                        self.chars.pop()
                    while self.chars and self.chars[-1] != " ":
                        self.chars.pop()
                self.draw()
            elif ch == "\x04":  # Ctrl+D: end of input, on an empty line as in a shell
                if not self.chars:
                    finished.append(None)
            elif ch == "\t" or ch >= " ":
                self.chars.append(ch)
                self.write(ch)
        return finished


class RawTerminal:
    """Non-canonical mode without echo while we run; ISIG stays, so Ctrl+C still signals."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved = termios.tcgetattr(fd)

    def enter(self) -> None:
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO)
        mode[6][termios.VMIN] = 1
        mode[6][termios.VTIME] = 0
        termios.tcsetattr(self.fd, termios.TCSADRAIN, mode)

    def leave(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def stdin_through_a_thread() -> socket.socket:
    """Windows cannot select() on a console or pipe: a thread copies standard input into
    a socket, which the selector can watch like any other."""
    ours, theirs = socket.socketpair()

    def pump() -> None:
        try:
            with theirs:
                while chunk := sys.stdin.buffer.readline():
                    theirs.sendall(chunk)
        except OSError:
            pass  # we are leaving and closed our end

    threading.Thread(target=pump, daemon=True).start()
    return ours


class Client:
    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address
        self.outgoing = bytearray()
        self.incoming = bytearray()
        self.typed = bytearray()  # piped input not yet ended by a newline
        self.keyboard_open = True
        self.leaving = False  # `exit` or end of input: send what is left, then say goodbye
        self.goodbye_by = 0.0  # set once we have shut down our sending side
        self.signalled = False
        self.continued = False
        self.terminal: RawTerminal | None = None
        self.editor: LineEditor | None = None
        if termios is not None and os.isatty(0) and os.isatty(1):
            self.terminal = RawTerminal(0)
            self.editor = LineEditor(self.write)
        if os.name == "nt":
            pipe = stdin_through_a_thread()
            self.keyboard: int | socket.socket = pipe
            self.read_keyboard: Callable[[], bytes] = lambda: pipe.recv(READ_SIZE)
        else:
            self.keyboard = 0
            self.read_keyboard = lambda: os.read(0, READ_SIZE)
        # Plain select(), not epoll: epoll refuses a regular file (input redirected from a
        # file), which select() reports as always readable, as it should.
        self.selector = selectors.SelectSelector()
        self.wake_in, self.wake_out = socket.socketpair()
        for end in (self.wake_in, self.wake_out):
            end.setblocking(False)
        self.selector.register(self.wake_in, selectors.EVENT_READ, "wake")
        self.watching_keyboard = False
        self.sock_mask = 0

    def write(self, text: str) -> None:
        sys.stdout.write(text)

    # --- signals --------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        # The byte written here makes select() return; the handler itself only sets a flag.
        signal.set_wakeup_fd(self.wake_out.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, self.on_stop)
        signal.signal(signal.SIGTERM, self.on_stop)
        if self.terminal and hasattr(signal, "SIGCONT"):
            signal.signal(signal.SIGCONT, self.on_continue)

    def on_stop(self, signum: int, frame: object) -> None:
        self.signalled = True

    def on_continue(self, signum: int, frame: object) -> None:
        # Back from Ctrl+Z; the loop redraws (a handler must not write to stdout: it may
        # have interrupted another write).
        self.continued = True

    # --- what we show ---------------------------------------------------------------
    def show(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").removesuffix("\r")
        if self.editor:
            self.editor.show_above(line)
        else:
            self.write(line + "\n")

    # --- the loop -------------------------------------------------------------------
    def run(self, name: str | None) -> int:
        if name:
            self.outgoing += f"/name {name}\n".encode()
        if self.terminal and self.editor:
            self.terminal.enter()
            self.editor.draw()
        try:
            return self.loop()
        finally:
            if self.terminal and self.editor:
                self.editor.erase()
                sys.stdout.flush()
                self.terminal.leave()

    def loop(self) -> int:
        while not self.signalled:
            self.update_interest()
            timeout = None
            if self.goodbye_by:
                timeout = max(0.0, self.goodbye_by - time.monotonic())
            events = self.selector.select(timeout)
            if not events and self.goodbye_by:
                return EXIT_OK  # the server kept the connection open; we are done anyway
            for key, mask in events:
                if key.data == "wake":
                    self.drain_wakeups()
                elif key.data == "keyboard":
                    self.from_keyboard()
                else:
                    if mask & selectors.EVENT_WRITE and not self.send():
                        return self.server_gone()
                    if mask & selectors.EVENT_READ:
                        status = self.receive()
                        if status is not None:
                            return status
            if self.continued and self.terminal and self.editor:
                # The shell may have changed the terminal mode while we were stopped.
                self.continued = False
                self.terminal.enter()
                self.editor.erase()
                self.editor.draw()
            sys.stdout.flush()
            if self.leaving and not self.outgoing and not self.goodbye_by:
                # Done sending: the server answers by closing once it has handled our
                # last lines, and we print whatever it still sends until then.
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    return self.server_gone()
                self.goodbye_by = time.monotonic() + GOODBYE_SECONDS
        return EXIT_INTERRUPTED

    def update_interest(self) -> None:
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outgoing else 0)
        if mask != self.sock_mask:
            if self.sock_mask:
                self.selector.modify(self.sock, mask, "server")
            else:
                self.selector.register(self.sock, mask, "server")
            self.sock_mask = mask
        # Stop taking input while the server is slow to accept it, so memory stays bounded.
        want = self.keyboard_open and not self.leaving and len(self.outgoing) < SEND_LIMIT
        if want != self.watching_keyboard:
            if want:
                self.selector.register(self.keyboard, selectors.EVENT_READ, "keyboard")
            else:
                self.selector.unregister(self.keyboard)
            self.watching_keyboard = want

    def drain_wakeups(self) -> None:
        try:
            while self.wake_in.recv(512):
                pass
        except OSError:
            pass  # nothing more to read

    def from_keyboard(self) -> None:
        try:
            data = self.read_keyboard()
        except OSError:
            data = b""
        if self.editor:
            for line in self.editor.feed(data) if data else [None]:
                if line is None:  # Ctrl+D on an empty line, or the terminal went away
                    self.keyboard_open = False
                    self.leaving = True
                    break
                self.submit(line.encode("utf-8"))
            return
        if not data:
            if self.typed:  # a last line without a newline still counts
                self.submit(bytes(self.typed))
            self.keyboard_open = False
            self.leaving = True
            return
        self.typed += data
        while not self.leaving and (end := self.typed.find(b"\n")) >= 0:
            line = bytes(self.typed[:end])
            del self.typed[: end + 1]
            self.submit(line)

    def submit(self, line: bytes) -> None:
        if self.leaving:
            return
        if line.strip() == b"exit":
            self.leaving = True
        else:
            self.outgoing += line + b"\n"

    def send(self) -> bool:
        try:
            sent = self.sock.send(self.outgoing)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        del self.outgoing[:sent]
        return True

    def receive(self) -> int | None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data = b""
        if not data:
            if self.goodbye_by:
                return EXIT_OK  # the server closed after our goodbye, as it should
            return self.server_gone()
        self.incoming += data
        while (end := self.incoming.find(b"\n")) >= 0:
            self.show(bytes(self.incoming[:end]))
            del self.incoming[: end + 1]
        return None

    def server_gone(self) -> int:
        if self.editor:
            self.editor.erase()
            self.editor = None  # nothing is typed into a chat that has ended
        sys.stdout.flush()
        print(f"the chat server at {self.address} went away", file=sys.stderr)
        return EXIT_SERVER_GONE


def main() -> int:
    parser = argparse.ArgumentParser(description="Terminal client for the TCP chat.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--name", help="name to take in the chat (default: the server's guest-N)")
    args = parser.parse_args()
    sys.stdout.reconfigure(errors="replace")
    address = f"{args.host}:{args.port}"
    try:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as error:
        print(f"no chat server at {address}: {error.strerror or error}", file=sys.stderr)
        return 1
    sock.setblocking(False)
    with sock:
        client = Client(sock, address)
        client.install_signal_handlers()
        return client.run(args.name)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C before the loop took over the signal
        sys.exit(EXIT_INTERRUPTED)
