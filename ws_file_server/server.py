#!/usr/bin/env python3
"""aiohttp file server: the same files over HTTP and over a WebSocket, on one port (seed 004,
tasks 1-3).

What it teaches: one aiohttp application serving plain HTTP (`GET /myfile1.txt`), a page
(`GET /`) and a WebSocket (`/ws`) side by side; letting `web.FileResponse` stream files
(sendfile, Range, caching headers) instead of reading them by hand; and the one rule every
file server must get right: never serve anything outside its root folder.

WebSocket protocol: the client sends a text frame holding a file's path relative to the root;
the server answers with one text frame of JSON, in the order the requests came:
    {"name": ..., "size": ..., "content": "<the text>"}                    a UTF-8 file
    {"name": ..., "size": ..., "encoding": "base64", "content": "..."}     any other file
    {"name": ..., "error": "...", "status": 403 | 404 | 413 | 400}         a refusal
A file above --ws-max-bytes gets a 413 error whose "url" points at the HTTP download.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import mimetypes
import signal
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import access_logger

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
SOCKETS = web.AppKey("sockets", set)  # the open WebSockets, to close them at shutdown
STOPPING = web.AppKey("stopping", asyncio.Event)  # set when the shutdown begins


# --- where a name leads ---------------------------------------------------------------------
class Refused(Exception):
    """A request we will not serve, with its HTTP status and a reason for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def locate(root: Path, name: str) -> Path:
    """The regular file `name` (relative, `/`-separated) inside `root`, or raise Refused.

    Two locks on one door. First refuse every name that tries to climb out, in any spelling
    that reaches us after the URL is decoded once: `..`, a backslash (a separator on Windows),
    an absolute path or drive, a NUL byte. Then resolve the path (following symlinks) and check
    that the result still lies inside the resolved root: this catches a symlink that points
    outside, and any trick the first check missed.
    """
    if not name or "\x00" in name or "\\" in name:
        raise Refused(403, "forbidden file name")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        raise Refused(403, "absolute paths are not served")
    if ".." in PurePosixPath(name).parts:
        raise Refused(403, "'..' is not allowed")
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):  # a name too long for the system, a symlink loop
        raise Refused(404, "not found") from None
    if not path.is_relative_to(root):
        raise Refused(403, "outside the served folder")
    try:
        # is_dir() and is_file() ask the disk too, and on Python 3.11 they raise OSError
        # ("File name too long") for a 300-character name instead of answering False.
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError:
        raise Refused(404, "not found") from None
    if is_dir:
        raise Refused(403, "a directory, not a file")
    if not is_file:
        raise Refused(404, "not found")
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


# --- the WebSocket protocol -----------------------------------------------------------------
def load(path: Path, name: str, limit: int) -> dict:
    """Read one file into the JSON reply. Runs in a worker thread: disk reads block."""
    with path.open("rb") as file:
        # Check the size before reading, so a huge file never lands in memory ...
        size = path.stat().st_size
        if size > limit:
            raise Refused(413, f"{size} bytes is over the WebSocket limit of {limit}")
        # ... and read at most one byte more than the limit, so a file that grew after the
        # check is caught too: getting limit + 1 bytes back means it is over the limit.
        data = file.read(limit + 1)
        if len(data) > limit:
            raise Refused(413, f"{size} bytes is over the WebSocket limit of {limit}")
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
    except Refused as refusal:
        reply = {"name": name, "error": refusal.reason, "status": refusal.status}
        if refusal.status == 413:
            reply["url"] = str(request.url.with_path("/" + quote(name), encoded=True))
            reply["error"] += f"; download it over HTTP: {reply['url']}"
        return reply
    except PermissionError:
        return {"name": name, "error": "permission denied", "status": 403}
    except OSError:  # removed between the check and the read
        return {"name": name, "error": "not found", "status": 404}


# --- handlers -------------------------------------------------------------------------------
async def page(request: web.Request) -> web.StreamResponse:
    """GET / : the page with the form (tasks 2 and 3)."""
    return web.FileResponse(PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


async def serve_file(request: web.Request) -> web.StreamResponse:
    """GET /<name> : a file from the root over plain HTTP (task 1)."""
    try:
        path = locate(request.app[ROOT], request.match_info["name"])
    except Refused as refusal:
        return web.Response(status=refusal.status, text=f"{refusal.status} {refusal.reason}\n")
    # FileResponse streams the file with sendfile() in chunks, so a 2 GB file costs no more
    # memory than a 2 KB one; it also answers Range and If-Modified-Since requests for us.
    return web.FileResponse(path, headers=http_headers(path))


async def file_socket(request: web.Request) -> web.WebSocketResponse:
    """/ws : the same files over a WebSocket (task 1)."""
    ws = web.WebSocketResponse(
        max_msg_size=MAX_NAME_BYTES, heartbeat=HEARTBEAT_SECONDS, timeout=CLOSE_TIMEOUT_SECONDS
    )
    await ws.prepare(request)
    who = f"{request.remote} (WebSocket)"
    print(f"{who} connected", flush=True)
    request.app[SOCKETS].add(ws)
    if request.app[STOPPING].is_set():  # its handshake was on its way when the shutdown began
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
    try:
        # One request after another on this socket, so replies come in the order asked;
        # other sockets are served by their own handlers at the same time.
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                reply = await answer(request, message.data)
                print(f"{who} {message.data!r}: {reply.get('status', 200)}", flush=True)
            elif message.type == aiohttp.WSMsgType.BINARY:
                reply = {"error": "send the file name as a text frame", "status": 400}
            else:  # ERROR: e.g. a frame above MAX_NAME_BYTES; aiohttp has closed the socket
                print(f"{who} error: {ws.exception()}", flush=True)
                continue
            # ensure_ascii=False: Cyrillic and Thai travel as UTF-8, not as \\uXXXX escapes.
            await ws.send_str(json.dumps(reply, ensure_ascii=False))
    except ConnectionResetError:
        pass  # the client left while we were sending
    finally:
        request.app[SOCKETS].discard(ws)
        print(f"{who} disconnected", flush=True)
    return ws


async def close_sockets(app: web.Application) -> None:
    """At shutdown, say goodbye to every open WebSocket with 1001 "going away"."""
    app[STOPPING].set()
    await asyncio.gather(
        *(
            ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
            for ws in set(app[SOCKETS])
        ),
        return_exceptions=True,
    )


def make_app(root: Path, ws_max_bytes: int) -> web.Application:
    app = web.Application()
    app[ROOT] = root
    app[WS_MAX_BYTES] = ws_max_bytes
    app[LOADS] = asyncio.Semaphore(LOADS_AT_ONCE)
    app[SOCKETS] = set()
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(close_sockets)
    app.add_routes(
        [
            web.get("/", page),
            web.get("/ws", file_socket),
            web.get("/{name:.+}", serve_file),  # last: everything else is a file name
        ]
    )
    return app


# --- running --------------------------------------------------------------------------------
class OneLineForBadRequests(logging.Filter):
    """aiohttp logs a malformed request with a full traceback. The mistake is the client's,
    not a bug here, so one line says enough; a real bug in a handler keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {error.code} {error.message}"
            record.args, record.exc_info = (), None
        return True


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


async def serve(host: str, port: int, root: Path, ws_max_bytes: int, access_log: bool) -> None:
    app = make_app(root, ws_max_bytes)
    runner = web.AppRunner(
        app,
        access_log=access_logger if access_log else None,  # None: no line per request
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        stopping = asyncio.Event()
        on_stop_signal(stopping)
        bound_host, bound_port = runner.addresses[0][:2]
        if ":" in bound_host:
            bound_host = f"[{bound_host}]"
        print(f"Listening on http://{bound_host}:{bound_port}", flush=True)
        print(f"WebSocket at ws://{bound_host}:{bound_port}/ws; files from {root}", flush=True)
        await stopping.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Serve files over HTTP (GET /NAME) and over a WebSocket (/ws)."
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
    parser.add_argument(
        "--root",
        type=Path,
        default=DEFAULT_ROOT,
        help="folder whose files are served (default: the files/ folder beside this script)",
    )
    parser.add_argument(
        "--ws-max-bytes",
        type=int,
        default=DEFAULT_WS_MAX_BYTES,
        help="largest file sent over the WebSocket; bigger ones get a 413 pointing at HTTP "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="print one line for every HTTP request"
    )
    args = parser.parse_args()

    root = args.root.resolve()
    if not root.is_dir():
        sys.exit(f"not a folder: {root}")
    logging.basicConfig(
        level=logging.INFO if args.access_log else logging.WARNING, format="%(message)s"
    )
    logging.getLogger("aiohttp.server").addFilter(OneLineForBadRequests())
    try:
        asyncio.run(serve(args.host, args.port, root, args.ws_max_bytes, args.access_log))
    except KeyboardInterrupt:
        pass  # Ctrl+C arrived before the handlers were installed, or a second one
    except OSError as error:  # e.g. the port is taken
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
