#!/usr/bin/env python3
"""FastAPI WebSocket echo and multi-user chat with its page (seed 001, the FastAPI part).

What it teaches: WebSocket endpoints in FastAPI, a ConnectionManager that keeps the room,
and why a broadcast must never wait for one client: each connection gets a bounded outbox
and its own sender task, so a client that stops reading is dropped instead of stalling
everyone else.

Routes: GET / is the chat page (static/chat.html); /echo answers every text message with
`Server replies: TEXT`; /ws?name=ann is the chat room.
Chat protocol: text frames. You send a message as plain text; everyone, you too, gets
`name: text`. Notices start with `* `; the first one you get is `* welcome, NAME!`.

Run it either way:
    python fastapi_chat/server.py            (prints `Listening on http://...`)
    cd fastapi_chat && uvicorn server:app --reload
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import signal
import socket
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse, Response

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = STATIC / "chat.html"
MAX_MESSAGE_BYTES = 64 * 1024  # a longer chat message is refused, not broadcast
# How far one client may fall behind, in bytes waiting for it, before we give up on it.
# Counted in bytes, not messages: uvicorn can hand us hundreds of small frames in one turn
# of the event loop, and a bound of N messages would drop healthy readers in a burst.
OUTBOX_LIMIT_BYTES = 1024 * 1024
# At Ctrl+C uvicorn waits for connections to finish. A client that stopped reading never
# lets its connection finish, so after this many seconds uvicorn gives up on it.
GRACEFUL_SHUTDOWN_SECONDS = 2
NAME = re.compile(r"[\w.-]{1,32}")

app = FastAPI(title="FastAPI chat")


class Member:
    """One connected client: its WebSocket, its name and the messages waiting for it."""

    def __init__(self, websocket: WebSocket, name: str) -> None:
        self.websocket = websocket
        self.name = name
        # Why an outbox: the seed awaited send_text() for each client in turn, so a client
        # that stopped reading blocked the broadcast (and everyone) once its TCP buffer was
        # full. Now broadcast only appends here, and one sender task per member sends.
        self.outbox: asyncio.Queue[tuple[str, int]] = asyncio.Queue()  # (text, its bytes)
        self.outbox_bytes = 0
        self.sender: asyncio.Task[None] | None = None

    def deliver(self, text: str, size: int) -> bool:
        """Queue one message for this member; False if that would exceed its limit."""
        if self.outbox_bytes + size > OUTBOX_LIMIT_BYTES:
            return False
        self.outbox_bytes += size
        self.outbox.put_nowait((text, size))
        return True


class ConnectionManager:
    """The room: who is connected, and the only code that sends chat messages to them.

    Everything runs in one event loop thread, so no lock is needed; the rule that replaces
    the lock is that nothing between reading and changing `members` awaits.
    """

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.guest_numbers = itertools.count(1)

    def pick_name(self, wanted: str | None) -> str:
        if wanted and NAME.fullmatch(wanted):
            name, suffix = wanted, itertools.count(2)
            while name in self.members:  # two tabs as "ann": the second one is ann-2
                name = f"{wanted}-{next(suffix)}"
            return name
        while (name := f"guest-{next(self.guest_numbers)}") in self.members:
            pass
        return name

    async def connect(self, websocket: WebSocket, wanted_name: str | None) -> Member:
        await websocket.accept()
        member = Member(websocket, self.pick_name(wanted_name))
        others = ", ".join(sorted(self.members)) or "nobody else"
        self.members[member.name] = member
        member.sender = asyncio.create_task(self.send_outbox(member))
        self.tell(member, f"* welcome, {member.name}!")
        self.tell(member, f"* here now: {others}")
        self.broadcast(f"* {member.name} joined", exclude=member)
        print(f"{member.name} joined", flush=True)
        return member

    def disconnect(self, member: Member, why: str = "left") -> bool:
        """Forget a member. Safe to call twice: only the first call (True) announces it.

        The seed's list.remove() raised ValueError when a failed send and the member's own
        handler both removed the same connection.
        """
        if self.members.get(member.name) is not member:
            return False
        del self.members[member.name]
        if member.sender:
            member.sender.cancel()  # what is still in its outbox is for nobody now
        print(f"{member.name} {why}", flush=True)
        self.broadcast(f"* {member.name} {why}")
        return True

    def tell(self, member: Member, text: str) -> None:
        if not member.deliver(text, len(text.encode())):
            self.drop(member)

    def broadcast(self, text: str, exclude: Member | None = None) -> None:
        """Queue a message for everyone. Never awaits, so it never waits for a client."""
        size = len(text.encode())
        # A copy of the list: drop() below changes the dict while we go through it.
        for member in list(self.members.values()):
            if member is not exclude and not member.deliver(text, size):
                self.drop(member)

    def drop(self, member: Member) -> None:
        """Disconnect a member that is too slow to read what the room sends."""
        if self.disconnect(member, "was disconnected: too slow to read messages"):
            # 1008 "policy violation", with the reason. The frame queues behind the bytes
            # the client has not read yet, so it only arrives if the client reads again;
            # until then nothing more is sent to it and the room has forgotten it.
            member.sender = asyncio.create_task(say_goodbye(member.websocket, 1008, "too slow"))

    async def send_outbox(self, member: Member) -> None:
        """The sender task: the only code that sends chat messages to this member."""
        try:
            while True:
                text, size = await member.outbox.get()
                await member.websocket.send_text(text)
                member.outbox_bytes -= size
        except (WebSocketDisconnect, RuntimeError):
            # The connection closed under us (the client vanished, or the server is
            # shutting down): remove this member only; everybody else carries on.
            self.disconnect(member)


async def say_goodbye(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code, reason)
    except (WebSocketDisconnect, RuntimeError):
        pass  # already closed


manager = ConnectionManager()


@app.get("/", include_in_schema=False)
async def chat_page() -> Response:
    # A StaticFiles mount at "/" would also catch "/ws", so the one page is served here.
    if not PAGE.is_file():
        return PlainTextResponse(f"chat page not found: {PAGE}", status_code=404)
    return FileResponse(PAGE)


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    """The seed's first example: answer every text message."""
    await websocket.accept()
    try:
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text") is not None:
                await websocket.send_text(f"Server replies: {message['text']}")
            else:
                await websocket.send_text("* error: send text, not binary data")
    except WebSocketDisconnect:
        pass  # the client left while we were answering
    except asyncio.CancelledError:
        # At shutdown uvicorn cancels a handler still waiting to send to a client that
        # stopped reading; returning quietly keeps that expected event free of tracebacks.
        pass


@app.websocket("/ws")
async def chat(websocket: WebSocket, name: str | None = None) -> None:
    member = await manager.connect(websocket, name)
    try:
        # receive() rather than receive_text(): a binary frame gets a polite error instead
        # of ending the connection. The loop ends when the client leaves, or when uvicorn
        # shuts down (it then hands every handler a disconnect with code 1012).
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if manager.members.get(member.name) is not member:
                continue  # dropped as too slow: keep reading only to see the close through
            text = message.get("text")
            if text is None:
                manager.tell(member, "* error: send text, not binary data")
            elif len(text.encode()) > MAX_MESSAGE_BYTES:
                manager.tell(member, f"* error: message longer than {MAX_MESSAGE_BYTES} bytes")
            elif text.strip():  # empty and whitespace-only messages are ignored
                manager.broadcast(f"{member.name}: {text}")
    finally:
        manager.disconnect(member)
        if member.sender:
            member.sender.cancel()  # also a goodbye still waiting for a client that stopped


class Server(uvicorn.Server):
    """uvicorn's server, which also prints the contract's `Listening on` line."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # By now uvicorn handles Ctrl+C and SIGTERM and accepts connections; with --port 0
        # only the socket knows which port the system picked.
        if self.started and self.servers and self.servers[0].sockets:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"Listening on http://{host}:{port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="FastAPI WebSocket echo and chat server.")
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
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="how much uvicorn logs to stderr (default: %(default)s)",
    )
    args = parser.parse_args()

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws_max_size=4 * MAX_MESSAGE_BYTES,  # a bigger frame is refused with close 1009
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    # uvicorn catches Ctrl+C and SIGTERM while it runs, shuts down, and then raises the
    # signal again with the handler it found. Ours turns both into KeyboardInterrupt, so
    # SIGTERM ends the process with status 0 as Ctrl+C does, instead of killing it.
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):  # SIGBREAK: Ctrl+Break on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.default_int_handler)
    try:
        Server(config).run()
    except KeyboardInterrupt:
        pass
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
