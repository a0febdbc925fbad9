#!/usr/bin/env python3
"""aiohttp WebSocket echo server (seed 004's echo server example; the partner of seed 000 task 3).

What it teaches: one aiohttp application serves plain HTTP (`GET /` answers `Hello, world`)
and WebSockets (`/ws`) on the same port; a WebSocket handler is a loop over incoming
messages; and a server that shuts down says goodbye to every open socket with a close frame.

Protocol on /ws: a text message comes back with `/answer` appended; the text `close` makes
the server close the connection (code 1000); a binary message comes back unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
MAX_MESSAGE_BYTES = 1024 * 1024  # a bigger message is refused with close code 1009
HEARTBEAT_SECONDS = 30.0  # ping idle clients, so a vanished one is noticed and dropped
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a client gets to answer our close frame
SHUTDOWN_TIMEOUT_SECONDS = 3.0  # Ctrl+C must end the process within 5 s (CONTRACT servers 4)


class OneLineForBadRequests(logging.Filter):
    """aiohttp logs a malformed request with a full traceback. The mistake is the client's,
    not a bug here, so one line says enough; a real bug in a handler keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {error.code} {error.message}"
            record.args, record.exc_info = (), None
        return True


# Every WebSocket open right now, so that a shutdown can close each one with a close frame.
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
# Set when the shutdown begins: a socket whose handshake was still on its way then is closed
# as soon as it opens, instead of keeping the shutdown waiting.
STOPPING = web.AppKey("stopping", asyncio.Event)


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Answer every message on one WebSocket until the client or the server closes it."""
    host, port = request.transport.get_extra_info("peername")[:2] if request.transport else ("?", 0)
    peer = f"{host}:{port}"
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT_SECONDS
    )
    await ws.prepare(request)  # the handshake: after this line we speak WebSocket, not HTTP
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
    app[STOPPING].set()
    await asyncio.gather(
        *(
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            for ws in set(app[SOCKETS])
        ),
        return_exceptions=True,  # one broken connection must not stop the others' goodbye
    )


def make_app() -> web.Application:
    logging.getLogger("aiohttp.server").addFilter(OneLineForBadRequests())
    app = web.Application()
    app[SOCKETS] = set()
    app[STOPPING] = asyncio.Event()
    app.add_routes([web.get("/", hello), web.get("/ws", echo)])
    app.on_shutdown.append(close_sockets)
    return app


def on_stop_signal(stop: asyncio.Event) -> None:
    """Make Ctrl+C and SIGTERM set `stop`, on every operating system."""
    loop = asyncio.get_running_loop()
    # Windows has no SIGTERM handlers in asyncio, and the tests' "Ctrl+C" there is Ctrl+Break.
    signums = [signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGBREAK", None)]
    for signum in filter(None, signums):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            # No add_signal_handler (Windows): a plain handler runs between two bytecodes of
            # the main thread, so it hands the work to the loop in a thread-safe way.
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))


async def serve(host: str, port: int) -> None:
    # AppRunner instead of web.run_app: we need the real port for the Listening line when
    # --port is 0, and our own shutdown order.
    runner = web.AppRunner(make_app(), shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        stop = asyncio.Event()
        on_stop_signal(stop)
        print(
            f"Listening on ws://{host}:{site.port}/ws  (and http://{host}:{site.port}/)",
            flush=True,
        )
        await stop.wait()
        print("Stopping: closing open WebSockets with code 1001.", flush=True)
    finally:
        # Stops accepting, runs close_sockets, then waits for the handlers to finish.
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="aiohttp WebSocket echo server: GET / says hello, /ws echoes messages."
    )
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
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass  # Ctrl+C before the handlers were installed
    except OSError as error:  # e.g. the port is taken
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
