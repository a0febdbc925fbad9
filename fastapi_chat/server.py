#!/usr/bin/env python3
"""FastAPI WebSocket echo and multi-user chat with its page (seed 001, the FastAPI part).

What it teaches: WebSocket endpoints in FastAPI, and a ConnectionManager that never waits for
one client. The room keeps a bounded history of what was said; each member has a sender task
of its own that follows it at that member's pace. A reader that keeps reading is never
dropped; one that makes no progress for STALL_SECONDS is. A web page of another site is
refused by its Origin. With --redis, several server processes share one room through a Redis
stream (redis_stream.py, supplied).

Routes: GET / is the page (static/chat.html); /echo answers `Server replies: TEXT`; /ws is the
room: send text, and everyone, you too, gets `name: text`; notices start with `* `. With
?since=ID every room message comes as `ID TEXT`, the ones you missed after ID first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse, Response
from history import History, LocalStream

if TYPE_CHECKING:
    from redis_stream import RedisStream

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"
MAX_MESSAGE_BYTES = 64 * 1024  # a longer chat message is refused, not broadcast
# The room's memory: its last messages, kept once for all members (a member only keeps its
# place in them). It is also what a client coming back with ?since=ID can catch up on.
HISTORY_MESSAGES = 10_000
HISTORY_BYTES = 16 * 1024 * 1024
# A client that keeps reading finishes every send, however slowly; one that has stopped
# finishes none. A send that has taken this long means that its client has stopped reading.
STALL_SECONDS = 2.0
NOTICES_LIMIT = 100  # notices for one member only (errors) that may wait; more are dropped
# At Ctrl+C uvicorn waits for the connections to end, and one whose client stopped reading
# never does. Longer than STALL_SECONDS: by then no handler waits for such a client.
GRACEFUL_SHUTDOWN_SECONDS = 2.5
NAME = re.compile(r"[\w.-]{1,32}")
REDIS_ENV = "CHAT_REDIS_URL"  # the environment is how `uvicorn server:app` takes options
ORIGINS_ENV = "CHAT_ALLOW_ORIGINS"
GONE = (WebSocketDisconnect, RuntimeError)  # what a send raises once the connection is over


class Member:
    """One connected client: its WebSocket, its name and how far it has got in the room."""

    def __init__(self, websocket: WebSocket, name: str, ids: bool) -> None:
        self.websocket = websocket
        self.name = name
        self.key = secrets.token_hex(8)  # tells its own join notice apart, in every process
        self.ids = ids  # it asked for ids (?since=): room messages go to it as `ID TEXT`
        self.seq = 0  # the place in the history of the last room message it was sent
        self.after = (0, 0)  # and it gets none whose id is up to this one: it has them
        self.notices: deque[str] = deque()  # for this member only: welcome, errors
        self.wake = asyncio.Event()  # set when something new waits for it
        self.sending_since: float | None = None  # when the send under way began (watchdog)
        self.sender: asyncio.Task[None] | None = None

    def tell(self, text: str) -> None:
        if len(self.notices) < NOTICES_LIMIT:  # with that many waiting, it is not reading
            self.notices.append(text)
            self.wake.set()


class ConnectionManager:
    """The room: who is connected, what was said, and the sender tasks.

    The seed's broadcast awaited send_text() for each client in turn, so one client that
    stopped reading stalled everyone. Here a message goes into the history once, and each
    member's own sender task sends it from there; nobody waits for anybody while the history
    has room. Everything runs in one event loop thread, so no lock is needed; the rule that
    replaces the lock is that nothing between reading and changing the room awaits.
    """

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.guest_numbers = itertools.count(1)
        self.history = History(HISTORY_MESSAGES, HISTORY_BYTES)
        self.progress = asyncio.Event()  # set when a member gets further, or leaves
        # Where messages go and come from: this process, or Redis (lifespan() below).
        self.stream: LocalStream | RedisStream = LocalStream(self)

    def pick_name(self, wanted: str | None) -> str:
        if wanted and NAME.fullmatch(wanted):
            name, suffix = wanted, itertools.count(2)
            while name in self.members:  # two tabs as "ann": the second one is ann-2
                name = f"{wanted}-{next(suffix)}"
            return name
        while (name := f"guest-{next(self.guest_numbers)}") in self.members:
            pass
        return name

    def join(self, websocket: WebSocket, wanted_name: str | None, since: str | None) -> Member:
        """Add a member; it gets what the history holds after message `since`, then the rest."""
        member = Member(websocket, self.pick_name(wanted_name), ids=since is not None)
        member.seq, member.after = self.history.place_after(since)
        others = ", ".join(sorted(self.members)) or "nobody else"
        self.members[member.name] = member
        member.sender = asyncio.create_task(self.send_to(member))
        member.tell(f"* welcome, {member.name}!")
        member.tell(f"* here now: {others}")
        print(f"{member.name} joined", flush=True)
        return member

    def leave(self, member: Member, why: str = "left") -> None:
        """Forget a member. Safe to call twice: only the first call announces it."""
        if self.members.get(member.name) is not member:
            return
        del self.members[member.name]
        self.progress.set()  # it no longer holds back the oldest message
        print(f"{member.name} {why}", flush=True)
        self.stream.add(f"* {member.name} {why}")  # a notice may go past the bound: no wait

    async def publish(self, text: str, skip: str = "") -> bool:
        """Say something to the room (to every process, with --redis); False if that failed."""
        await self.make_room(len(text.encode()))
        return await self.stream.add(text, skip)

    async def make_room(self, size: int) -> None:
        """Wait until the history has room for one more message of `size` bytes.

        It forgets its oldest messages as soon as every member has had them, so it is full
        only while the oldest has not reached some member. Then whoever speaks waits here: its
        handler stops reading, and TCP slows its client down. The wait ends when that member
        has the message, or when the watchdog drops it: a slow reader slows the room to its own
        pace, one that stopped holds it back a few seconds at most.
        """
        while not self.history.forget(self.slowest(), size):
            self.progress.clear()
            await self.progress.wait()

    def slowest(self) -> int:
        """The place of the oldest message some member still has to be sent."""
        return min((m.seq for m in self.members.values()), default=self.history.last_seq)

    def deliver(self, message_id: str, text: str, skip: str = "") -> None:
        """A message for everyone, from the stream: into the history, and wake the senders."""
        self.history.forget(self.slowest(), len(text.encode()))
        self.history.add(message_id, text, skip)
        for member in self.members.values():
            member.wake.set()

    def next_for(self, member: Member) -> str | None:
        """What to send this member next: its own notices first, then the room's messages."""
        if member.notices:
            return member.notices.popleft()
        while entry := self.history.after(member.seq):
            member.seq = entry.seq
            # `after`: it came back from another process, which had sent it this one.
            if entry.order > member.after and (entry.skip != member.key or member.ids):
                return f"{entry.id} {entry.text}" if member.ids else entry.text
        return None

    async def send_to(self, member: Member) -> None:
        """The sender task: the only code that sends to this member, its goodbye included."""
        try:
            while self.members.get(member.name) is member:
                if (text := self.next_for(member)) is None:
                    member.wake.clear()
                    await member.wake.wait()
                    continue
                member.sending_since = time.monotonic()
                await member.websocket.send_text(text)
                member.sending_since = None
                self.progress.set()
            # The watchdog dropped it while this send waited. 1008 "policy violation", with
            # the reason: the frame goes out after what the client has not read yet.
            await member.websocket.close(1008, "too slow: you stopped reading")
        except GONE:
            # The connection closed under us (the client vanished, or the server is shutting
            # down): remove this member only; everybody else carries on.
            self.leave(member)

    async def watch(self) -> None:
        """The watchdog task: tells a slow reader from one that stopped, by its progress.

        A client that keeps reading finishes every send in the end, however slowly; one that
        stopped finishes none. So a member whose send began STALL_SECONDS ago is dropped.
        """
        while True:
            await asyncio.sleep(STALL_SECONDS / 4)
            too_old = time.monotonic() - STALL_SECONDS
            for member in list(self.members.values()):
                if member.sending_since and member.sending_since < too_old:
                    self.leave(member, "was disconnected: it stopped reading")


manager = ConnectionManager()


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the watchdog; with --redis, follow the room's messages in Redis."""
    if app.state.redis_url:
        from redis_stream import RedisStream  # only then: the default needs no redis-py

        manager.stream = RedisStream(app.state.redis_url, manager, manager.history.limit)
    await manager.stream.start()
    watchdog = asyncio.create_task(manager.watch())
    try:
        yield
    finally:
        watchdog.cancel()
        await manager.stream.stop()


app = FastAPI(title="FastAPI chat", lifespan=lifespan)
# What `uvicorn server:app` can only take from the environment; main() sets them too.
app.state.redis_url = os.environ.get(REDIS_ENV) or None
app.state.allowed_origins = set(os.environ.get(ORIGINS_ENV, "").lower().split())


async def accept(websocket: WebSocket) -> bool:
    """Accept the handshake, unless a web page of another site asks for it.

    Cross-site WebSocket hijacking: a browser lets any web page open a WebSocket to
    127.0.0.1, with your cookies, but it says which page asks: the `Origin` header.
    """
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "").lower()  # our own page came from there
    if (
        origin is None  # not a browser: a terminal client, websocat, a test
        or (host and urlsplit(origin.lower()).netloc == host)
        or origin.lower() in app.state.allowed_origins
    ):
        await websocket.accept()
        return True
    print(f"refused a WebSocket for a page of {origin}", flush=True)
    await websocket.close()  # before accept(): uvicorn answers the handshake with HTTP 403
    return False


@app.get("/", include_in_schema=False)
async def chat_page() -> Response:
    # A StaticFiles mount at "/" would also catch "/ws", so the one page is served here.
    if not PAGE.is_file():
        return PlainTextResponse(f"chat page not found: {PAGE}", status_code=404)
    return FileResponse(PAGE)


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    """The seed's first example: answer every text message."""
    if not await accept(websocket):
        return
    try:
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            text = message.get("text")
            reply = (
                "* error: send text, not binary data" if text is None else f"Server replies: {text}"
            )
            # A client that stopped reading would keep this handler waiting, and Ctrl+C with
            # it: it gets STALL_SECONDS, then we leave it and uvicorn closes the connection.
            async with asyncio.timeout(STALL_SECONDS):
                await websocket.send_text(reply)
    except TimeoutError:
        print("an /echo client stopped reading: left it", flush=True)
    except WebSocketDisconnect:
        pass  # the client left while we were answering


@app.websocket("/ws")
async def chat(websocket: WebSocket, name: str | None = None, since: str | None = None) -> None:
    if not await accept(websocket):
        return
    member = manager.join(websocket, name, since)
    try:
        await manager.publish(f"* {member.name} joined", skip=member.key)
        # receive() rather than receive_text(): a binary frame gets a polite error instead
        # of ending the connection. The loop ends when the client leaves, or when uvicorn
        # shuts down (it then hands every handler a disconnect with code 1012).
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if manager.members.get(member.name) is not member:
                continue  # dropped for not reading: keep reading to see the close through
            text = message.get("text")
            if text is None:
                member.tell("* error: send text, not binary data")
            elif len(text.encode()) > MAX_MESSAGE_BYTES:
                member.tell(f"* error: message longer than {MAX_MESSAGE_BYTES} bytes")
            elif text.strip() and not await manager.publish(f"{member.name}: {text}"):
                member.tell("* error: not delivered, the room is unreachable; send it again")
    finally:
        manager.leave(member)
        if member.sender:
            member.sender.cancel()  # also a goodbye still waiting for a client that stopped


# --- Starting and stopping ------------------------------------------------------------------------
class Server(uvicorn.Server):
    """uvicorn's server, which also prints the contract's `Listening on` line."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # By now uvicorn handles Ctrl+C and SIGTERM and accepts connections.
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
            print(f"Listening on http://{host}:{port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="FastAPI WebSocket echo and chat server.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=app.state.redis_url,
        help=f"share the room with every server on this Redis (also ${REDIS_ENV}), e.g. "
        "redis://127.0.0.1:6379/0; without it the room lives in this process",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSockets from web pages of ORIGIN, e.g. http://localhost:3000 "
        f"(repeatable, also ${ORIGINS_ENV}; this server's own pages are always accepted)",
    )
    parser.add_argument(
        "--history", type=int, default=HISTORY_MESSAGES, help="messages the room keeps"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="how much uvicorn logs to stderr",
    )
    args = parser.parse_args()
    if args.redis and urlsplit(args.redis).scheme not in ("redis", "rediss", "unix"):
        parser.error(f"--redis wants a URL like redis://127.0.0.1:6379/0, not {args.redis!r}")
    app.state.redis_url = args.redis
    manager.history.limit = max(1, args.history)
    app.state.allowed_origins |= {origin.lower() for origin in args.allow_origin}

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # IPv4 unless told
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    # asyncio switches Nagle's algorithm off only on sockets it made itself. Off here too, or
    # a burst of small frames waits for TCP's delayed acknowledgements: 40 ms each time.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = uvicorn.Config(
        app,
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
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
