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
import asyncio
import socket
import sys

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
MAX_MESSAGE_BYTES = 1024 * 1024  # a bigger message is refused with close code 1009
HEARTBEAT_SECONDS = 30.0  # ping idle clients, so a vanished one is noticed and dropped
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a client gets to answer our close frame
SHUTDOWN_TIMEOUT_SECONDS = 3.0  # open handlers get this long; a server has 5 s to stop

# Every WebSocket open right now, so that a shutdown can close each one with a close frame.
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
# Set when the shutdown begins: a socket whose handshake was still on its way then is closed
# as soon as it opens, instead of keeping the shutdown waiting.
STOPPING = web.AppKey("stopping", asyncio.Event)
# Pages of other origins that may open a WebSocket here too (--allow-origin).
ALLOWED_ORIGINS = web.AppKey("allowed_origins", frozenset[str])


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


def origin_allowed(request: web.Request) -> bool:
    """A browser lets any web page open a WebSocket to 127.0.0.1, cookies included, but it
    always says which page asks: the `Origin` header, which a page cannot change."""
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser: a terminal client, websocat, a test
        return True
    same_origin = origin.partition("://")[2] == request.host  # our own page: same host:port
    return same_origin or origin in request.app[ALLOWED_ORIGINS]


async def echo(request: web.Request) -> web.StreamResponse:
    """Answer every message on one WebSocket until the client or the server closes it."""
    host, port = request.transport.get_extra_info("peername")[:2] if request.transport else ("?", 0)
    peer = f"{host}:{port}"
    if not origin_allowed(request):  # still plain HTTP: refuse before the upgrade
        print(f"{peer} refused: Origin {request.headers['Origin']!r} is not allowed", flush=True)
        raise web.HTTPForbidden(text="this page's origin may not open a WebSocket here\n")
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_SECONDS
    )
    try:
        await ws.prepare(request)  # the handshake: after this line we speak WebSocket, not HTTP
    except ConnectionError:  # the client left before our 101 answer went out
        return web.Response()  # aiohttp wants a response to finish with; nobody will read it
    print(f"{peer} connected", flush=True)
    request.app[SOCKETS].add(ws)
    if request.app[STOPPING].is_set():
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
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
    finally:
        request.app[SOCKETS].discard(ws)
    print(f"{peer} disconnected (close code {error_code or ws.close_code})", flush=True)
    return ws


async def close_sockets(app: web.Application) -> None:
    """On shutdown, tell every client we are going away (1001) instead of just vanishing."""
    print("Stopping: closing open WebSockets with code 1001.", flush=True)
    app[STOPPING].set()
    await asyncio.gather(
        *(
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            for ws in set(app[SOCKETS])
        ),
        return_exceptions=True,  # one broken connection must not stop the others' goodbye
    )


def make_app(allowed_origins: frozenset[str] = frozenset()) -> web.Application:
    app = web.Application()
    app[SOCKETS] = set()
    app[STOPPING] = asyncio.Event()
    app[ALLOWED_ORIGINS] = allowed_origins
    app.add_routes([web.get("/", hello), web.get("/ws", echo)])
    app.on_shutdown.append(close_sockets)
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
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSockets from web pages of ORIGIN, e.g. http://localhost:3000 "
        "(repeatable; pages of this server's own host:port are always accepted)",
    )
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
    # the real port when --port is 0. On shutdown it stops accepting, runs close_sockets, then
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
