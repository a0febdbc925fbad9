#!/usr/bin/env python3
"""Alternative fastapi_chat server (a grading fixture): echo, chat room and page.

Written unlike the reference on purpose. There is no manager class: the room is a plain dict
of `Peer`s and a few functions. The slow-reader policy is a send timeout, not a byte bound:
every peer has an unbounded outbox drained by its own pump task, and a frame that cannot go
out within SEND_TIMEOUT seconds means the peer has stopped reading, so it is dropped. /echo
goes through the same pump. The `Listening on` line comes from an overridden main_loop(),
and SIGINT/SIGTERM are ignored around uvicorn instead of being turned into exceptions.
`uvicorn server:app` from this folder works too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"
# How long one frame may wait to go out. A peer that reads at all drains its socket in
# milliseconds, even in a burst; one that waits this long has stopped reading.
SEND_TIMEOUT = 5.0
MAX_TEXT = 64 * 1024  # bytes of UTF-8 in one chat message; longer ones get an error notice
MAX_FRAME = 256 * 1024  # uvicorn closes a connection that sends a bigger frame with 1009
# At Ctrl+C uvicorn waits for every connection to end, and a laggard's never does: this
# bounds the wait, well inside the 5 seconds the contract allows.
SHUTDOWN_GRACE = 2.5
ECHO_PREFIX = "Сервер відповідає: "  # the seed's own wording
# What a send raises once the connection is gone: starlette turns uvicorn's OSError into
# WebSocketDisconnect, and raises RuntimeError for a send after a close frame.
GONE = (WebSocketDisconnect, RuntimeError, OSError)

app = FastAPI(title="chat (send-timeout alternative)")


@dataclass(eq=False)
class Peer:
    ws: WebSocket
    name: str
    # Unbounded on purpose: a peer that stops reading is dropped within SEND_TIMEOUT, so its
    # backlog is at most what the room says in that time, and every outbox holds the same
    # string objects, not copies.
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    pump: asyncio.Task[None] | None = None
    stalled: bool = False  # a send timed out: nothing more goes to it


room: dict[str, Peer] = {}


def is_valid_name(name: str) -> bool:
    return 0 < len(name) <= 24 and all(ch.isalnum() or ch in "-_." for ch in name)


def choose_name(wanted: str | None) -> str:
    """The wanted name, `wanted.2` if it is taken, or the lowest free guest-N."""
    if wanted and is_valid_name(wanted):
        candidates = (wanted if n == 1 else f"{wanted}.{n}" for n in count(1))
    else:
        candidates = (f"guest-{n}" for n in count(1))
    return next(name for name in candidates if name not in room)


def in_room(peer: Peer) -> bool:
    return room.get(peer.name) is peer


def announce(text: str, skip: Peer | None = None) -> None:
    """Queue `text` for everyone in the room. Never awaits, so nobody can slow it down."""
    for peer in room.values():
        if peer is not skip:
            peer.outbox.put_nowait(text)


def remove(peer: Peer, how: str) -> None:
    """Take a peer out of the room and tell the others; a second call does nothing."""
    if in_room(peer):
        del room[peer.name]
        announce(f"* {peer.name} {how}")
        print(f"[-] {peer.name} {how}", flush=True)


async def pump(peer: Peer) -> None:
    """The only code that sends to this peer: one frame at a time, each against the clock."""
    try:
        while True:
            text = await peer.outbox.get()
            async with asyncio.timeout(SEND_TIMEOUT):
                await peer.ws.send_text(text)
    except TimeoutError:
        peer.stalled = True
        # uvicorn waits for the socket to drain before it writes a frame, so nothing of this
        # one went out and the stream is still whole; the peer is simply not reading.
        remove(peer, f"was dropped: it stopped reading (a send waited {SEND_TIMEOUT:g} s)")
        peer.outbox = asyncio.Queue()  # free the backlog nobody will read
        # The close frame queues behind what it has not read, so it arrives only if it reads
        # again; this task waits for that until the connection ends.
        with contextlib.suppress(*GONE):
            await peer.ws.close(1008, "you stopped reading")
    except GONE:
        remove(peer, "left (connection lost)")


@app.get("/", include_in_schema=False)
def page() -> Response:
    # A plain function: FastAPI runs it in a worker thread, so reading the file blocks nobody.
    if not PAGE.is_file():
        return PlainTextResponse(f"missing page: {PAGE}", status_code=404)
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    # Not in the room (no name can be empty); a pump of its own keeps this handler from
    # ever waiting on a client that does not read, which would hold up Ctrl+C.
    peer = Peer(ws, "")
    peer.pump = asyncio.create_task(pump(peer))
    try:
        while (event := await ws.receive())["type"] == "websocket.receive":
            if peer.stalled:
                continue
            text = event.get("text")
            reply = ECHO_PREFIX + text if text is not None else "* error: /echo answers text only"
            peer.outbox.put_nowait(reply)
    finally:
        peer.pump.cancel()


@app.websocket("/ws")
async def chat(ws: WebSocket, name: str | None = None) -> None:
    await ws.accept()
    peer = Peer(ws, choose_name(name))
    online = ", ".join(room) or "no one else"
    room[peer.name] = peer
    peer.outbox.put_nowait(f"* you are {peer.name}; online: {online}")
    announce(f"* {peer.name} came in", skip=peer)
    peer.pump = asyncio.create_task(pump(peer))
    print(f"[+] {peer.name}", flush=True)
    try:
        # receive(), not receive_text(): a binary frame earns a notice instead of an
        # exception. The loop ends when the client leaves or uvicorn shuts down (1012).
        while (event := await ws.receive())["type"] == "websocket.receive":
            if not in_room(peer):
                continue  # dropped: we only wait for its connection to end
            text = event.get("text")
            if text is None:
                peer.outbox.put_nowait("* error: binary frames are not chat messages")
            elif (size := len(text.encode())) > MAX_TEXT:
                peer.outbox.put_nowait(f"* error: {size} bytes is over the {MAX_TEXT}-byte limit")
            elif text.strip():
                announce(f"{peer.name}: {text}")
    finally:
        remove(peer, "left")
        peer.pump.cancel()  # a goodbye still waiting for a laggard is pointless now


class ChatServer(uvicorn.Server):
    async def main_loop(self) -> None:
        # uvicorn calls this once its sockets accept connections, inside capture_signals():
        # the moment the contract wants the line. Only the socket knows a --port 0 port.
        sock = next(s for server in self.servers for s in server.sockets)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
        print(f"Listening on http://{shown}:{port}", flush=True)
        await super().main_loop()


def main() -> None:
    parser = argparse.ArgumentParser(description="FastAPI echo and chat room (send timeout).")
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's logging on stderr (default: %(default)s)",
    )
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws_max_size=MAX_FRAME,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    # uvicorn installs its own handlers while it runs; after shutting down it restores the
    # ones it found and raises the caught signal again. With those ignored, that repeat is a
    # no-op and we fall through to a normal exit 0, for SIGTERM just as for Ctrl+C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    ChatServer(config).run()
    print("chat server stopped", flush=True)


if __name__ == "__main__":
    main()
