#!/usr/bin/env python3
"""WebSocket echo server on aiohttp: a class that owns the open sockets (grading fixture).

/ws: text X -> "X/answer", "close" -> close 1000, binary -> same bytes; GET / -> Hello, world.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import weakref

from aiohttp import WSCloseCode, WSMsgType, web

LIMIT = 2 * 1024 * 1024  # bigger messages are refused with 1009


def quiet_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Shutting down already: a second Ctrl+C must not race the loop closing its wakeup fd."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


class EchoService:
    def __init__(self) -> None:
        self.open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.app = web.Application()
        self.app.router.add_get("/", self.root)
        self.app.router.add_get("/ws", self.socket)
        self.app.on_shutdown.append(self.going_away)

    async def root(self, _: web.Request) -> web.Response:
        return web.Response(text="Hello, world\n")

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=LIMIT, timeout=1.5, heartbeat=20)
        await ws.prepare(request)
        self.open.add(ws)
        logging.info("open  %s (%d now)", request.remote, len(self.open))
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT and msg.data == "close":
                    await ws.close(code=WSCloseCode.OK, message=b"as you wish")
                elif msg.type is WSMsgType.TEXT:
                    await ws.send_str(f"{msg.data}/answer")
                elif msg.type is WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    logging.warning("bad frame from %s: %s", request.remote, ws.exception())
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        except (ConnectionError, OSError) as exc:
            logging.warning("%s vanished: %s", request.remote, exc)
        logging.info("close %s code=%s", request.remote, ws.close_code)
        return ws

    async def going_away(self, _: web.Application) -> None:
        closing = [ws.close(code=WSCloseCode.GOING_AWAY, message=b"bye") for ws in self.open]
        await asyncio.gather(*closing, return_exceptions=True)


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(EchoService().app, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    loop = asyncio.get_running_loop()
    quit_requested = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: quit_requested.done() or quit_requested.set_result(1))
    bound = runner.addresses[0]  # the real port when --port is 0
    print(f"echo ready; Listening on ws://{bound[0]}:{bound[1]}/ws", flush=True)
    try:
        await quit_requested
        quiet_signals(loop)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="aiohttp WebSocket echo server")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8082, help="port to bind (0 = any)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[ws-echo] %(message)s", stream=sys.stdout)
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        sys.exit(f"ws echo server: cannot bind {args.host}:{args.port}: {exc.strerror}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
