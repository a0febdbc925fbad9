#!/usr/bin/env python3
"""Demo API on aiohttp's web.run_app with a pre-bound socket (grading fixture).

GET /  /delay/{seconds}  /status/{code}  /json  /bytes/{n}
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

DELAY_CAP = 8.0
BYTES_CAP = 4 * 1024 * 1024
routes = web.RouteTableDef()


@web.middleware
async def bad_input_is_400(request: web.Request, handler):
    try:
        return await handler(request)
    except (ValueError, OverflowError) as exc:
        return web.json_response({"error": str(exc)}, status=400)


@routes.get("/")
async def index(_: web.Request) -> web.Response:
    return web.json_response(
        {"endpoints": ["/delay/{seconds}", "/status/{code}", "/json", "/bytes/{n}"]}
    )


@routes.get("/delay/{seconds}")
async def delay(request: web.Request) -> web.Response:
    seconds = float(request.match_info["seconds"])
    if not 0 <= seconds < float("inf"):
        raise ValueError("seconds must be a non-negative number")
    await asyncio.sleep(min(seconds, DELAY_CAP))
    return web.json_response({"slept": min(seconds, DELAY_CAP)})


@routes.get("/status/{code}")
async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    if not 200 <= code <= 599:
        raise ValueError("code must be 200..599")
    if code in (204, 304):
        return web.Response(status=code)
    return web.Response(status=code, text=f"you asked for {code}")


@routes.get("/json")
async def document(_: web.Request) -> web.Response:
    body = '{"hello": ["світ", "мир", "โลก", "🌍"], "ok": true}'
    return web.Response(text=body, content_type="application/json", charset="utf-8")


@routes.get("/bytes/{n}")
async def payload(request: web.Request) -> web.Response:
    size = int(request.match_info["n"])
    if size < 0:
        raise ValueError("n must be >= 0")
    if size > BYTES_CAP:
        return web.json_response({"error": f"at most {BYTES_CAP} bytes"}, status=413)
    return web.Response(body=b"\x42" * size, content_type="application/octet-stream")


class QuietBadRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
            record.msg = f"bad request: {record.exc_info[1]}"
            record.args, record.exc_info = (), None
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description="offline demo API for the HTTP client")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, default=8081, help="listen port (0 = any free)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("aiohttp.server").addFilter(QuietBadRequests())
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # until run_app takes over
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as exc:
        sys.exit(f"port {args.port} on {args.host} is not available: {exc.strerror}")
    host, port = sock.getsockname()[:2]
    app = web.Application(middlewares=[bad_input_is_400])
    app.add_routes(routes)
    try:
        web.run_app(
            app,
            sock=sock,
            shutdown_timeout=1.0,
            print=lambda _banner: print(f"Listening on http://{host}:{port}", flush=True),
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
