#!/usr/bin/env python3
"""Alternative ws_file_server (a grading fixture): files over HTTP and a WebSocket, one port.

Written unlike the reference on purpose: HTTP files come from aiohttp's own static route
(`app.router.add_static`), which already answers Range and conditional requests and refuses
to leave its folder; aiohttp's logging is left as the library makes it (an access log line
per request, and its own traceback when a client sends a malformed request); the WebSocket
side starts each reply as its own task and chains the sends, so replies keep the order asked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import errno
import json
import logging
import signal
from pathlib import Path
from urllib.parse import quote

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.typedefs import Handler

HERE = Path(__file__).resolve().parent
PAGE_FILE = HERE.parent / "static" / "index.html"
LONGEST_FRAME = 4096  # a bigger text frame is no file name: aiohttp closes with 1009
AHEAD_PER_SOCKET = 8  # replies one socket may have in the making before we stop reading it
READS_AT_ONCE = 4  # files held in memory at the same time, over all sockets

CONFIG = web.AppKey("config", argparse.Namespace)
OPEN_SOCKETS = web.AppKey("open_sockets", set)
DISK = web.AppKey("disk", asyncio.Semaphore)
PAGE = web.AppKey("page", bytes)  # empty when static/index.html is missing


class NotServed(Exception):
    """A WebSocket request we refuse, with the status the protocol gives it."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def find(root: Path, name: str) -> Path:
    """The file `name` names inside `root` (already resolved), or raise NotServed."""
    if not name.strip() or any(ord(char) < 32 for char in name):
        raise NotServed(400, "expected a file name")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise NotServed(403, "only paths relative to the shared folder, with '/', are served")
    if ".." in name.split("/"):
        raise NotServed(403, "'..' may not appear in a path")
    try:
        # resolve() follows symlinks, so a link pointing out of the folder is caught below.
        target = (root / name).resolve()
        target.relative_to(root)
    except ValueError:
        raise NotServed(403, "that path leads out of the shared folder") from None
    except OSError:  # e.g. a symlink loop
        raise NotServed(404, "no such file") from None
    try:
        if target.is_dir():
            raise NotServed(403, "that is a folder; ask for a file in it")
        if not target.is_file():
            raise NotServed(404, "no such file")
    except OSError:  # "File name too long" and friends: it cannot exist
        raise NotServed(404, "no such file") from None
    return target


def read_as_reply(target: Path, name: str, limit: int) -> dict:
    """Build the JSON reply for one file; blocking, so it runs in a worker thread."""
    with target.open("rb") as file:
        if target.stat().st_size > limit:  # refused before a byte of it is read
            raise NotServed(413, f"larger than the WebSocket limit of {limit} bytes")
        data = file.read(limit + 1)  # one byte over: it grew after the check
    if len(data) > limit:
        raise NotServed(413, f"larger than the WebSocket limit of {limit} bytes")
    reply: dict = {"name": name, "size": len(data)}
    try:
        reply["content"] = data.decode("utf-8")
    except UnicodeDecodeError:
        reply["encoding"] = "base64"
        reply["content"] = base64.b64encode(data).decode("ascii")
    return reply


async def make_reply(request: web.Request, name: str) -> dict:
    app = request.app
    try:
        target = find(app[CONFIG].root, name)
        async with app[DISK]:
            return await asyncio.to_thread(read_as_reply, target, name, app[CONFIG].ws_max_bytes)
    except NotServed as refusal:
        reply = {"name": name, "error": refusal.error, "status": refusal.status}
        if refusal.status == 413:
            url = request.url.with_path("/" + quote(name), encoded=True).with_query(None)
            reply["url"] = str(url)
            reply["error"] += f"; get it over HTTP instead: {url}"
        return reply
    except OSError as error:  # vanished or unreadable between the check and the read
        return {"name": name, "error": f"cannot read it: {error.strerror}", "status": 404}


async def send_after(ws: web.WebSocketResponse, before: asyncio.Task | None, reply: dict) -> None:
    """Send `reply` once the reply before it on this socket has gone out."""
    if before is not None:
        await asyncio.gather(before, return_exceptions=True)
    if not ws.closed:
        try:
            await ws.send_str(json.dumps(reply, ensure_ascii=False))
        except ConnectionError:
            pass  # the client left; the reading loop sees the close and ends


async def answer(
    request: web.Request, ws: web.WebSocketResponse, before: asyncio.Task | None, name: str
) -> None:
    await send_after(ws, before, await make_reply(request, name))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=LONGEST_FRAME, heartbeat=25, timeout=2)
    await ws.prepare(request)
    request.app[OPEN_SOCKETS].add(ws)
    ahead = asyncio.Semaphore(AHEAD_PER_SOCKET)
    last: asyncio.Task | None = None
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                job = answer(request, ws, last, msg.data)
            elif msg.type == WSMsgType.BINARY:
                refusal = {"error": "a file name must come as a text frame", "status": 400}
                job = send_after(ws, last, refusal)
            else:
                continue
            # Back-pressure: a client that floods names waits here, and cannot make us
            # hold more than AHEAD_PER_SOCKET replies for it.
            await ahead.acquire()
            last = asyncio.create_task(job)
            last.add_done_callback(lambda _: ahead.release())
        if last is not None:
            await asyncio.gather(last, return_exceptions=True)
    finally:
        if last is not None:
            last.cancel()  # only still running if we are being cancelled ourselves
        request.app[OPEN_SOCKETS].discard(ws)
    return ws


async def index(request: web.Request) -> web.Response:
    if not request.app[PAGE]:
        raise web.HTTPNotFound(text=f"the page {PAGE_FILE} is missing\n")
    return web.Response(body=request.app[PAGE], content_type="text/html", charset="utf-8")


async def text_is_utf8(request: web.Request, response: web.StreamResponse) -> None:
    """The static route says text/plain with no charset; the files here are UTF-8."""
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("text/") and "charset" not in kind:
        response.headers["Content-Type"] = f"{kind}; charset=utf-8"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


@web.middleware
async def too_long_is_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On Python 3.11 the static route's is_dir() raises "File name too long" for a 300-byte
    name, which would be a 500; no such file can exist, so it is a 404."""
    try:
        return await handler(request)
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG:
            raise
        raise web.HTTPNotFound() from None


async def going_away(app: web.Application) -> None:
    await asyncio.gather(
        *(
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"shutting down")
            for ws in app[OPEN_SOCKETS]
        ),
        return_exceptions=True,
    )


def build_app(config: argparse.Namespace) -> web.Application:
    app = web.Application(middlewares=[too_long_is_not_found])
    app[CONFIG] = config
    app[OPEN_SOCKETS] = set()
    app[DISK] = asyncio.Semaphore(READS_AT_ONCE)
    # Read once: it is small, and a read per request would block the event loop each time.
    app[PAGE] = PAGE_FILE.read_bytes() if PAGE_FILE.is_file() else b""
    app.on_response_prepare.append(text_is_utf8)
    app.on_shutdown.append(going_away)
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    # Everything else is a file under the root. The static route refuses paths that leave
    # it, symlinks included (follow_symlinks=False resolves them and checks the result).
    app.router.add_static("/", config.root, follow_symlinks=False, show_index=False)
    return app


async def run(config: argparse.Namespace) -> None:
    runner = web.AppRunner(build_app(config), shutdown_timeout=2)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as error:  # e.g. the port is taken
            raise SystemExit(
                f"cannot listen on {config.host}:{config.port}: {error.strerror}"
            ) from None
        stop = asyncio.get_running_loop().create_future()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(
                signum, lambda: stop.done() or stop.set_result(None)
            )
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"Listening on http://{shown}:{port} (files from {config.root})", flush=True)
        await stop
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Share a folder over HTTP (GET /PATH) and over a WebSocket (/ws)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port, 0 = any (default 8080)")
    parser.add_argument("--root", type=Path, default=HERE / "files", help="the shared folder")
    parser.add_argument(
        "--ws-max-bytes",
        type=int,
        default=4 << 20,
        help="largest file sent over the WebSocket; bigger ones get 413 (default %(default)s)",
    )
    config = parser.parse_args()
    config.root = config.root.resolve()
    if not config.root.is_dir():
        parser.error(f"--root {config.root} is not a folder")
    # aiohttp's loggers as they come: a line per request and its own reports of bad requests.
    logging.basicConfig(level=logging.INFO)
    try:
        asyncio.run(run(config))
    except KeyboardInterrupt:
        pass  # Ctrl+C before the signal handlers were in place
    print("Server stopped.", flush=True)


if __name__ == "__main__":
    main()
