#!/usr/bin/env python3
"""TCP echo server: every byte a client sends comes straight back (seed 000 task 1, seed 001).

What it teaches: the socket calls of a server (create_server, accept, recv, sendall) and why a
server needs one thread per client to serve more than one person at a time.

Protocol: none of its own. The bytes a client sends come back unchanged and in order, however
TCP splits them; a client that wants messages marks their ends itself (client.py ends each with
"\\n"). When the client closes its side, the server closes its own.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 12345
RECV_SIZE = 65536  # any size works; a larger one means fewer calls
ACCEPT_POLL_SECONDS = 0.5  # how often accept() wakes up to look at the stop flag

# The clients connected right now, so that stopping can hang up on all of them. Client
# threads add and remove themselves while the main thread may be hanging up, so every use of
# the set holds the lock.
connections: set[socket.socket] = set()
connections_lock = threading.Lock()
stopping = threading.Event()  # set by Ctrl+C or SIGTERM


def log(text: str) -> None:
    # print() writes the text and the newline separately, so the lines of two threads could
    # run together; one write per line keeps them apart.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def echo(conn: socket.socket, address: str) -> None:
    """One client's thread: send back everything it sends, until it hangs up."""
    log(f"{address} connected")
    try:
        # An echo server does not need to know where one message ends: it returns bytes in
        # the order they came, however TCP split them. recv() returns b"" once the client
        # closes its side.
        while data := conn.recv(RECV_SIZE):
            # send() may write only part of the data when the socket buffer is full;
            # sendall() loops until every byte is out.
            conn.sendall(data)
    except OSError as error:  # reset by the client, or hung up on by Ctrl+C
        log(f"{address} connection error: {error}")
    finally:
        with connections_lock:
            connections.discard(conn)
        conn.close()
        log(f"{address} disconnected")


def serve(server: socket.socket) -> None:
    """Accept clients until Ctrl+C or SIGTERM, each served by a thread of its own."""
    while not stopping.is_set():
        try:
            conn, address = server.accept()
        except TimeoutError:
            continue  # a chance to look at the stop flag
        with connections_lock:
            connections.add(conn)
        # One thread per client: while this thread waits in recv() for one client, the main
        # thread keeps accepting and other threads keep echoing. The seed served clients one
        # after another, so a second client hung until the first left.
        threading.Thread(target=echo, args=(conn, host_port(address))).start()


# --- Starting and stopping ------------------------------------------------------------------------
def host_port(address: tuple) -> str:
    """`host:port` of a socket address, an IPv6 host in brackets as in a URL."""
    host, port = address[:2]  # an IPv6 address has two more fields
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def hang_up_all() -> None:
    # shutdown() wakes a thread out of recv() even while it waits there, and ends the
    # connection politely: the client reads the end of the stream.
    with connections_lock:
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone


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

    # create_server() does socket(), bind() and listen() in one call, and sets SO_REUSEADDR
    # where that is safe (not on Windows), so a restart right after Ctrl+C can bind the port
    # while the old connections sit in TIME_WAIT. It speaks IPv4 unless told otherwise.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        server = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    # A blocking accept() never returns to Python on Windows, so Ctrl+C would wait for the
    # next client. Waking up twice a second lets it through everywhere.
    server.settimeout(ACCEPT_POLL_SECONDS)
    # Ctrl+C and SIGTERM only set a flag that serve() looks at. An exception raised by the
    # signal could land between accept() and starting the client's thread, and leave that
    # client waiting forever.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stopping.set())
    print(f"Listening on tcp://{host_port(server.getsockname())}", flush=True)
    try:
        serve(server)
    finally:
        server.close()
        hang_up_all()
    # Python waits for the client threads before it exits anyway (hanging up ends them);
    # waiting here puts their last lines before "Stopped.".
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
