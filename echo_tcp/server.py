#!/usr/bin/env python3
"""TCP echo server: every byte a client sends comes straight back (seed 000 task 1, seed 001).

What it teaches: the socket calls of a server (socket, bind, listen, accept, recv, sendall)
and why a server needs one thread per client to serve more than one person at a time.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12345
RECV_SIZE = 65536
ACCEPT_POLL_SECONDS = 0.5


# The sockets of the clients connected right now, so Ctrl+C can close them all.
# Client threads add and remove themselves while the main thread may be closing them,
# so every use of the set holds the lock.
connections: set[socket.socket] = set()
connections_lock = threading.Lock()
stopping = threading.Event()  # set by Ctrl+C or SIGTERM


def log(text: str) -> None:
    """Print one line. print() writes the text and the newline separately, so the lines of
    two threads could run together; one write per line keeps them apart."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def echo(conn: socket.socket, address: str) -> None:
    """Send back everything this client sends, until it hangs up."""
    log(f"{address} connected")
    try:
        # An echo server does not need to know where one message ends: it returns bytes in
        # the order they came, however TCP split them. recv() returns b"" once the client
        # closes its side.
        while data := conn.recv(RECV_SIZE):
            # send() may write only part of the data when the socket buffer is full;
            # sendall() loops until every byte is out.
            conn.sendall(data)
    except OSError as error:  # reset by the client, or closed by Ctrl+C below
        log(f"{address} connection error: {error}")
    finally:
        with connections_lock:
            connections.discard(conn)
        conn.close()
        log(f"{address} disconnected")


def serve(host: str, port: int) -> None:
    # create_server() does socket(), bind() and listen() in one call, and on Linux and macOS
    # sets SO_REUSEADDR: a restart right after Ctrl+C works while the old connections still
    # sit in TIME_WAIT (Windows allows that without the option).
    server = socket.create_server((host, port))
    # A blocking accept() never returns to Python on Windows, so Ctrl+C would be ignored
    # until the next client arrives. Waking up twice a second lets it through everywhere.
    server.settimeout(ACCEPT_POLL_SECONDS)

    # Ctrl+C (SIGINT) and `kill` (SIGTERM) only set a flag that the loop below looks at. An
    # exception raised by the signal could land between accept() and starting the client's
    # thread, and leave that client waiting forever.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stopping.set())
    bound_host, bound_port = server.getsockname()[:2]
    print(f"Listening on tcp://{bound_host}:{bound_port}", flush=True)

    try:
        while not stopping.is_set():
            try:
                conn, (client_host, client_port) = server.accept()
            except TimeoutError:
                continue
            with connections_lock:
                connections.add(conn)
            # One thread per client: while this thread waits in recv() for one client, the
            # main thread keeps accepting and other threads keep echoing. The seed served
            # clients one after another, so a second client hung until the first left.
            # At exit Python waits for these threads; the `finally` below ends them.
            threading.Thread(target=echo, args=(conn, f"{client_host}:{client_port}")).start()
    finally:
        server.close()
        # Wake every client thread out of recv(): shutdown() ends the connection politely
        # (the client reads end-of-file) and works even while another thread uses the socket.
        with connections_lock:
            for conn in connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone
    print("Stopped.", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="TCP echo server: sends every byte back.")
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
        serve(args.host, args.port)
    except OSError as error:  # e.g. the port is taken
        raise SystemExit(f"cannot listen on {args.host}:{args.port}: {error}") from None


if __name__ == "__main__":
    main()
