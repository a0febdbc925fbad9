#!/usr/bin/env python3
"""Alternative fastapi_chat client (a grading fixture): websockets' sync client, two threads.

Written unlike the reference (asyncio plus a keyboard thread) and the aiohttp alternative
(asyncio and add_reader): no event loop at all. The main thread reads standard input and
sends; a receiving thread prints what arrives and ticks off our own messages as they come
back. If the server goes away while the main thread waits for a line, the receiving thread
interrupts that wait with a signal, so the client ends by itself.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections import deque
from urllib.parse import parse_qs, quote, urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

try:
    import readline  # line editing; it also tells show() what has been typed so far
except ImportError:  # Windows
    readline = None

INTERACTIVE = sys.stdin.isatty() and sys.stdout.isatty()
PROMPT = ">> " if INTERACTIVE else ""
DRAIN_SECONDS = 10.0  # after `exit`: how long our own messages may take to come back
CLOSE_SECONDS = 2.0  # how long the closing handshake may take
OPEN_SECONDS = 10.0
YOU_ARE = re.compile(r"^\* you are (\S+?);")  # this folder's server's first notice


def show(text: str) -> None:
    """One incoming message, one line, clear of the line being typed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ⏎ ")
    if INTERACTIVE and readline is not None:
        # Overwrite the prompt line with the message, then draw the prompt and what has been
        # typed so far again below it: readline's cursor ends up where it expects to be.
        sys.stdout.write(f"\r\x1b[2K{text}\n{PROMPT}{readline.get_line_buffer()}")
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Session:
    """The connection, shared by the two threads; `cond` guards everything below it."""

    def __init__(self, ws: ClientConnection, address: str) -> None:
        self.ws = ws
        self.address = address
        self.cond = threading.Condition()
        self.me: str | None = None  # the name the server gave us, from its first notice
        self.owed: deque[str] = deque()  # lines sent whose `me: line` has not come back yet
        self.over = False  # the connection has ended
        self.leaving = False  # the main thread has started to leave
        self.lost = False  # the connection ended before we chose to leave
        self.receiver = threading.Thread(target=self.receive, daemon=True)

    def receive(self) -> None:
        """The receiving thread: print everything until the connection ends."""
        try:
            for message in self.ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                show(text)
                self.tick(text)
        except ConnectionClosed:
            pass  # ended without a close frame
        with self.cond:
            self.over = True
            self.lost = not self.leaving
            self.cond.notify_all()
        if self.lost:
            code, reason = self.ws.close_code, self.ws.close_reason
            why = f"close code {code}{': ' + reason if reason else ''}" if code else "no close"
            print(f"\nchat at {self.address} is gone ({why})", file=sys.stderr, flush=True)
            interrupt_main_thread()

    def tick(self, text: str) -> None:
        with self.cond:
            if self.me is None and (found := YOU_ARE.match(text)):
                self.me = found.group(1)
            if not self.owed:
                return
            # Each line we send gets exactly one answer: itself under our name, or an error.
            line = self.owed[0]
            mine = text == f"{self.me}: {line}" if self.me else text.endswith(f": {line}")
            if mine or text.startswith("* error"):
                self.owed.popleft()
                self.cond.notify_all()

    def send(self, line: str) -> None:
        with self.cond:
            self.owed.append(line)
        self.ws.send(line)

    def leave(self, drain: bool) -> None:
        """Wait (if asked) for our messages to come back, then close politely."""
        with self.cond:
            self.leaving = True
            if drain:
                self.cond.wait_for(lambda: not self.owed or self.over, DRAIN_SECONDS)
        self.ws.close()  # 1000; waits for the server's answer at most CLOSE_SECONDS
        self.receiver.join(CLOSE_SECONDS + 1)


def interrupt_main_thread() -> None:
    """Wake the main thread out of a blocking read of standard input."""
    if hasattr(signal, "pthread_kill"):
        # A signal aimed at the main thread makes its read() return, and Python then raises
        # KeyboardInterrupt there; the main thread tells it from Ctrl+C by Session.lost.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:  # Windows cannot interrupt a console read: leave at once
        sys.stdout.flush()
        os._exit(1)


def chat(url: str, address: str) -> int:
    try:
        ws = connect(url, open_timeout=OPEN_SECONDS, close_timeout=CLOSE_SECONDS)
    except (OSError, TimeoutError, InvalidHandshake) as error:
        print(f"chat client: cannot reach {address}: {error}", file=sys.stderr, flush=True)
        return 1
    session = Session(ws, address)
    session.receiver.start()
    try:
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                break
            if line.strip().lower() == "exit":
                break
            if line.strip():  # blank lines are ignored by the server, so none is owed back
                session.send(line)
        session.leave(drain=True)
    except KeyboardInterrupt:
        if not session.lost:  # Ctrl+C: leave without waiting for anything
            if INTERACTIVE:
                print()
            session.leave(drain=False)
    except ConnectionClosed:
        try:
            session.receiver.join(CLOSE_SECONDS + 1)  # it reports the loss
        except KeyboardInterrupt:
            pass  # its wake-up call, which we no longer need
    return 1 if session.lost else 0


def chat_url(args: argparse.Namespace) -> str:
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = args.url or f"ws://{host}:{args.port}/ws"
    if args.name and "name" not in parse_qs(urlsplit(url).query):
        url += ("&" if urlsplit(url).query else "?") + f"name={quote(args.name)}"
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description="Terminal client for the FastAPI chat.")
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="server port (default: %(default)s)")
    parser.add_argument("--name", help="name to chat under (default: a guest name)")
    parser.add_argument("--url", help="the chat's WebSocket URL, e.g. ws://HOST:PORT/ws")
    args = parser.parse_args()
    # Typed text that is not valid UTF-8 becomes U+FFFD instead of an exception.
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    try:
        return chat(chat_url(args), args.url or f"{args.host}:{args.port}")
    except InvalidURI as error:
        print(f"chat client: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:  # a second Ctrl+C while leaving
        return 0


if __name__ == "__main__":
    sys.exit(main())
