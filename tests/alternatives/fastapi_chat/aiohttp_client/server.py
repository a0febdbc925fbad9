#!/usr/bin/env python3
"""Alternative fastapi_chat server (a grading fixture): echo, chat room and page.

Written unlike the reference on purpose: a `Hall` of seats whose outboxes are bounded in
messages, a pump task started by each endpoint, a socket bound by hand and a watcher task
that prints the `Listening on` line once uvicorn has started. `uvicorn server:app` works too.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"
LONGEST = 32 * 1024  # bytes in one chat message
FRAME_LIMIT = 1024 * 1024  # uvicorn closes bigger frames with 1009
OUTBOX = 300  # messages waiting for one reader before it is dropped
VALID_NAME = re.compile(r"[^\s:*]{1,20}")
GONE = (WebSocketDisconnect, RuntimeError, OSError)

app = FastAPI(title="chat (alternative)")


@dataclass(eq=False)
class Seat:
    ws: WebSocket
    name: str
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(OUTBOX))
    dropped: bool = False


class Hall:
    """All methods but pump() are plain functions: none of them can wait for a client."""

    def __init__(self) -> None:
        self.seats: dict[str, Seat] = {}

    def name_for(self, wanted: str | None) -> str:
        if wanted and VALID_NAME.fullmatch(wanted):
            name, n = wanted, 1
            while name in self.seats:
                n += 1
                name = f"{wanted}_{n}"
            return name
        while (name := f"guest-{random.randint(1000, 9999)}") in self.seats:
            pass
        return name

    def sit(self, ws: WebSocket, wanted: str | None) -> Seat:
        seat = Seat(ws, self.name_for(wanted))
        others = ", ".join(self.seats) or "nobody yet"
        self.seats[seat.name] = seat
        self.post(seat, f"* you joined as {seat.name}; also here: {others}")
        self.shout(f"* {seat.name} is here", but=seat)
        return seat

    def stand(self, seat: Seat, how: str = "went away") -> None:
        if self.seats.get(seat.name) is seat:
            del self.seats[seat.name]
            self.shout(f"* {seat.name} {how}")

    def post(self, seat: Seat, text: str) -> None:
        try:
            seat.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(seat)

    def shout(self, text: str, but: Seat | None = None) -> None:
        for seat in list(self.seats.values()):
            if seat is not but:
                self.post(seat, text)

    def drop(self, seat: Seat) -> None:
        """A reader that fell OUTBOX messages behind: forget it, then close it (1013)."""
        seat.dropped = True
        while not seat.outbox.empty():
            seat.outbox.get_nowait()
        seat.outbox.put_nowait(None)  # the pump closes once it gets here
        self.stand(seat, "was too slow and got disconnected")

    async def pump(self, seat: Seat) -> None:
        try:
            while (text := await seat.outbox.get()) is not None:
                await seat.ws.send_text(text)
            await seat.ws.close(1013, "too slow, try again later")
        except GONE:
            self.stand(seat)


hall = Hall()


@app.get("/", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while (event := await ws.receive())["type"] == "websocket.receive":
            text = event.get("text")
            await ws.send_text(f"You sent: {text}" if text is not None else "* text only")
    except (*GONE, asyncio.CancelledError):
        pass


@app.websocket("/ws")
async def room(ws: WebSocket, name: str | None = None) -> None:
    await ws.accept()
    seat = hall.sit(ws, name)
    pump = asyncio.create_task(hall.pump(seat))
    print(f"[join] {seat.name}", flush=True)
    try:
        while (event := await ws.receive())["type"] == "websocket.receive":
            text = event.get("text")
            if seat.dropped:
                continue
            if text is None:
                hall.post(seat, "* error: binary frames are not allowed here")
            elif len(text.encode()) > LONGEST:
                hall.post(seat, f"* error: too long (at most {LONGEST} bytes)")
            elif text.strip():
                hall.shout(f"{seat.name}: {text}")
    except (*GONE, asyncio.CancelledError):
        pass
    finally:
        pump.cancel()
        hall.stand(seat)
        print(f"[left] {seat.name}", flush=True)


async def serve(config: uvicorn.Config, sock: socket.socket) -> None:
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not running.done():
        await asyncio.sleep(0.02)
    if server.started:  # uvicorn has its signal handlers and accepts connections
        host, port = sock.getsockname()[:2]
        print(f"Listening on http://{host}:{port}", flush=True)
    await running


def quit_quietly(signum, frame) -> None:
    # uvicorn handles the signals while it runs and raises them again when it is done.
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description="FastAPI echo and chat room.")
    parser.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one")
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    args = parser.parse_args()
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror}")
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        ws_max_size=FRAME_LIMIT,
        timeout_graceful_shutdown=1.5,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, quit_quietly)
    try:
        asyncio.run(serve(config, sock))
    except (SystemExit, KeyboardInterrupt):
        pass
    print("server stopped", flush=True)


if __name__ == "__main__":
    main()
