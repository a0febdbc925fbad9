#!/usr/bin/env python3
"""Terminal client for the threaded TCP chat (seed 001).

What it teaches: a program that must wait for two things at once - the keyboard and the
network - can give each its own thread. Here the main thread reads what you type and a
receiving thread prints what the server sends, as it arrives.
"""

from __future__ import annotations

import _thread
import argparse
import signal
import socket
import sys
import threading

try:
    import readline  # line editing, and it lets show() redraw the line being typed
except ImportError:  # Windows has no readline module; everything else still works
    readline = None

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12346
GOODBYE_SECONDS = 5.0  # after `exit`, how long to wait for the server to finish with us
PROMPT = "> " if sys.stdin.isatty() else ""


def show(text: str) -> None:
    """Print one incoming line without mixing it into the line being typed."""
    if readline and PROMPT:
        typed = readline.get_line_buffer()
        # \r and ESC[K clear the prompt line; we print the message there and draw the
        # prompt with what was typed so far again below it.
        sys.stdout.write(f"\r\x1b[K{text}\n{PROMPT}{typed}")
        sys.stdout.flush()
    else:
        print(text, flush=True)


def interrupt_main_thread() -> None:
    """Wake the main thread out of input(), which cannot notice that the server left."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:  # Windows: input() returns at the next Enter, then the program ends
        _thread.interrupt_main()


def receive(conn: socket.socket, server_gone: threading.Event) -> None:
    """The receiving thread: print every line the server sends until it closes."""
    try:
        # The file's readline() gathers TCP pieces into whole lines (see echo_tcp).
        with conn.makefile("r", encoding="utf-8", errors="replace", newline="\n") as reader:
            for line in reader:
                show(line.removesuffix("\n"))
    except OSError:
        pass  # connection reset
    server_gone.set()
    interrupt_main_thread()


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
    # A line that is not valid UTF-8 (a file in another encoding) is sent with "�" in
    # place of the bad bytes instead of stopping the program.
    sys.stdin.reconfigure(errors="replace")

    try:
        conn = socket.create_connection((args.host, args.port))
    except OSError as error:
        sys.exit(f"cannot connect to {args.host}:{args.port}: {error.strerror or error}")

    server_gone = threading.Event()
    receiver = threading.Thread(target=receive, args=(conn, server_gone), daemon=True)
    receiver.start()
    try:
        if args.name:
            conn.sendall(f"/name {args.name}\n".encode())
        while (line := input(PROMPT)).strip().lower() != "exit":
            conn.sendall(line.encode("utf-8") + b"\n")
    except (EOFError, KeyboardInterrupt):
        if PROMPT:
            print()  # end the prompt's line, so the shell's prompt starts on a line of its own
    except OSError:
        server_gone.set()

    # Leaving: from here on neither Ctrl+C nor the receiving thread's wake-up call may
    # interrupt the goodbye halfway.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if server_gone.is_set():
        sys.exit(f"\nthe server at {args.host}:{args.port} closed the connection")
    # Tell the server we are done sending; it answers by closing its side once it has
    # handled our last lines, and the receiving thread prints whatever is still on the way.
    try:
        conn.shutdown(socket.SHUT_WR)
        receiver.join(GOODBYE_SECONDS)
    except OSError:
        pass  # the server is already gone
    conn.close()


if __name__ == "__main__":
    main()
