#!/usr/bin/env python3
"""Alternative ws_chat_json server (a grading fixture): plain functions and module state.

The greeting and the client's id travel in one frame. The log is one open file descriptor
and the offset where its last record ends: an append writes `,` + record + `]` at that offset
with os.write(), and a start-up that finds anything but that tail after the last complete
record puts the tail back. The operator's keyboard is watched with loop.add_reader(), so no
thread waits on it (a thread reads stdin only when epoll refuses it: a regular file).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
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
from websockets.exceptions import ConnectionClosed

GREETING = "Добро пожаловать в чат!"  # seed 002, word for word
GOODBYE = "Сессия завершена. До свидания!"  # seed 002, word for word
OPERATOR_ID = "Server"  # client_id of the operator's records (README, log format)
HISTORY_LINES = 30
MAX_MESSAGE = 64 * 1024  # websockets closes a sender of anything bigger with 1009
SLOW_READER_BYTES = 4 * 1024 * 1024  # unsent bytes queued for one client before it is dropped
CLOSE_WAIT = 2.0  # seconds a client gets to answer a close frame

# --- module state: everything below runs on the event loop's one thread ----------------------

members: dict[ServerConnection, str] = {}
history: deque[str] = deque(maxlen=HISTORY_LINES)
numbers = itertools.count(1)
background: set[asyncio.Task[None]] = set()  # closes of slow readers, kept from the GC

LOG_TAIL = b"\n]\n"
log_path = Path("messages.json")
log_fd: int | None = None  # opened by the first append when the file does not exist yet
log_end: int | None = None  # offset just after the last record; None: the array is empty
SCAN_BYTES = 1024 * 1024  # more than the longest record line, a 64 KiB message fully escaped


# --- the JSON log ------------------------------------------------------------------------------


def open_log(path: Path) -> None:
    """Continue the log at `path` if there is one, mending a tail a crash left unfinished."""
    global log_path, log_fd, log_end
    log_path = path
    if not path.exists():
        if not path.parent.is_dir():
            raise FileNotFoundError(f"no directory {path.parent}")
        return  # created with its first record
    log_fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    size = os.lseek(log_fd, 0, os.SEEK_END)
    os.lseek(log_fd, 0, os.SEEK_SET)
    head = os.read(log_fd, 4096).lstrip()
    if not head:
        os.ftruncate(log_fd, 0)
        return
    if not head.startswith(b"["):
        raise ValueError("it is not a JSON array; move it away or pick another --log")
    start = max(0, size - SCAN_BYTES)
    os.lseek(log_fd, start, os.SEEK_SET)
    window = os.read(log_fd, size - start)
    if start:  # begin at a line boundary
        skip = window.index(b"\n") + 1
        start, window = start + skip, window[skip:]
    log_end = find_last_record(window, start)
    cut = 0 if log_end is None else log_end
    tail = b"" if log_end is None else LOG_TAIL
    os.lseek(log_fd, cut, os.SEEK_SET)
    if window[cut - start :] != tail:
        # Killed in the middle of an append: the unfinished line goes, every complete one stays.
        os.write(log_fd, tail)
        os.ftruncate(log_fd, cut + len(tail))
        print(f"{path}: mended the end of the log after an interrupted write", flush=True)


def find_last_record(window: bytes, start: int) -> int | None:
    """Offset just after the last complete record in `window` (found at `start` of the file)."""
    lines = window.split(b"\n")
    offsets = list(itertools.accumulate((len(line) + 1 for line in lines), initial=start))
    for line, at in zip(reversed(lines), reversed(offsets[:-1]), strict=True):
        lead = len(line) - len(line.lstrip(b" \t\r[,"))
        # `{..},]` is an append cut after its first byte; a record itself always ends in `}`.
        record = line[lead:].rstrip(b" \t\r]").rstrip(b" \t\r,")
        if not record:
            if b"[" in line[:lead]:
                return None  # reached the opening bracket: no complete record at all
            continue
        try:
            if isinstance(json.loads(record), dict):
                return at + lead + len(record)
        except ValueError:
            pass  # the unfinished line
    raise ValueError("no complete record near its end; move it away or pick another --log")


def append_record(client_id: str, message: str, sender: str, **event: Any) -> None:
    """Write one record; when this returns the bytes are in the kernel and the file is valid."""
    global log_fd, log_end
    record = {
        "time": datetime.now().astimezone().isoformat(timespec="milliseconds"),
        "client_id": client_id,
        "message": message,
        "sender": sender,
        **event,
    }
    line = json.dumps(record, ensure_ascii=False).encode("utf-8")
    if log_fd is None:
        log_fd = os.open(log_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    first = log_end is None
    data = (b"[\n" if first else b",\n") + line + LOG_TAIL
    at = 0 if log_end is None else log_end
    os.lseek(log_fd, at, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(log_fd, view) :]
    if first:
        os.ftruncate(log_fd, len(data))  # an old `[ ]` may have been longer
    log_end = at + len(data) - len(LOG_TAIL)


def log_event(client_id: str, message: str, **event: Any) -> None:
    """An event the chat goes on without if the disk refuses it."""
    try:
        append_record(client_id, message, "event", **event)
    except OSError as error:
        print(f"log write failed: {error}", file=sys.stderr, flush=True)


# --- the room ----------------------------------------------------------------------------------


def send_to_all(text: str, skip: ServerConnection | None = None) -> None:
    """Queue `text` for every member but `skip` at once; nobody waits for a slow reader."""
    readers = []
    for ws, client_id in members.items():
        if ws is skip:
            continue
        if ws.transport.get_write_buffer_size() > SLOW_READER_BYTES:
            if not any(task.get_name() == client_id for task in background):
                print(f"{client_id} reads too slowly; closing it", flush=True)
                task = asyncio.create_task(ws.close(1008, "too slow"), name=client_id)
                background.add(task)
                task.add_done_callback(background.discard)
            continue
        readers.append(ws)
    broadcast(readers, text)


def operator_says(text: str) -> None:
    if not text.strip():
        return
    try:
        append_record(OPERATOR_ID, text, "server")
    except OSError as error:
        print(f"log write failed, not sent: {error}", file=sys.stderr, flush=True)
        return
    line = f"[оператор] {text}"
    history.append(line)
    send_to_all(line)
    print(f"(to {len(members)}) {line}", flush=True)


def how_it_closed(ws: ServerConnection) -> tuple[int, str, str]:
    """Code, reason and status of a finished connection, for its disconnect record."""
    proto = ws.protocol
    rcvd, sent = proto.close_rcvd, proto.close_sent
    frame = rcvd if proto.close_rcvd_then_sent or sent is None else sent
    if frame is None:
        return 1006, "", "abnormal"  # the TCP connection just dropped
    polite = rcvd is not None and sent is not None and rcvd.code in (1000, 1001, 1005)
    return frame.code, frame.reason, "clean" if polite else "abnormal"


async def session(ws: ServerConnection) -> None:
    client_id = f"Client_{next(numbers)}"
    peer = ":".join(str(part) for part in ws.remote_address[:2])
    # broadcast([ws], ...) writes without awaiting: nothing can come in between the greeting,
    # the history and joining, so the greeting is first and no message falls in a gap.
    welcome = [f"{GREETING} Вы — {client_id}. Чтобы выйти, отправьте exit."]
    if history:
        welcome.append(f"— последние сообщения ({len(history)}) —")
        welcome.extend(history)
    for text in welcome:
        broadcast([ws], text)
    members[ws] = client_id
    log_event(client_id, f"connected from {peer}", event="connect")
    send_to_all(f"→ {client_id} вошёл в чат", skip=ws)
    print(f"+ {client_id} ({peer})", flush=True)
    try:
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send("(ошибка) принимаются только текстовые сообщения")
                continue
            if message == "exit":
                await ws.close(1000, GOODBYE)
                break
            try:
                append_record(client_id, message, "client")
            except OSError as error:
                await ws.send(f"(ошибка) сообщение не сохранено: {error.strerror}")
                continue
            line = f"[{client_id}] {message}"
            history.append(line)
            send_to_all(line, skip=ws)
            print(line[:100], flush=True)
            # Only now, with the record in the file: an acknowledged message survives kill -9.
            await ws.send(f"✔ доставлено: {message}")
    except ConnectionClosed:
        pass  # how it ended is read from the close frames below
    finally:
        del members[ws]
        await ws.wait_closed()
        code, reason, status = how_it_closed(ws)
        log_event(
            client_id,
            f"disconnected: {code} {reason}".rstrip(),
            event="disconnect",
            status=status,
            code=code,
            reason=reason,
        )
        send_to_all(f"← {client_id} покинул чат")
        print(f"- {client_id} ({status}, {code} {reason})".rstrip(), flush=True)


# --- the operator's keyboard (seed 003) --------------------------------------------------------


def watch_keyboard(loop: asyncio.AbstractEventLoop) -> None:
    """Send every line that arrives on standard input to all; at its end simply stop."""
    try:
        os.fstat(0)
    except OSError:
        return  # started with standard input closed
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""

    def feed(data: bytes) -> None:
        nonlocal pending
        *lines, pending = (pending + decoder.decode(data, final=not data)).split("\n")
        for line in lines:
            operator_says(line.rstrip("\r"))
        if not data and pending:
            operator_says(pending)

    def readable() -> None:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)  # the end of input: no more wake-ups, so no spinning
        feed(data)

    def pump() -> None:
        try:
            while data := os.read(0, 65536):
                loop.call_soon_threadsafe(feed, data)
        except OSError:
            pass  # closed under us: the same as its end
        try:
            loop.call_soon_threadsafe(feed, b"")
        except RuntimeError:
            pass  # the loop is already closed

    try:
        loop.add_reader(0, readable)
    except (OSError, ValueError, NotImplementedError):
        # epoll refuses regular files and /dev/null, Windows has no add_reader for pipes.
        threading.Thread(target=pump, daemon=True).start()


# --- start and stop ----------------------------------------------------------------------------


async def run(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stopping.set)
        except NotImplementedError:  # Windows
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stopping.set))
    async with serve(session, host, port, max_size=MAX_MESSAGE, close_timeout=CLOSE_WAIT) as srv:
        bound = srv.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        print(f"Listening on ws://{shown}:{bound[1]}", flush=True)
        print(f"Log: {log_path.resolve()}; type a line here to send it to everyone.", flush=True)
        watch_keyboard(loop)
        await stopping.wait()
        print("Shutting down.", flush=True)
        # Everyone gets 1001 with the goodbye; leaving `async with` then waits for every
        # session to write its disconnect record.
        closes = [ws.close(1001, GOODBYE) for ws in list(members)]
        await asyncio.gather(*closes, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="WebSocket chat with a JSON log of everything.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--log",
        type=Path,
        default=Path("messages.json"),
        help="the JSON log, continued when it exists (default: ./messages.json)",
    )
    args = parser.parse_args()
    try:
        open_log(args.log)
    except (OSError, ValueError) as error:
        sys.exit(f"cannot use {args.log} as the log: {error}")
    try:
        asyncio.run(run(args.host, args.port))
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error}")
    finally:
        if log_fd is not None:
            os.close(log_fd)
    print("Bye.", flush=True)


if __name__ == "__main__":
    main()
