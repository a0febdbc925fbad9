#!/usr/bin/env python3
"""A small aiohttp demo API, so the async HTTP client of seed 000 task 2 works offline.

What it teaches: an aiohttp web application (routes, handlers, path parameters), and why an
async server can keep many slow requests waiting at once: `await asyncio.sleep()` gives the
event loop back to other requests, where `time.sleep()` would stop all of them.

Protocol (HTTP GET): / lists the endpoints; /delay/{seconds} answers after that many seconds
(at most MAX_DELAY_SECONDS); /status/{code} answers with that status (200-599); /json is a
small UTF-8 JSON document; /bytes/{n} streams n bytes (at most MAX_BYTES). Nonsense is a 400.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import socket
import sys
from http import HTTPStatus

from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
MAX_DELAY_SECONDS = 10.0  # a longer delay is cut to this, so nobody can park requests forever
MAX_BYTES = 10 * 1024 * 1024  # a bigger /bytes/{n} is cut to this
CHUNK_BYTES = 64 * 1024
# A slow request gets this long to finish at Ctrl+C, and its cancellation as long again: well
# inside the 5 s a server has to stop.
SHUTDOWN_TIMEOUT_SECONDS = 1.0
# One line per request on stderr: the server's own view of which requests overlapped.
ACCESS_LOG_FORMAT = '%a "%r" %s %b bytes, started %t, took %Tf s'


ENDPOINTS = {
    "/": "this list",
    "/delay/{seconds}": f"answers after that many seconds (at most {MAX_DELAY_SECONDS:g})",
    "/status/{code}": "answers with that HTTP status code (200-599)",
    "/json": "a small JSON document",
    "/bytes/{n}": f"n bytes of data (at most {MAX_BYTES})",
}


async def index(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}"
    lines = [f"GET {base}{path:<18} {what}" for path, what in ENDPOINTS.items()]
    return web.Response(text="\n".join(lines) + "\n")


async def delay(request: web.Request) -> web.Response:
    try:
        seconds = float(request.match_info["seconds"])
    except ValueError:
        raise web.HTTPBadRequest(text="seconds must be a number\n") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise web.HTTPBadRequest(text="seconds must be 0 or more\n")
    seconds = min(seconds, MAX_DELAY_SECONDS)
    # While this request sleeps, the event loop serves every other request.
    await asyncio.sleep(seconds)
    return web.json_response({"delay": seconds})


async def status(request: web.Request) -> web.Response:
    try:
        code = HTTPStatus(int(request.match_info["code"]))
    except ValueError:
        raise web.HTTPBadRequest(text="code must be a known HTTP status code\n") from None
    if not 200 <= code <= 599:  # 1xx are not final answers; aiohttp cannot send them as one
        raise web.HTTPBadRequest(text="code must be between 200 and 599\n")
    if code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
        return web.Response(status=code)  # these two must not have a body
    return web.Response(status=code, text=f"{code.value} {code.phrase}\n")


async def json_document(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "greetings": ["Hello", "Привіт", "Привет", "สวัสดี", "👋"],
            "course": "network programming in Python",
            "libraries": ["asyncio", "aiohttp"],
        },
        # ensure_ascii=False: send the letters themselves as UTF-8, not \\u escapes.
        dumps=lambda data: json.dumps(data, ensure_ascii=False),
    )


async def data_bytes(request: web.Request) -> web.StreamResponse:
    try:
        size = int(request.match_info["n"])
    except ValueError:
        raise web.HTTPBadRequest(text="n must be a whole number\n") from None
    if size < 0:
        raise web.HTTPBadRequest(text="n must be 0 or more\n")
    size = min(size, MAX_BYTES)
    # A StreamResponse sends the body chunk by chunk: 10 MB to a slow client costs the
    # server one chunk of memory, not 10 MB.
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = size
    await response.prepare(request)
    chunk = bytes(range(256)) * (CHUNK_BYTES // 256)
    try:
        for start in range(0, size, CHUNK_BYTES):
            await response.write(chunk[: size - start])
        await response.write_eof()
    except ConnectionError:
        pass  # the client left before the end; nothing to clean up
    return response


# --- Starting and stopping ------------------------------------------------------------------------
def make_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", index),
            web.get("/delay/{seconds}", delay),
            web.get("/status/{code}", status),
            web.get("/json", json_document),
            web.get("/bytes/{n}", data_bytes),
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description="aiohttp demo API for the async HTTP client: /delay, /status, /json, /bytes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not log each request on standard error"
    )
    args = parser.parse_args()
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        # Only the access log: aiohttp's other INFO messages are not for this lesson.
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # IPv4 unless told
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    # web.run_app handles Ctrl+C and SIGTERM; binding the socket ourselves lets the line show
    # the real port when --port is 0. Without shutdown_timeout it would wait 60 s for slow ones.
    web.run_app(
        make_app(),
        sock=sock,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        access_log_format=ACCESS_LOG_FORMAT,
        print=lambda _: print(f"Listening on http://{host}:{port}", flush=True),
    )
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
