"""Supplied: not part of the lesson, read it if you are curious.

One room for several server processes, on one machine or many: the room's messages live in a
Redis stream. Each process appends what its members say (XADD), follows the stream from the
last id it has (XREAD BLOCK), and hands every entry to its own room, so every member of every
process gets the same messages in the same order, with the ids Redis gave them.

Why a stream and not pub/sub: pub/sub forgets a message as soon as it is published, so a
process that is reconnecting to Redis misses whatever was said meanwhile. A stream keeps its
entries, each with an id: whoever was away asks for what came after the last id it had.

    stream = RedisStream("redis://127.0.0.1:6379/0", room, tail=10_000)
    await stream.start()          # the stream's last entries into the room; then follow it
    ok = await stream.add(text)   # False: Redis did not take it
    await stream.stop()

`room` needs two methods: deliver(message_id, text, skip) and `await make_room(size)`. The
same three calls without Redis are history.LocalStream's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

KEY = "fastapi_chat:room"
# Redis trims the stream to about this many entries (MAXLEN ~): a process that falls further
# behind than that (its readers too slow for too long) misses the oldest of them.
LENGTH = 10_000
BLOCK_MS = 2_000  # one XREAD waits this long for news, then asks again
BATCH = 500  # entries one XREAD may bring
CONNECT_SECONDS = 2.0
WRITE_SECONDS = 1.5  # an XADD that takes longer counts as failed: its sender is told at once
FIRST_RETRY_SECONDS = 0.2  # after a failure; doubled after each one, up to the next line
MAX_RETRY_SECONDS = 5.0
STOP_SECONDS = 0.5  # at shutdown, how long entries still queued (leave notices) may take
DOWN = (RedisError, OSError, TimeoutError)  # what a command raises when Redis is away


class Room(Protocol):
    def deliver(self, message_id: str, text: str, skip: str = "") -> None: ...

    async def make_room(self, size: int) -> None: ...


class RedisStream:
    """A room's history in a Redis stream: one writer task and one follower task per process."""

    def __init__(self, url: str, room: Room, tail: int) -> None:
        # One quick retry on a new connection, for a pooled one that Redis closed when it
        # restarted; no more, so that a sender hears at once that Redis is away. The follower
        # retries by itself, with backoff.
        self.redis = redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=BLOCK_MS / 1000 + CONNECT_SECONDS,
            socket_connect_timeout=CONNECT_SECONDS,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        where = self.redis.connection_pool.connection_kwargs
        self.where = where.get("path") or f"{where.get('host')}:{where.get('port')}"
        self.room = room
        self.tail = tail
        self.outbox: asyncio.Queue[tuple[str, str, asyncio.Future[bool]]] = asyncio.Queue()
        self.up = True
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        last = await self.load_tail()
        self.tasks = [asyncio.create_task(self.follow(last)), asyncio.create_task(self.write())]

    def add(self, text: str, skip: str = "") -> asyncio.Future[bool]:
        """Queue an entry for the stream; the future says whether Redis took it."""
        done = asyncio.get_running_loop().create_future()
        self.outbox.put_nowait((text, skip, done))
        return done

    async def stop(self) -> None:
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await self.outbox.join()  # the notices of members who just left, say
        except TimeoutError:
            pass  # Redis is away: they are lost, as the outage has been logged
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks)
        await self.redis.aclose()

    async def load_tail(self) -> str:
        """Put the stream's last entries into the room; return the id to follow it from."""
        try:
            entries = await self.redis.xrevrange(KEY, count=self.tail)
        except DOWN as error:
            self.went_away(error)
            return f"{int(time.time() * 1000)}-0"  # ids are times: follow it from now on
        for message_id, fields in reversed(entries):
            self.room.deliver(message_id, fields.get("text", ""), fields.get("skip", ""))
        return entries[0][0] if entries else "0-0"

    async def follow(self, last: str) -> None:
        """The follower task: every entry after `last`, in order, into this process's room."""
        retry = FIRST_RETRY_SECONDS
        while True:
            try:
                reply = await self.redis.xread({KEY: last}, block=BLOCK_MS, count=BATCH)
            except DOWN as error:
                self.went_away(error)
                await asyncio.sleep(retry)
                retry = min(2 * retry, MAX_RETRY_SECONDS)  # do not hammer a Redis that restarts
                continue
            self.came_back()
            retry = FIRST_RETRY_SECONDS
            for _key, entries in reply:
                for message_id, fields in entries:
                    text = fields.get("text", "")
                    # The room's history is bounded: wait for room as its own senders do.
                    # Meanwhile the stream keeps what comes.
                    await self.room.make_room(len(text.encode()))
                    self.room.deliver(message_id, text, fields.get("skip", ""))
                    last = message_id

    async def write(self) -> None:
        """The writer task: appends this process's entries in the order they were said."""
        while True:
            text, skip, done = await self.outbox.get()
            try:
                async with asyncio.timeout(WRITE_SECONDS):
                    await self.redis.xadd(
                        KEY, {"text": text, "skip": skip}, maxlen=LENGTH, approximate=True
                    )
                self.came_back()
                ok = True
            except DOWN as error:
                self.went_away(error)
                ok = False
            if not done.done():  # a handler that was waiting for it may have ended
                done.set_result(ok)
            self.outbox.task_done()

    def went_away(self, error: Exception) -> None:
        if self.up:  # one line when Redis goes away, not one for every retry
            self.up = False
            why = str(error) or type(error).__name__
            print(f"Redis at {self.where} is unreachable ({why}); retrying", flush=True)

    def came_back(self) -> None:
        if not self.up:
            self.up = True
            print(f"Redis at {self.where} is back", flush=True)
