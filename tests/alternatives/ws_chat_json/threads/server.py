#!/usr/bin/env python3
"""Alternative ws_chat_json server (a grading fixture): threads instead of asyncio.

websockets' sync server runs a thread per client; each member also has an outbox drained by
a sender thread of its own, so a slow reader never holds up the others. One lock covers the
room and the log, so records and fan-out happen in one order for everybody. The log is a
JSON array written "leading comma" style and only ever extended at its end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import signal
import socket
import sys
import threading
from collections import deque
from datetime import datetime
from pathlib import Path

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.server import ServerConnection, serve

GREETING = "Добро пожаловать в чат!"  # seed 002, word for word
GOODBYE = "Сессия завершена. До свидания!"  # seed 002, word for word
BACKLOG = 30  # messages shown to a newcomer
FRAME_LIMIT = 128 * 1024  # bigger frames: websockets closes that client with 1009
OUTBOX_FRAMES = 5000  # frames waiting for one client before it is cut off
CLOSE = object()  # outbox marker: close with 1000 and the goodbye


class JsonArrayLog:
    """`[` / `{first}` / `,{next}` / ... / `]`, one record per line, appended in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = None
        self.bracket = 0  # offset of the closing `]`
        self.empty = True
        if path.exists() and path.stat().st_size:
            self._continue()

    def _continue(self) -> None:
        data = self.path.read_bytes()  # at start-up only; appends never read
        self.file = open(self.path, "r+b", buffering=0)  # noqa: SIM115
        body = data.rstrip()
        if body.endswith(b"]"):
            if not body.lstrip().startswith(b"["):
                raise ValueError("not a JSON array")
            self.bracket = len(body) - 1
            self.empty = body[:-1].strip() == b"["
            return
        # Torn by a crash mid-write: keep everything up to the last complete record.
        end, offset = None, 0
        for line in data.splitlines(keepends=True):
            core = line.strip().lstrip(b"[").strip().strip(b",").strip()
            try:
                if isinstance(json.loads(core), dict):
                    end = offset + line.rindex(b"}") + 1
            except ValueError:
                pass
            offset += len(line)
        if end is None:
            if not data.lstrip().startswith(b"["):
                raise ValueError("not a JSON array")
            self.file.truncate(0)
            self.file.close()
            self.file = None
            return
        self.file.seek(end)
        self.file.write(b"\n]\n")
        self.file.truncate()
        self.bracket, self.empty = end + 1, False
        print(f"{self.path}: cut an unfinished record off the end", flush=True)

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False).encode()
        if self.file is None:
            self.file = open(self.path, "w+b", buffering=0)  # noqa: SIM115
            chunk, at = b"[\n" + line + b"\n]\n", 0
        else:
            chunk, at = (b"" if self.empty else b",") + line + b"\n]\n", self.bracket
        self.file.seek(at)
        view = memoryview(chunk)
        while view:  # unbuffered: each write reaches the kernel before we go on
            view = view[self.file.write(view) :]
        self.file.truncate()
        self.bracket, self.empty = at + len(chunk) - 2, False


class Member:
    def __init__(self, conn: ServerConnection, name: str) -> None:
        self.conn, self.name = conn, name
        self.outbox: queue.Queue = queue.Queue(OUTBOX_FRAMES)
        self.leaving = False
        threading.Thread(target=self._drain, daemon=True).start()

    def post(self, item) -> bool:
        try:
            self.outbox.put_nowait(item)
            return True
        except queue.Full:
            return False

    def cut_off(self) -> None:
        try:
            self.conn.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drain(self) -> None:
        try:
            while (item := self.outbox.get()) is not None:
                if item is CLOSE:
                    self.conn.close(1000, GOODBYE)
                    return
                self.conn.send(item)
        except (ConnectionClosed, OSError):
            pass


class Room:
    def __init__(self, log: JsonArrayLog) -> None:
        self.log = log
        self.lock = threading.Lock()
        self.members: list[Member] = []
        self.backlog: deque[str] = deque(maxlen=BACKLOG)
        self.serial = itertools.count(1)

    def write(self, who: str, text: str, kind: str, **extra) -> None:
        stamp = datetime.now().astimezone().isoformat()
        self.log.append({"time": stamp, "client_id": who, "message": text, "sender": kind, **extra})

    def fan_out(self, text: str, skip: Member | None = None) -> None:
        """Caller holds the lock. Never blocks: it only fills outboxes."""
        for member in self.members:
            if member is not skip and not member.post(text):
                print(f"{member.name} reads too slowly; cutting it off", flush=True)
                member.cut_off()

    def operator(self, text: str) -> None:
        with self.lock:
            self.write("Server", text, "server")
            self.backlog.append(f"Server: {text}")
            self.fan_out(f"Server: {text}")
        print(f"(to everyone) Server: {text}", flush=True)

    def session(self, conn: ServerConnection) -> None:
        host, port = conn.remote_address[:2]
        peer = f"{host}:{port}"
        with self.lock:
            member = Member(conn, f"Client_{next(self.serial)}")
            member.post(GREETING)
            member.post(f"* your name is {member.name} (type exit to leave)")
            if self.backlog:
                member.post(f"* catching up on {len(self.backlog)} earlier messages")
                for line in self.backlog:
                    member.post(line)
            self.members.append(member)
            self.write(member.name, f"joined from {peer}", "event", event="connect")
            self.fan_out(f"* {member.name} has entered", skip=member)
        print(f"+ {member.name} ({peer})", flush=True)
        clean = False
        try:
            for frame in conn:
                if member.leaving:
                    continue
                if isinstance(frame, bytes):
                    member.post("* error: only text frames please")
                elif frame.strip() == "exit":
                    member.leaving = True
                    member.post(CLOSE)  # after every reply already queued for it
                elif frame.strip():
                    self.say(member, frame)
            clean = True
        except ConnectionClosedOK:
            clean = True
        except ConnectionClosed:
            pass
        finally:
            self.leave(member, clean)

    def say(self, member: Member, text: str) -> None:
        with self.lock:
            try:
                self.write(member.name, text, "client")
            except OSError as error:
                print(f"log write failed: {error}", file=sys.stderr, flush=True)
                member.post("* error: your message could not be stored")
                return
            self.backlog.append(f"{member.name}: {text}")
            member.post(f"You said: {text}")  # only once it is in the file
            self.fan_out(f"{member.name}: {text}", skip=member)

    def leave(self, member: Member, clean: bool) -> None:
        frame = member.conn.protocol.close_rcvd or member.conn.protocol.close_sent
        code, reason = (frame.code, frame.reason) if frame else (1006, "")
        status = "clean" if clean else "abnormal"
        with self.lock:
            self.members.remove(member)
            member.post(None)
            try:
                self.write(
                    member.name, f"left ({code} {reason})".replace(" )", ")"), "event",
                    event="disconnect", status=status, code=code, reason=reason,
                )  # fmt: skip
            except OSError as error:
                print(f"log write failed: {error}", file=sys.stderr, flush=True)
            self.fan_out(f"* {member.name} has left")
        print(f"- {member.name} ({status}, {code})", flush=True)


def keyboard(room: Room) -> None:
    """The operator's lines; raw reads, so invalid UTF-8 or a closed stdin cannot hurt."""
    pending = b""
    try:
        while chunk := os.read(0, 4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if text := line.decode("utf-8", "replace").strip("\r"):
                    room.operator(text)
    except OSError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="Threaded WebSocket chat with a JSON log.")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--log", type=Path, default=Path("messages.json"), help="JSON log file")
    args = parser.parse_args()
    try:
        room = Room(JsonArrayLog(args.log))
        server = serve(room.session, args.host, args.port, max_size=FRAME_LIMIT, close_timeout=2)
    except (OSError, ValueError) as error:
        sys.exit(f"cannot start: {error}")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.socket.getsockname()[:2]
    print(f"Listening on ws://{host}:{port} -- log: {args.log}", flush=True)
    threading.Thread(target=keyboard, args=(room,), daemon=True).start()
    while not stop.wait(0.5):
        pass
    print("shutting down", flush=True)
    server.shutdown(code=1001, reason=GOODBYE)  # closes every session, waits for handlers
    print("done", flush=True)


if __name__ == "__main__":
    main()
