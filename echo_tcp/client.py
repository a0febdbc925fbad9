#!/usr/bin/env python3
"""TCP echo client: sends lines to the echo server, prints each reply (seed 000 task 1, seed 001).

What it teaches: TCP is a byte stream, not a stream of messages. One recv() may return half
a reply or two replies at once, so the client frames each message with a newline and reads
until the whole line is there.

Protocol: the client sends each message as UTF-8 text ending in "\\n" and reads the echo up to
the next "\\n"; the server (server.py, or any echo server) sends every byte back unchanged.
A line `exit`, or the end of input, ends the client.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Iterator
from typing import TextIO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12345
REPLY_TIMEOUT_SECONDS = 30


def ask(conn: socket.socket, reader: TextIO, message: str) -> str:
    """Send one message and return the server's reply to it."""
    # The newline marks where this message ends; the server sends it back with the rest.
    conn.sendall(message.encode("utf-8") + b"\n")
    # readline() calls recv() as many times as it takes to reach the newline, so a long
    # reply is never cut at 1024 bytes as in the seed, and a character whose bytes arrive in
    # two pieces is decoded only once both are here.
    reply = reader.readline()
    if not reply.endswith("\n"):
        raise ConnectionError("the server closed the connection")
    return reply.removesuffix("\n")


def messages() -> Iterator[str]:
    """Lines typed by the user (or piped in), until `exit` or the end of input."""
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            return
        if line.strip().lower() == "exit":
            return
        yield line


def main() -> None:
    parser = argparse.ArgumentParser(description="TCP echo client.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--message", help="send this one message, print the reply and exit")
    args = parser.parse_args()
    # A line that is not valid UTF-8 (a file in another encoding) is sent with "�" in
    # place of the bad bytes instead of stopping the program.
    sys.stdin.reconfigure(errors="replace")

    try:
        conn = socket.create_connection((args.host, args.port), timeout=REPLY_TIMEOUT_SECONDS)
    except OSError as error:
        sys.exit(f"cannot connect to {args.host}:{args.port}: {error.strerror or error}")

    with conn, conn.makefile("r", encoding="utf-8", errors="replace", newline="\n") as reader:
        try:
            for message in [args.message] if args.message is not None else messages():
                print(ask(conn, reader, message), flush=True)
        except KeyboardInterrupt:
            pass
        except OSError as error:  # ask()'s ConnectionError among them
            sys.exit(f"connection to {args.host}:{args.port} lost: {error}")


if __name__ == "__main__":
    main()
