#!/usr/bin/env python3
"""WebSocket chat that logs every message and event to a JSON file (seeds 002 and 003).

Seed 002 asks for a `websockets` chat server: a greeting, `async for`, many clients, a JSON log,
sessions closed with a code and a reason. Seed 003 adds the operator, who types messages to
everyone from the server's terminal.

What it teaches: one coroutine per client on one event loop, each member registered and removed
in try/finally; fan-out with `broadcast`, so a slow client never holds up the others; a blocking
keyboard kept off the event loop; refusing pages of other sites with `origins=`. The log itself
(append-only, safe against `kill -9`) is supplied by jsonlog.py.

Protocol: UTF-8 text frames. A newcomer gets `Добро пожаловать в чат!`, its id and recent messages.
A message comes back as `You said: TEXT`, reaches the others as `Client_N: TEXT` (the operator's as
`Server: TEXT`); notices start with `* `. `exit` closes with 1000 `Сессия завершена. До свидания!`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import socket
import sys
import threading
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonlog import JsonLog
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.frames import CloseCode

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_LOG = "messages.json"
GREETING = "Добро пожаловать в чат!"  # fixed by seed 002
GOODBYE = "Сессия завершена. До свидания!"  # fixed by seed 002: the close reason
HISTORY_SIZE = 50  # messages replayed to a newcomer
MAX_MESSAGE_BYTES = 64 * 1024  # a bigger message closes that client with 1009
MAX_BACKLOG_BYTES = 1024 * 1024  # unsent bytes for one client before we drop it
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a client gets to answer our close frame
SERVER_ID = "Server"


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class Chat:
    """Who is connected, what was said recently, and the log.

    Everything here runs on the one event loop thread, and control passes between coroutines
    only at an `await`. A method without `await` (say, announce, JsonLog.append) runs start to
    finish with no other client cutting in: two records never interleave in the file and the
    member list never changes under our feet, with no lock at all.
    """

    def __init__(self, log: JsonLog) -> None:
        self.log = log
        self.members: dict[ServerConnection, str] = {}
        self.history: deque[str] = deque(maxlen=HISTORY_SIZE)
        self.numbers = itertools.count(1)

    def record(self, client_id: str, message: str, sender: str, **event: Any) -> bool:
        """Append one record to the log; False if it could not (a full disk, say)."""
        try:
            self.log.append(
                {"time": now(), "client_id": client_id, "message": message, "sender": sender}
                | event
            )
        except OSError as error:
            print(f"cannot write the log: {error}", file=sys.stderr, flush=True)
            return False
        return True

    def broadcast(self, text: str, exclude: ServerConnection | None = None) -> None:
        """Send one text to every member except `exclude`, without waiting for any of them.

        The seed awaited asyncio.gather(*(c.send(text) for c in clients)): gather finishes
        only when the slowest client has taken the message, and the sender waits that long
        before it reads its next message. websockets.broadcast() instead puts the frame into
        every connection's write buffer at once and returns; the event loop then drains each
        buffer as fast as that client reads. A dead connection is skipped, not an error.
        """
        recipients = []
        for member in self.members:
            if member is exclude:
                continue
            # broadcast() has no backpressure: a client that stops reading would collect
            # frames in memory without end. Past a limit we disconnect it instead.
            if member.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
                print(f"{self.members[member]} is not reading; disconnecting it", flush=True)
                member.transport.abort()
                continue
            recipients.append(member)
        broadcast(recipients, text)

    def say(self, sender: ServerConnection, client_id: str, text: str) -> bool:
        """A client's message: log it first, then pass it on; False if it was not logged."""
        if not self.record(client_id, text, "client"):
            return False
        line = f"{client_id}: {text}"
        self.history.append(line)
        print(line, flush=True)
        self.broadcast(line, exclude=sender)
        return True

    def announce(self, text: str) -> None:
        """A message from the operator at the server's keyboard (seed 003)."""
        if not self.record(SERVER_ID, text, "server"):
            return
        line = f"{SERVER_ID}: {text}"
        self.history.append(line)
        self.broadcast(line)
        print(f"{line}  (sent to {len(self.members)} clients)", flush=True)

    async def handle(self, websocket: ServerConnection) -> None:
        """One client's session, from greeting to goodbye. websockets runs one per client."""
        client_id = f"Client_{next(self.numbers)}"
        host, port = websocket.remote_address[:2]
        # Greeting, history and joining happen with no `await` in between (broadcast() to
        # one connection writes without waiting), so no other message can slip in before the
        # greeting, and none is missed between the history and joining the room.
        welcome = [GREETING, f"* you are {client_id}; send exit to leave"]
        if self.history:
            welcome.append(f"* the last {len(self.history)} messages:")
            welcome.extend(self.history)
        for text in welcome:
            broadcast([websocket], text)
        clean = False
        self.members[websocket] = client_id
        try:  # from here on, however the session ends, `finally` removes the member once
            self.record(client_id, f"connected from {host}:{port}", "event", event="connect")
            print(f"{client_id} connected from {host}:{port}", flush=True)
            self.broadcast(f"* {client_id} joined", exclude=websocket)
            async for message in websocket:
                if isinstance(message, bytes):
                    await websocket.send("* error: binary frames are not supported; send text")
                elif message.strip() == "exit":
                    await websocket.close(CloseCode.NORMAL_CLOSURE, GOODBYE)
                elif message.strip():
                    # Acknowledged only once the record is in the file: whatever a client saw
                    # acknowledged survives a crash of the server.
                    if self.say(websocket, client_id, message):
                        await websocket.send(f"You said: {message}")
                    else:
                        await websocket.send("* error: the server could not save your message")
            clean = True  # the loop ends quietly when both sides closed properly
        except ConnectionClosedOK:
            clean = True
        except ConnectionClosed:
            pass  # abnormal: no close frame, or an error code such as 1009 (too big)
        finally:
            del self.members[websocket]
            # The close frame the client sent, or else ours: when we drop a client for a
            # too-big message (1009) we do not wait for its answer.
            frame = websocket.protocol.close_rcvd or websocket.protocol.close_sent
            code, reason = (frame.code, frame.reason) if frame else (CloseCode.ABNORMAL_CLOSURE, "")
            status = "clean" if clean else "abnormal"
            closed = {"event": "disconnect", "status": status, "code": code, "reason": reason}
            self.record(client_id, f"disconnected: {code} {reason}".rstrip(), "event", **closed)
            print(f"{client_id} disconnected ({status}, code {code} {reason})", flush=True)
            self.broadcast(f"* {client_id} left")


def start_operator_console(chat: Chat) -> None:
    """Send every line typed into the server's terminal to all clients (seed 003)."""
    loop = asyncio.get_running_loop()

    def read_keyboard() -> None:
        # An unbuffered file of its own: sys.stdin's buffer has a lock that this thread would
        # hold while it waits, and Python aborts at exit when it cannot take that lock.
        try:
            with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as keyboard:
                while line := keyboard.readline():
                    if text := line.decode("utf-8", "replace").rstrip("\r\n"):
                        # The room belongs to the event loop's thread: announce() runs there.
                        loop.call_soon_threadsafe(chat.announce, text)
        except (OSError, ValueError, RuntimeError):
            pass  # standard input closed or broken, or the server finished: the console ends
        # At the end of input (/dev/null, a finished pipe) the thread just ends; the seed
        # looped on the EOFError and printed errors forever.

    if sys.stdin is not None:  # None: started without a console at all (pythonw)
        # readline() blocks, so it runs in a thread of its own. A daemon thread, because no
        # thread can be woken out of a blocking read: the seed's asyncio.to_thread(input)
        # used a pool thread that asyncio.run() waits for at exit, so Ctrl+C hung until Enter.
        threading.Thread(target=read_keyboard, daemon=True).start()


# --- Starting and stopping ------------------------------------------------------------------------
def on_stop_signals(stop: asyncio.Event) -> None:
    """Make Ctrl+C (SIGINT), SIGTERM and Windows' Ctrl+Break set `stop`."""
    loop = asyncio.get_running_loop()
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    for signum in [getattr(signal, name) for name in names if hasattr(signal, name)]:
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows: a plain handler that wakes the loop
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run(sock: socket.socket, log: JsonLog, allowed_origins: list[str]) -> None:
    host, port = sock.getsockname()[:2]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # A browser lets any page open a WebSocket to any server, but it sends the page's Origin
    # along, and the page cannot change it: serve() answers an Origin that is not in this
    # list with HTTP 403, before the upgrade. Terminal clients send no Origin at all (None).
    origins = [None, f"http://{address}", f"https://{address}", *allowed_origins]
    chat = Chat(log)
    stop = asyncio.Event()
    on_stop_signals(stop)
    async with serve(
        chat.handle,
        sock=sock,
        origins=origins,
        max_size=MAX_MESSAGE_BYTES,
        close_timeout=CLOSE_TIMEOUT_SECONDS,
    ) as server:
        print(f"Listening on ws://{address}", flush=True)
        print(f"Logging to {log.path.resolve()}", flush=True)
        print("Type a line here to send it to every client.", flush=True)
        start_operator_console(chat)
        await stop.wait()
        print("Stopping: closing every session.", flush=True)
        # Every open connection gets a close frame with 1001 (going away) and the reason.
        server.close(code=CloseCode.GOING_AWAY, reason=GOODBYE)
        await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="WebSocket chat that logs every message and event to a JSON file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=Path(DEFAULT_LOG),
        help="JSON file of every message and event, continued if it exists; a relative path "
        "starts in the current directory",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSockets from web pages of ORIGIN, e.g. http://localhost:3000 "
        "(repeatable; pages of this server's own host:port are always accepted)",
    )
    args = parser.parse_args()

    try:
        log = JsonLog(args.log)
    except (OSError, ValueError) as error:
        sys.exit(f"cannot use the log {args.log}: {error}")
    try:
        # Bound here rather than by serve(), so that our own origin is known with its real
        # port when --port is 0. create_server() takes IPv4 unless told otherwise.
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    with log:
        asyncio.run(run(sock, log, args.allow_origin))
    print(f"Stopped. {log.records} records added to {args.log}.", flush=True)


if __name__ == "__main__":
    main()
