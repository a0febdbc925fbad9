#!/usr/bin/env python3
"""WebSocket chat that logs every message and event to a JSON file (seeds 002 and 003).

Answers seed 002 (a `websockets` chat server: greeting, `async for`, many clients, a JSON log,
closing a session with a code and a reason) merged with seed 003 (the operator types messages
to everyone from the server's terminal).

What it teaches: one coroutine per client on one event loop; fan-out with `broadcast` so a
slow client never holds up the others; a blocking keyboard read kept off the event loop; an
append-only JSON log that costs the same with ten records or a million and survives `kill -9`.

Protocol: plain UTF-8 text frames. The server greets a newcomer with `Добро пожаловать в чат!`,
tells it its id and replays recent messages. A message from Client_N comes back to its sender
as `You said: TEXT` and goes to everyone else as `Client_N: TEXT`; the operator's lines arrive
as `Server: TEXT`; notices start with `* `. Sending `exit` ends the session with close code
1000 and the reason `Сессия завершена. До свидания!`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import threading
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

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


# --- The JSON log -------------------------------------------------------------------------


class JsonLog:
    """A JSON array on disk, one record per line, that grows at the end only.

    The obvious way (json.load the list, append, json.dump it all again) reads and writes the
    whole file for every message: a million records means a million records rewritten per
    message. Here the file always ends with the line `]`, and an append overwrites that
    line with `,` + the new record + `]`. One write() of a few hundred bytes, whatever the
    size of the file, and the file is a valid JSON array again as soon as it returns.
    """

    TAIL = b"\n]\n"
    TAIL_WINDOW = 1024 * 1024  # more than the longest record line (MAX_MESSAGE_BYTES escaped)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0  # appended by this run
        self.file = None  # opened by the first append when the file does not exist yet
        self.end: int | None = None  # where the next record goes; None: write the `[` first
        if path.exists():
            self.open()
            self.end = self.find_end()
        elif not path.parent.is_dir():
            raise FileNotFoundError(f"no such directory: {path.parent}")

    def open(self) -> None:
        # buffering=0: every write() goes straight to the operating system. Once it returns,
        # the bytes are in the kernel and `kill -9` of this process cannot lose them (a power
        # cut could; os.fsync() would cover that at a cost of milliseconds per message).
        self.file = open(self.path, "r+b" if self.path.exists() else "w+b", buffering=0)  # noqa: SIM115

    def find_end(self) -> int | None:
        """Find where the last record ends, repairing a tail torn by a crash mid-write."""
        assert self.file is not None
        size = self.file.seek(0, os.SEEK_END)
        base = max(0, size - self.TAIL_WINDOW)
        self.file.seek(base)
        tail = self.file.read()
        if base > 0:  # start at a line boundary
            skip = tail.find(b"\n") + 1
            base, tail = base + skip, tail[skip:]
        lines = tail.rstrip().split(b"\n")
        if base == 0 and not tail.strip():
            return None  # an empty file: the first append writes the opening `[`
        if lines[-1].strip() == b"]":
            # A healthy log from an earlier run: continue after its last value. A record is
            # always one line, so a write torn halfway can never leave a line that is just `]`.
            before = tail.rstrip()[:-1].rstrip()
            return None if base == 0 and before.strip() == b"[" else base + len(before)
        # The last write stopped halfway (the process was killed, the disk filled up). Drop
        # the unfinished line and keep every complete record before it.
        if base == 0 and not tail.lstrip().startswith(b"["):
            raise ValueError("it is not a JSON array")
        starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=base))
        for line, start in zip(reversed(lines), reversed(starts[:-1]), strict=True):
            # A write that stopped after its first byte leaves `{...},]`: the `,` landed on the
            # newline before the old `]`. A record line always ends in `}`, so strip a `]`
            # and then the `,` to get the complete record back.
            record = line.rstrip().rstrip(b"]").rstrip().rstrip(b",")
            if record.strip() == b"[":
                cut = None
                break
            try:
                if isinstance(json.loads(record), dict):
                    cut = start + len(record)
                    break
            except ValueError:
                continue
        else:
            raise ValueError("its end is not a record this server wrote; move it away")
        if cut is None:
            self.file.truncate(0)
        else:
            self.file.seek(cut)
            self.file.write(self.TAIL)
            self.file.truncate(cut + len(self.TAIL))
        print(f"Repaired {self.path}: dropped an unfinished record at its end.", flush=True)
        return cut

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; on return it is in the file, and the file is valid JSON again."""
        line = json.dumps(record, ensure_ascii=False).encode("utf-8")
        if self.file is None:
            self.open()
        assert self.file is not None
        if self.end is None:
            data, where = b"[\n" + line + self.TAIL, 0
        else:
            data, where = b",\n" + line + self.TAIL, self.end
        self.file.seek(where)
        written = 0
        while written < len(data):
            written += self.file.write(data[written:])
        if self.end is None:
            self.file.truncate(len(data))  # an old `[ ]` with much whitespace
        self.end = where + len(data) - len(self.TAIL)
        self.records += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


# --- The chat room ------------------------------------------------------------------------


class Chat:
    """Who is connected, what was said recently, and the log.

    Every coroutine here runs on the one event loop thread, and control passes between them
    only at an `await`. A method without `await` (say, announce, JsonLog.append) therefore runs
    start to finish without any other client cutting in: two records can never interleave in
    the file and the member list never changes under our feet, with no lock at all.
    """

    def __init__(self, log: JsonLog) -> None:
        self.log = log
        self.members: dict[ServerConnection, str] = {}
        self.history: deque[str] = deque(maxlen=HISTORY_SIZE)
        self.numbers = itertools.count(1)

    def record(self, client_id: str, message: str, sender: str, **event: Any) -> None:
        self.log.append(
            {"time": now(), "client_id": client_id, "message": message, "sender": sender, **event}
        )

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

    def say(self, sender: ServerConnection, client_id: str, text: str) -> None:
        """A client's message: log it first, then pass it on."""
        self.record(client_id, text, "client")
        line = f"{client_id}: {text}"
        self.history.append(line)
        print(line, flush=True)
        self.broadcast(line, exclude=sender)

    def announce(self, text: str) -> None:
        """A message from the operator at the server's keyboard (seed 003)."""
        self.record(SERVER_ID, text, "server")
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
        self.members[websocket] = client_id
        self.record(client_id, f"connected from {host}:{port}", "event", event="connect")
        print(f"{client_id} connected from {host}:{port}", flush=True)
        self.broadcast(f"* {client_id} joined", exclude=websocket)

        clean = False
        try:
            async for message in websocket:
                if isinstance(message, bytes):
                    await websocket.send("* error: binary frames are not supported; send text")
                elif message.strip() == "exit":
                    await websocket.close(CloseCode.NORMAL_CLOSURE, GOODBYE)
                elif message.strip():
                    try:
                        self.say(websocket, client_id, message)
                    except OSError as error:
                        print(f"cannot write the log: {error}", file=sys.stderr, flush=True)
                        await websocket.send("* error: the server could not save your message")
                        continue
                    # Sent only now, after the record is in the file: whatever a client saw
                    # acknowledged survives a crash of the server.
                    await websocket.send(f"You said: {message}")
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
            try:
                self.record(
                    client_id,
                    f"disconnected: {code} {reason}".rstrip(),
                    "event",
                    event="disconnect",
                    status=status,
                    code=code,
                    reason=reason,
                )
            except OSError as error:
                print(f"cannot write the log: {error}", file=sys.stderr, flush=True)
            print(f"{client_id} disconnected ({status}, code {code} {reason})", flush=True)
            self.broadcast(f"* {client_id} left")


# --- The operator's keyboard (seed 003) ---------------------------------------------------


async def operator_console(chat: Chat) -> None:
    """Send every line typed into the server's terminal to all clients."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read_keyboard() -> None:
        # readline() blocks, so it runs in its own thread and hands each line to the event
        # loop. A daemon thread, because no thread can be woken out of a blocking read: the
        # seed's asyncio.to_thread(input) uses a pool thread that asyncio.run() waits for at
        # exit, so Ctrl+C would hang until the operator pressed Enter.
        try:
            # An unbuffered file of its own on standard input: sys.stdin's buffer has a lock
            # that this thread holds while it waits, and Python aborts at exit if it cannot
            # take that lock. Bytes, so invalid UTF-8 cannot stop the console.
            with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as keyboard:
                while line := keyboard.readline():
                    loop.call_soon_threadsafe(lines.put_nowait, line.decode("utf-8", "replace"))
        except (OSError, ValueError):
            pass  # standard input is closed or broken: the same as its end
        try:
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # the server is already shutting down

    if sys.stdin is None:
        return  # started without a console at all (pythonw)
    threading.Thread(target=read_keyboard, daemon=True).start()
    # At the end of input (a closed stdin, /dev/null, a finished pipe) the console just stops;
    # the seed looped on the EOFError and printed errors forever.
    while (line := await lines.get()) is not None:
        if text := line.rstrip("\r\n"):
            chat.announce(text)


# --- Starting and stopping ----------------------------------------------------------------


def on_stop_signals(stop: asyncio.Event) -> None:
    """Make Ctrl+C (SIGINT), SIGTERM and Windows' Ctrl+Break set `stop`."""
    loop = asyncio.get_running_loop()
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    for signum in [getattr(signal, name) for name in names if hasattr(signal, name)]:
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows: a plain handler that wakes the loop
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run(host: str, port: int, log: JsonLog) -> None:
    chat = Chat(log)
    stop = asyncio.Event()
    on_stop_signals(stop)
    async with serve(
        chat.handle,
        host,
        port,
        max_size=MAX_MESSAGE_BYTES,
        close_timeout=CLOSE_TIMEOUT_SECONDS,
    ) as server:
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        if ":" in bound_host:
            bound_host = f"[{bound_host}]"
        print(f"Listening on ws://{bound_host}:{bound_port}", flush=True)
        print(f"Logging to {log.path.resolve()}", flush=True)
        print("Type a line here to send it to every client.", flush=True)
        console = asyncio.create_task(operator_console(chat))
        await stop.wait()
        console.cancel()
        print("Stopping: closing every session.", flush=True)
        # Every open connection gets a close frame with 1001 (going away) and the reason.
        server.close(code=CloseCode.GOING_AWAY, reason=GOODBYE)
        await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket chat that logs to a JSON file.")
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
        "--log",
        type=Path,
        default=Path(DEFAULT_LOG),
        help="JSON file of every message and event, continued if it exists "
        "(default: %(default)s in the current directory)",
    )
    args = parser.parse_args()

    try:
        log = JsonLog(args.log)
    except (OSError, ValueError) as error:
        sys.exit(f"cannot use the log {args.log}: {error}")
    try:
        asyncio.run(run(args.host, args.port, log))
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error}")
    finally:
        log.close()
    print(f"Stopped. {log.records} records added to {args.log}.", flush=True)


if __name__ == "__main__":
    main()
