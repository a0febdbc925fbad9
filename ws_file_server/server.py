#!/usr/bin/env python3
"""aiohttp file server: the same files over HTTP and over a WebSocket, on one port (seed 004,
tasks 1-3).

What it teaches: one aiohttp application serving plain HTTP, a page and a WebSocket side by
side; letting `web.FileResponse` stream files (sendfile, Range, caching) instead of reading
them by hand; and the rule every file server must get right: nothing outside its root folder.

Protocol: GET /NAME is a file under the root, GET / the page. On /ws each text frame holds a
name, answered in order by one JSON text frame: {"name", "size", "content"} (with "encoding":
"base64" for a file that is not UTF-8), or {"name", "error", "status": 403|404|413|400}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import mimetypes
import socket
import sys
from pathlib import Path
from urllib.parse import quote

import doorman
from aiohttp import WSMsgType, web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE / "files"  # holds the seed's myfile1.txt, README.rst and myserver.py
PAGE = HERE.parent / "static" / "index.html"
DEFAULT_WS_MAX_BYTES = 4 * 1024 * 1024
MAX_NAME_BYTES = 4096  # a file name never needs more; a bigger frame closes the socket (1009)
LOADS_AT_ONCE = 8  # files read into memory at the same time, so 50 sockets cannot hold 50 files
HEARTBEAT_SECONDS = 30  # ping idle sockets, so a client that vanished is noticed and removed
CLOSE_TIMEOUT_SECONDS = 1.0  # how long a closing socket waits for the client's close reply
SHUTDOWN_TIMEOUT_SECONDS = 2.0  # downloads still running at Ctrl+C get this long, then stop

ROOT = web.AppKey("root", Path)
WS_MAX_BYTES = web.AppKey("ws_max_bytes", int)
LOADS = web.AppKey("loads", asyncio.Semaphore)


# --- Where a name leads ---------------------------------------------------------------------------
def locate(root: Path, name: str) -> Path:
    """The path `name` leads to from `root` (resolved), or raise 403 if that is outside it.

    One check, on the real path, whatever the spelling: resolve() follows every `..` and every
    symlink, an absolute name replaces the root, and the result must still lie inside the
    root. Whether a file is there is for the opening to find out. The same refusal, an aiohttp
    HTTP error, answers an HTTP request by itself and becomes the WebSocket's JSON error.
    """
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop
        raise web.HTTPNotFound(text="not found") from None
    # is_relative_to compares whole parts: "/srv/site-private" is not inside "/srv/site".
    if not path.is_relative_to(root):
        raise web.HTTPForbidden(text="outside the served folder")
    return path


def http_headers(path: Path) -> dict[str, str]:
    """Headers so a browser shows a text file as UTF-8 text instead of guessing or saving it."""
    # nosniff: a browser must never decide that a downloaded file is a page and run it.
    headers = {"X-Content-Type-Options": "nosniff"}
    kind, _ = mimetypes.guess_type(path.name)
    if kind in ("text/html", "text/css", "text/javascript"):
        headers["Content-Type"] = f"{kind}; charset=utf-8"
    elif kind and kind.startswith("text/"):  # .txt, .py, .rst, .md ...
        headers["Content-Type"] = "text/plain; charset=utf-8"
    return headers


# --- The WebSocket protocol -----------------------------------------------------------------------
def load(path: Path, name: str, limit: int) -> dict:
    """Read one file into its JSON reply. Runs in a worker thread: disk reads block."""
    if not path.is_file():  # a folder, a pipe that would block the open, nothing at all
        raise web.HTTPNotFound(text="no such file")
    with path.open("rb") as file:
        # At most one byte over the limit: a huge file never lands in memory, and getting
        # limit + 1 bytes back means it is too big, even if it grew since anyone looked.
        data = file.read(limit + 1)
    if len(data) > limit:
        text = f"over the WebSocket limit of {limit} bytes"
        raise web.HTTPRequestEntityTooLarge(limit, len(data), text=text)
    try:
        return {"name": name, "size": len(data), "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        # JSON holds text only, so any other file travels as base64 (4 characters per 3 bytes).
        content = base64.b64encode(data).decode("ascii")
        return {"name": name, "size": len(data), "encoding": "base64", "content": content}


async def answer(request: web.Request, name: str) -> dict:
    """The reply to one file request over the WebSocket."""
    app = request.app
    try:
        path = locate(app[ROOT], name)
        async with app[LOADS]:
            return await asyncio.to_thread(load, path, name, app[WS_MAX_BYTES])
    except web.HTTPException as refusal:
        reply = {"name": name, "error": refusal.text, "status": refusal.status}
        if refusal.status == 413:
            reply["url"] = str(request.url.with_path("/" + quote(name), encoded=True))
            reply["error"] += f"; download it over HTTP: {reply['url']}"
        return reply
    except OSError as error:  # not readable, gone since we looked, a name too long to exist
        status = 403 if isinstance(error, PermissionError) else 404
        return {"name": name, "error": error.strerror or "cannot read it", "status": status}


# --- Handlers -------------------------------------------------------------------------------------
async def page(request: web.Request) -> web.StreamResponse:
    """GET / : the page with the form (tasks 2 and 3)."""
    return web.FileResponse(PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


async def serve_file(request: web.Request) -> web.StreamResponse:
    """GET /<name> : a file from the root over plain HTTP (task 1)."""
    path = locate(request.app[ROOT], request.match_info["name"])
    # FileResponse streams the file with sendfile() in chunks, so a 2 GB file costs no more
    # memory than a 2 KB one; it answers Range and If-Modified-Since requests, and 404 or 403
    # for a file that is not there, a folder, or one we may not read.
    return web.FileResponse(path, headers=http_headers(path))


# doorman.py (supplied) opens the WebSocket: it refuses pages of other sites (Origin), and
# when the server stops it closes every open WebSocket with 1001 "going away".
@doorman.websocket(
    max_msg_size=MAX_NAME_BYTES, heartbeat=HEARTBEAT_SECONDS, timeout=CLOSE_TIMEOUT_SECONDS
)
async def file_socket(request: web.Request, ws: web.WebSocketResponse) -> None:
    """/ws : the same files over a WebSocket (task 1)."""
    who = f"{request.remote} (WebSocket)"
    print(f"{who} connected", flush=True)
    try:
        # One request after another on this socket, so replies come in the order asked;
        # other sockets are served by their own handlers at the same time.
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                reply = await answer(request, message.data)
                print(f"{who} {message.data!r}: {reply.get('status', 200)}", flush=True)
            elif message.type == WSMsgType.BINARY:
                reply = {"error": "send the file name as a text frame", "status": 400}
            else:  # ERROR: e.g. a frame above MAX_NAME_BYTES; aiohttp has closed the socket
                print(f"{who} error: {ws.exception()}", flush=True)
                continue
            # ensure_ascii=False: Cyrillic and Thai travel as UTF-8, not as \uXXXX escapes.
            await ws.send_str(json.dumps(reply, ensure_ascii=False))
    except ConnectionResetError:
        pass  # the client left while we were sending
    print(f"{who} disconnected", flush=True)


# --- Starting and stopping ------------------------------------------------------------------------
def make_app(root: Path, ws_max_bytes: int, allowed_origins: frozenset[str]) -> web.Application:
    app = web.Application()
    app[ROOT], app[WS_MAX_BYTES] = root, ws_max_bytes
    app[LOADS] = asyncio.Semaphore(LOADS_AT_ONCE)
    doorman.install(app, allowed_origins)
    app.add_routes(
        [
            web.get("/", page),
            web.get("/ws", file_socket),
            web.get("/{name:.+}", serve_file),  # last: everything else is a file name
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Serve files over HTTP (GET /NAME) and over a WebSocket (/ws).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="folder whose files are served"
    )
    parser.add_argument(
        "--ws-max-bytes",
        type=int,
        default=DEFAULT_WS_MAX_BYTES,
        help="largest file sent over the WebSocket; bigger ones get a 413 pointing at HTTP",
    )
    doorman.add_allow_origin_option(parser)
    parser.add_argument(
        "--access-log", action="store_true", help="print one line for every HTTP request"
    )
    args = parser.parse_args()
    root = args.root.resolve()
    if not root.is_dir():
        sys.exit(f"not a folder: {root}")
    if args.access_log:  # aiohttp logs each request at INFO, which is not shown by default
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # IPv4 unless told
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    # web.run_app handles Ctrl+C and SIGTERM; binding the socket ourselves lets the line show
    # the real port when --port is 0.
    web.run_app(
        make_app(root, args.ws_max_bytes, frozenset(args.allow_origin)),
        sock=sock,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        print=lambda _: print(
            f"Listening on http://{host}:{port} (WebSocket at /ws, files from {root})", flush=True
        ),
    )
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
