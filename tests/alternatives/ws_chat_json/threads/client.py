#!/usr/bin/env python3
"""Alternative ws_chat_json client (a grading fixture): threads and a line editor of its own.

The main thread prints what arrives (websockets' sync client); a daemon thread reads the
keyboard. In a terminal the client edits the line itself in cbreak mode, so a message that
arrives while you type is printed above the line, which is then drawn again.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

try:
    import termios
    import tty
except ImportError:  # Windows: no line editor, plain lines
    termios = tty = None

TTY = termios is not None and os.isatty(0) and os.isatty(1)
PROMPT = "you> "


class Screen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.typed = ""

    def message(self, text: str) -> None:
        with self.lock:
            if TTY:
                sys.stdout.write(f"\r\x1b[K{text}\r\n{PROMPT}{self.typed}")
                sys.stdout.flush()
            else:
                print(text, flush=True)

    def key(self, char: str) -> str | None:
        """Edit the line with one character; return the line when Enter ends it."""
        with self.lock:
            if char in "\r\n":
                line, self.typed = self.typed, ""
                sys.stdout.write(f"\r\n{PROMPT}")
            elif char in "\x7f\b":
                if self.typed:
                    self.typed = self.typed[:-1]
                    sys.stdout.write("\b \b")
                line = None
            elif char.isprintable():
                self.typed += char
                sys.stdout.write(char)
                line = None
            else:
                line = None
            sys.stdout.flush()
            return line


def lines_from_stdin(screen: Screen):
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    if TTY:
        sys.stdout.write(PROMPT)
        sys.stdout.flush()
        while (data := os.read(0, 1024)) and data != b"\x04":
            for char in decoder.decode(data):
                if (line := screen.key(char)) is not None:
                    yield line
        return
    pending = ""
    while data := os.read(0, 65536):
        *lines, pending = (pending + decoder.decode(data)).split("\n")
        yield from (line.rstrip("\r") for line in lines)
    if pending:
        yield pending


def typist(ws, screen: Screen) -> None:
    try:
        for line in lines_from_stdin(screen):
            if line.strip() == "exit":
                break
            if line.strip():
                ws.send(line)
        ws.send("exit")  # the server answers after every reply we are owed, then closes
        time.sleep(10)
        ws.close()  # it did not: leave anyway
    except (ConnectionClosed, OSError):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description="Chat client for ws_chat_json (threads).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--url", help="ws://HOST:PORT (overrides --host/--port)")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}"
    screen = Screen()
    saved = termios.tcgetattr(0) if TTY else None
    try:
        with connect(url, open_timeout=10, close_timeout=2, proxy=None) as ws:
            if TTY:
                tty.setcbreak(0)
            threading.Thread(target=typist, args=(ws, screen), daemon=True).start()
            try:
                for message in ws:
                    screen.message(message if isinstance(message, str) else "<binary frame>")
            except ConnectionClosed:
                pass
            frame = ws.protocol.close_rcvd
        if frame is None:
            print(f"lost the connection to {url}", file=sys.stderr, flush=True)
            return 1
        screen.message(f"-- chat over: {frame.code} {frame.reason}")
        if frame.code not in (1000, 1001):
            print(f"the server ended the session: {frame.code}", file=sys.stderr, flush=True)
            return 1
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
        print(f"cannot reach the chat at {url}: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
