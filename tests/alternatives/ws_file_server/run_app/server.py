#!/usr/bin/env python3
"""Alternative ws_file_server (a grading fixture): files over HTTP and a WebSocket, one port.

Written unlike the reference on purpose: `web.run_app` on a socket bound by hand, one
catch-all route, an os.path containment check, and a per-socket pipeline that reads the
next files while the earlier replies are still being sent (replies keep the request order).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import mimetypes
import os
import socket
from pathlib import Path
from urllib.parse import quote

from aiohttp import WSCloseCode, WSMsgType, web

HERE = Path(__file__).resolve().parent
INDEX = HERE.parent / "static" / "index.html"
SOCKETS = web.AppKey("sockets", set)
SETTINGS = web.AppKey("settings", argparse.Namespace)
PIPELINE = 4  # requests read ahead per socket
LONGEST_NAME = 1024  # bytes; longer names get a 414 reply
FRAME_LIMIT = 64 * 1024  # bigger frames: aiohttp closes the socket with 1009
READERS = asyncio.Semaphore(6)  # disk reads at once, over all sockets


class Denied(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def resolve(root: str, name: str) -> str:
    """The real path of `name` under `root`, or raise Denied."""
    if len(name.encode()) > LONGEST_NAME:
        raise Denied(414, f"file name longer than {LONGEST_NAME} bytes")
    if not name or "\0" in name or "\\" in name:
        raise Denied(400, "bad file name")
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise Denied(403, "access denied: path leaves the shared folder")
    real = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, real]) != root:
        raise Denied(403, "access denied: link leaves the shared folder")
    if os.path.isdir(real):
        raise Denied(403, "access denied: that is a folder")
    if not os.path.isfile(real):
        raise Denied(404, "no such file")
    return real


def read_reply(real: str, name: str, limit: int, url: str) -> dict:
    """Runs in a worker thread."""
    size = os.path.getsize(real)
    if size > limit:
        return {
            "name": name,
            "status": 413,
            "error": f"{size} bytes is too big for the WebSocket (limit {limit}); use {url}",
            "url": url,
        }
    with open(real, "rb") as file:
        data = file.read(limit + 1)
    try:
        return {"name": name, "size": len(data), "content": data.decode()}
    except UnicodeDecodeError:
        encoded = base64.b64encode(data).decode()
        return {"name": name, "size": len(data), "encoding": "base64", "content": encoded}


async def reply_for(request: web.Request, name: str) -> dict:
    settings = request.app[SETTINGS]
    try:
        real = resolve(settings.root, name)
        url = str(request.url.with_path("/" + quote(name), encoded=True).with_query(None))
        async with READERS:
            return await asyncio.to_thread(read_reply, real, name, settings.ws_max_bytes, url)
    except Denied as denied:
        return {"name": name, "status": denied.status, "error": denied.text}
    except OSError as error:
        return {"name": name, "status": 404, "error": f"cannot read: {error.strerror}"}


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=FRAME_LIMIT, heartbeat=20)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    pending: asyncio.Queue = asyncio.Queue(PIPELINE)

    async def writer() -> None:
        while (job := await pending.get()) is not None:
            reply = await job if isinstance(job, asyncio.Task) else job
            if ws.closed:
                continue  # keep draining so the reader is never stuck on a full queue
            try:
                await ws.send_str(json.dumps(reply, ensure_ascii=False))
            except ConnectionError:
                continue
            status = reply.get("status", 200)
            print(f"[ws {request.remote}] {reply['name']!r} -> {status}", flush=True)

    sending = asyncio.create_task(writer())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                job = asyncio.create_task(reply_for(request, msg.data))
            elif msg.type == WSMsgType.BINARY:
                job = {"name": "", "status": 400, "error": "send file names as text frames"}
            else:
                break
            await pending.put(job)  # waits when PIPELINE requests are ahead of it
        await pending.put(None)
        await sending
    finally:
        sending.cancel()
        request.app[SOCKETS].discard(ws)
    return ws


async def http(request: web.Request) -> web.StreamResponse:
    name = request.match_info["tail"]
    if not name:
        return web.FileResponse(INDEX, headers={"Content-Type": "text/html; charset=utf-8"})
    try:
        real = resolve(request.app[SETTINGS].root, name)
    except Denied as denied:
        return web.Response(status=denied.status, text=denied.text)
    kind = mimetypes.guess_type(real)[0] or "application/octet-stream"
    if kind.startswith("text/"):
        kind += "; charset=utf-8"
    return web.FileResponse(real, headers={"Content-Type": kind})


async def goodbye(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")


class OneLine(logging.Formatter):
    """Bad requests are the client's fault: one line each, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and (error := record.exc_info[1]) is not None:
            return f"{record.getMessage()}: {' '.join(str(error).split())[:160]}"
        return super().format(record)


def main() -> None:
    parser = argparse.ArgumentParser(description="Share a folder over HTTP and a WebSocket.")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port, 0 = any (default 8080)")
    parser.add_argument("--root", default=str(HERE / "files"), help="folder to share")
    parser.add_argument(
        "--ws-max-bytes", type=int, default=2 << 20, help="largest file over the WebSocket"
    )
    settings = parser.parse_args()
    settings.root = os.path.realpath(settings.root)
    if not os.path.isdir(settings.root):
        parser.exit(2, f"no such folder: {settings.root}\n")
    handler = logging.StreamHandler()
    handler.setFormatter(OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])

    try:
        sock = socket.create_server((settings.host, settings.port))
    except OSError as error:
        parser.exit(1, f"port {settings.port} on {settings.host}: {error.strerror}\n")
    host, port = sock.getsockname()[:2]
    app = web.Application()
    app[SETTINGS], app[SOCKETS] = settings, set()
    app.on_shutdown.append(goodbye)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/{tail:.*}", http)
    # run_app installs its Ctrl+C and SIGTERM handlers before it calls print().
    web.run_app(
        app,
        sock=sock,
        access_log=None,
        shutdown_timeout=1.5,
        print=lambda _: print(f"Listening on http://{host}:{port}  ({settings.root})", flush=True),
    )
    print("bye", flush=True)


if __name__ == "__main__":
    main()
