#!/usr/bin/env python3
"""Chat server on asyncio: one task reads each member, one task writes to it (grading fixture).

Protocol as in chat_tcp/README.md: UTF-8 lines; `/name NEW` renames; the server sends
`name: text` for messages and `* ...` for notices.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys

LINE_LIMIT = 16 * 1024  # bytes; longer lines are refused
QUEUE_SIZE = 256  # lines waiting for one member
PATIENCE = 3.0  # seconds a full queue may stay full before its member is cut off
VALID_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")


def quiet_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Shutting down already: a second Ctrl+C must not race the loop closing its wakeup fd."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


class Member:
    def __init__(self, writer: asyncio.StreamWriter, name: str) -> None:
        self.writer = writer
        self.name = name
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)
        self.pump = asyncio.create_task(self.send_queued())

    async def send_queued(self) -> None:
        try:
            while (data := await self.queue.get()) is not None:
                self.writer.write(data)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writer.close()

    async def put(self, text: str) -> bool:
        data = (text + "\n").encode()
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            try:
                await asyncio.wait_for(self.queue.put(data), PATIENCE)
            except TimeoutError:
                return False
        return True

    def finish(self) -> None:
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.pump.cancel()
            self.writer.close()
            while not self.queue.empty():  # wakes any session waiting in put() for room
                self.queue.get_nowait()


class Lobby:
    def __init__(self) -> None:
        self.members: list[Member] = []  # one event loop thread: no lock needed
        self.counter = 0
        self.sessions: dict[asyncio.Task, asyncio.StreamWriter] = {}

    def named(self, name: str) -> bool:
        return any(m.name == name for m in self.members)

    async def announce(self, text: str, skip: Member | None = None) -> None:
        for member in list(self.members):
            if member is not skip and member in self.members and not await member.put(text):
                await self.remove(member, "stopped reading and was kicked")

    async def remove(self, member: Member, reason: str) -> None:
        if member in self.members:
            self.members.remove(member)
            member.finish()
            await self.announce(f"* {member.name} {reason}")

    async def rename(self, member: Member, wanted: str) -> None:
        if not VALID_NAME.fullmatch(wanted):
            await member.put("* sorry, names are 1-32 chars of A-Z a-z 0-9 . _ -")
        elif self.named(wanted):
            await member.put(f"* sorry, {wanted} is already in use")
        else:
            old, member.name = member.name, wanted
            await member.put(f"* OK, you are {wanted} now")
            await self.announce(f"* {old} renamed to {wanted}", skip=member)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        self.sessions[me] = writer
        self.counter += 1
        member = Member(writer, f"guest-{self.counter}")
        while self.named(member.name):
            self.counter += 1
            member.name = f"guest-{self.counter}"
        self.members.append(member)
        await member.put(f"* hi {member.name}, {len(self.members) - 1} other(s) online")
        await self.announce(f"* {member.name} has arrived", skip=member)
        reason = "has gone"
        try:
            async for line in self.lines(reader, member):
                if line.startswith("/name "):
                    await self.rename(member, line[6:].strip())
                elif line.strip() and member in self.members:
                    await self.announce(f"{member.name}: {line}", skip=member)
        except (ConnectionError, OSError):
            reason = "lost the connection"
        finally:
            self.sessions.pop(me, None)
            await self.remove(member, reason)

    async def lines(self, reader: asyncio.StreamReader, member: Member):
        pending = bytearray()
        skipping = False
        while chunk := await reader.read(8192):
            pending += chunk
            while (end := pending.find(b"\n")) >= 0:
                raw = bytes(pending[:end])
                del pending[: end + 1]
                if skipping:
                    skipping = False
                    continue
                yield raw.decode("utf-8", "replace").removesuffix("\r")
            if len(pending) > LINE_LIMIT:
                pending.clear()
                if not skipping:
                    skipping = True
                    await member.put(f"* line too long (limit {LINE_LIMIT} bytes), dropped")
        # anything left in `pending` is a line the client never finished: dropped

    async def shutdown(self) -> None:
        members, self.members = self.members, []
        for member in members:
            with contextlib.suppress(asyncio.QueueFull):
                member.queue.put_nowait(b"* server going down\n")
            member.finish()
        if members:
            await asyncio.wait([m.pump for m in members], timeout=1.5)
        # End every session ourselves: on Python 3.11 a handler task cancelled by
        # asyncio.run() makes asyncio.start_server log a traceback.
        sessions = dict(self.sessions)
        for writer in sessions.values():
            writer.transport.abort()
        if sessions:
            await asyncio.wait(sessions, timeout=1)


async def serve(host: str, port: int) -> None:
    lobby = Lobby()
    server = await asyncio.start_server(lobby.session, host, port)
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, done.set)
    name = server.sockets[0].getsockname()
    print(f"chat ready. Listening on tcp://{name[0]}:{name[1]}", flush=True)
    await done.wait()
    quiet_signals(asyncio.get_running_loop())
    server.close()
    await asyncio.sleep(0.05)  # connections accepted a moment ago get their session started
    await lobby.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio chat server")
    parser.add_argument("--host", default="127.0.0.1", help="bind address")
    parser.add_argument("--port", default=12346, type=int, help="port, 0 picks a free one")
    options = parser.parse_args()
    try:
        asyncio.run(serve(options.host, options.port))
    except OSError as exc:
        sys.exit(f"cannot start on {options.host}:{options.port}: {exc.strerror}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
