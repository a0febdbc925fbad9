#!/usr/bin/env python3
"""aiohttp WebSocket echo server (seed 004's echo server example; the partner of seed 000 task 3).

What it teaches: one aiohttp application serves plain HTTP (`GET /` answers `Hello, world`)
and WebSockets (`/ws`) on the same port; a WebSocket handler is a loop over incoming
messages; a server that shuts down says goodbye to every open socket with a close frame; and
a handshake from another site's web page is refused (its `Origin` header says where it is).

Protocol on /ws: a text message comes back with `/answer` appended; the text `close` makes
the server close the connection (code 1000); a binary message comes back unchanged. A
handshake whose `Origin` is neither this server's own nor listed with --allow-origin gets 403.
"""

from __future__ import annotations

import argparse
import socket
import sys

import doorman
from aiohttp import WebSocketError, WSMsgType, web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
MAX_MESSAGE_BYTES = 1024 * 1024  # a bigger message is refused with close code 1009
HEARTBEAT_SECONDS = 30.0  # ping idle clients, so a vanished one is noticed and dropped
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a client gets to answer our close frame
SHUTDOWN_TIMEOUT_SECONDS = 3.0  # open handlers get this long; a server has 5 s to stop


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


# doorman.py (supplied) opens the WebSocket: it refuses pages of other sites (Origin), and
# when the server stops it closes every open WebSocket with 1001 "going away".
@doorman.websocket(
    heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_SECONDS
)
async def echo(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Answer every message on one WebSocket until the client or the server closes it."""
    host, port = request.transport.get_extra_info("peername")[:2] if request.transport else ("?", 0)
    peer = f"{host}:{port}"
    print(f"{peer} connected", flush=True)
    error_code = None  # the close code aiohttp sent after a protocol error, if there was one
    try:
        # The loop ends when the connection closes, however that happens: a close frame from
        # either side, a dead TCP connection, or a protocol error (the frame that ends it
        # arrives as an ERROR message first).
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "close":
                    await ws.close()
                else:
                    await ws.send_str(msg.data + "/answer")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.ERROR:
                # Logged, never fatal: aiohttp has already sent the client a close code
                # (1009 too big, 1007 invalid UTF-8, 1002 broken frame). That code travels
                # in the error: ws.close_code later says 1006, because after a broken frame
                # aiohttp cannot read the client's close reply.
                if isinstance(msg.data, WebSocketError):
                    error_code = msg.data.code
                print(f"{peer} connection error: {ws.exception()}", flush=True)
    except ConnectionError as error:  # the client vanished while we were answering
        print(f"{peer} connection error: {error}", flush=True)
    print(f"{peer} disconnected (close code {error_code or ws.close_code})", flush=True)


# --- Starting and stopping ------------------------------------------------------------------------
def make_app(allowed_origins: frozenset[str] = frozenset()) -> web.Application:
    app = web.Application()
    doorman.install(app, allowed_origins)
    app.add_routes([web.get("/", hello), web.get("/ws", echo)])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description="aiohttp WebSocket echo server: GET / says hello, /ws echoes messages.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    doorman.add_allow_origin_option(parser)
    args = parser.parse_args()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # IPv4 unless told
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    listening = f"Listening on ws://{host}:{port}/ws  (and http://{host}:{port}/)"
    # web.run_app handles Ctrl+C and SIGTERM; binding the socket ourselves lets the line show
    # the real port when --port is 0. On shutdown it stops accepting, closes the WebSockets, then
    # waits for the handlers to finish.
    web.run_app(
        make_app(frozenset(args.allow_origin)),
        sock=sock,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        print=lambda _: print(listening, flush=True),
    )
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
