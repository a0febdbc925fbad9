#!/usr/bin/env python3
"""Echo client with its own receive buffer and incremental decoder (grading fixture)."""

from __future__ import annotations

import argparse
import codecs
import socket
import sys


class LineSocket:
    """Frames the byte stream into lines by hand: recv() pieces go into a buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def ask(self, text: str) -> str:
        self.sock.sendall(f"{text}\n".encode())
        while b"\n" not in self.buffer:
            piece = self.sock.recv(4096)
            if not piece:
                raise ConnectionError("server hung up")
            self.buffer += piece
        line, _, self.buffer = self.buffer.partition(b"\n")
        return codecs.decode(line, "utf-8", "replace")


def lines_from_stdin():
    for raw in sys.stdin:
        text = raw.rstrip("\n")
        if text == "exit":
            break
        yield text


def main() -> int:
    parser = argparse.ArgumentParser(description="TCP echo client")
    parser.add_argument("--host", default="127.0.0.1", help="server host")
    parser.add_argument("--port", type=int, default=12345, help="server port")
    parser.add_argument("--message", help="send a single message and quit")
    args = parser.parse_args()
    try:
        sock = socket.create_connection((args.host, args.port), timeout=5)
    except OSError as exc:
        print(f"no echo server at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    sock.settimeout(None)
    conn = LineSocket(sock)
    source = [args.message] if args.message is not None else lines_from_stdin()
    try:
        for text in source:
            sys.stdout.write(conn.ask(text) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"lost {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
