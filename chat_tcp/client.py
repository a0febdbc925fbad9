#!/usr/bin/env python3
"""Terminal client for the threaded TCP chat (seed 001).

What it teaches: a program that waits for two things at once - the keyboard and the network -
can give each a thread of its own. Here the main thread sends what you type, and a receiving
thread prints what the server sends, as it arrives.

Protocol (chat_tcp/README.md): UTF-8 lines ending in "\\n" both ways; `/name NEW` renames
you; the server sends `name: text` for messages and `* ...` for notices.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading

from console import Console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12346
GOODBYE_SECONDS = 5.0  # after `exit`, how long the server gets to finish with us


def receive(conn: socket.socket, console: Console, leaving: threading.Event) -> None:
    """The receiving thread: print every line the server sends, until it closes."""
    try:
        # The file's readline() gathers TCP pieces into whole lines (see echo_tcp).
        with conn.makefile("r", encoding="utf-8", errors="replace", newline="\n") as lines:
            for line in lines:
                console.show(line.removesuffix("\n"))
    except OSError:
        pass  # the connection was reset
    if not leaving.is_set():
        console.stop()  # the server went away: the main thread stops reading the keyboard


def main() -> None:
    parser = argparse.ArgumentParser(description="Terminal client for the TCP chat.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--name", help="your name in the chat (default: one the server assigns)")
    args = parser.parse_args()

    try:
        conn = socket.create_connection((args.host, args.port))
    except OSError as error:
        sys.exit(f"cannot connect to {args.host}:{args.port}: {error.strerror or error}")

    leaving = threading.Event()  # set when we end the conversation, not the server
    with conn, Console() as console:
        receiver = threading.Thread(target=receive, args=(conn, console, leaving), daemon=True)
        receiver.start()
        try:
            if args.name:
                conn.sendall(f"/name {args.name}\n".encode())
            for line in console:  # until `exit`, the end of input, or the server leaving
                conn.sendall(line.encode("utf-8") + b"\n")
            if receiver.is_alive():
                leaving.set()
                # Tell the server we are done sending. It closes its side once it has
                # handled our last lines; meanwhile the receiving thread prints the rest.
                conn.shutdown(socket.SHUT_WR)
                receiver.join(GOODBYE_SECONDS)
        except KeyboardInterrupt:
            leaving.set()  # Ctrl+C: leave at once, quietly
        except OSError:
            pass  # the connection broke while we were sending
    if not leaving.is_set():
        sys.exit(f"the server at {args.host}:{args.port} closed the connection")


if __name__ == "__main__":
    main()
