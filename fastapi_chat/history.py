"""Supplied: not part of the lesson, read it if you are curious.

The room's memory: its last messages in order, each kept once however many members read it,
each with an id a client can come back with (?since=ID). Ids are written the way Redis numbers
the entries of a stream, `milliseconds-sequence` (1733090000123-0, 1733090000123-1, ...), so
that a client sees the same kind of id with or without Redis, and an id from an earlier run of
the server is older than every new one.

    history = History(limit=10_000, limit_bytes=16 * 1024 * 1024)
    history.add(message_id, text)           # its place in this history: history.last_seq
    entry = history.after(seq)              # the message after place `seq`, or None
    history.forget(up_to=seq, size=100)     # make room, forgetting nothing after place `seq`

LocalStream numbers and hands on the room's messages when there is no Redis; RedisStream
(redis_stream.py) does the same job through Redis, for several processes.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

MESSAGE_ID = re.compile(r"(\d+)-(\d+)")


def order_of(message_id: str) -> tuple[int, int]:
    """An id as numbers, to compare: 1733090000123-1 comes after 1733090000123-0."""
    ms, _, number = message_id.partition("-")
    return int(ms), int(number or 0)


@dataclass(slots=True)
class Entry:
    """One message of the history."""

    seq: int  # its place in this process's history: 1, 2, 3...
    id: str  # what clients see; the same in every process
    order: tuple[int, int]  # the id as numbers
    text: str
    skip: str  # the key of a member that does not get it (a joiner, for its own join notice)
    size: int  # bytes of UTF-8


class History:
    """The last messages, at most `limit` of them and `limit_bytes` bytes of text. It forgets
    one only when forget() says that every reader is past it."""

    def __init__(self, limit: int, limit_bytes: int) -> None:
        self.entries: deque[Entry] = deque()
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.bytes = 0
        self.last_seq = 0
        self.last_order = (0, 0)

    def add(self, message_id: str, text: str, skip: str = "") -> None:
        """Append a message (it may take the history past its bounds: see forget())."""
        self.last_seq += 1
        self.last_order = order_of(message_id)
        size = len(text.encode())
        self.entries.append(Entry(self.last_seq, message_id, self.last_order, text, skip, size))
        self.bytes += size

    def full(self, size: int) -> bool:
        """Would one more message of `size` bytes go past a bound?"""
        return len(self.entries) >= self.limit or self.bytes + size > self.limit_bytes

    def forget(self, up_to: int, size: int) -> bool:
        """Forget the oldest messages, none after place `up_to`, until one more message of
        `size` bytes fits; True if it fits."""
        while self.full(size) and self.entries and self.entries[0].seq <= up_to:
            self.bytes -= self.entries.popleft().size
        return not self.full(size)

    def after(self, seq: int) -> Entry | None:
        """The message right after place `seq` (a place not yet forgotten), or None."""
        if seq >= self.last_seq:
            return None
        return self.entries[seq + 1 - self.entries[0].seq]

    def place_after(self, since: str | None) -> tuple[int, tuple[int, int]]:
        """Where a reader starts that has message `since` (an id) and those before it: the
        place of the newest message it has, or the end; and `since` as numbers."""
        if since is None or not MESSAGE_ID.fullmatch(since):
            return self.last_seq, (0, 0)
        after = order_of(since)
        had = bisect.bisect_right(self.entries, after, key=lambda entry: entry.order)
        first = self.entries[0].seq if self.entries else self.last_seq + 1
        return first + had - 1, after


class Room(Protocol):
    history: History

    def deliver(self, message_id: str, text: str, skip: str = "") -> None: ...


class LocalStream:
    """The room's messages without Redis: numbered here, and handed straight to the room."""

    def __init__(self, room: Room) -> None:
        self.room = room

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def add(self, text: str, skip: str = "") -> asyncio.Future[bool]:
        """Number the message and deliver it; the future (already done) says it was."""
        ms, number = self.room.history.last_order
        now = int(time.time() * 1000)
        self.room.deliver(f"{now}-0" if now > ms else f"{ms}-{number + 1}", text, skip)
        done = asyncio.get_running_loop().create_future()
        done.set_result(True)
        return done
