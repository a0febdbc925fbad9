#!/usr/bin/env python3
"""Chat client: the main thread reads the keyboard, a listener thread the socket (fixture)."""

from __future__ import annotations

import argparse
import codecs
import signal
import socket
import sys
import threading

try:
    import readline
except ImportError:
    readline = None


class Disconnected(Exception):
    """Raised in the main thread when the listener finds the server gone."""


class ChatClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tty = sys.stdin.isatty()
        self.leaving = False
        self.gone = False
        self.listener = threading.Thread(target=self.listen, daemon=True)

    def display(self, line: str) -> None:
        if self.tty and readline is not None:
            typed = readline.get_line_buffer()
            sys.stdout.write("\r\033[2K" + line + "\n" + ">> " + typed)
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def listen(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = ""
        try:
            while data := self.sock.recv(16384):
                text += decoder.decode(data)
                *complete, text = text.split("\n")
                for line in complete:
                    self.display(line)
        except OSError:
            pass
        if not self.leaving:
            self.gone = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)

    def run(self, name: str | None) -> int:
        signal.signal(signal.SIGUSR1, self.on_gone)
        self.listener.start()
        if name:
            self.sock.sendall(f"/name {name}\n".encode())
        try:
            while True:
                line = input(">> " if self.tty else "")
                if line == "exit":
                    break
                self.sock.sendall((line + "\n").encode())
        except (EOFError, KeyboardInterrupt):
            pass
        except (Disconnected, OSError):
            self.gone = True
        for sig in (signal.SIGINT, signal.SIGUSR1):  # nothing may interrupt the goodbye
            signal.signal(sig, signal.SIG_IGN)
        if self.gone:
            print("\nconnection closed by the server", file=sys.stderr)
            return 1
        self.leaving = True
        try:
            self.sock.shutdown(socket.SHUT_WR)  # the server closes once it has our last lines
            self.listener.join(3)
        except OSError:
            pass
        return 0

    def on_gone(self, *_: object) -> None:
        raise Disconnected


def main() -> int:
    parser = argparse.ArgumentParser(description="TCP chat client")
    parser.add_argument("--host", default="127.0.0.1", help="chat server host")
    parser.add_argument("--port", type=int, default=12346, help="chat server port")
    parser.add_argument("--name", help="nickname to ask for")
    args = parser.parse_args()
    try:
        sock = socket.create_connection((args.host, args.port))
    except OSError as exc:
        print(f"can't reach a chat server on {args.host}:{args.port} ({exc})", file=sys.stderr)
        return 1
    with sock:
        return ChatClient(sock).run(args.name)


if __name__ == "__main__":
    sys.exit(main())
