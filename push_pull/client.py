#!/usr/bin/env python3
"""Push vs Pull client: follows push_pull/server.py's events one of four ways (seed 001, the
lecture's Push vs Pull).

What it teaches: the same events cost a different number of requests and bytes, and arrive
with a different delay, depending on who starts the conversation: polling and long polling
ask again and again (pull), SSE and a WebSocket keep one connection the server sends on (push).

Protocol: GET /poll?after=ID and /longpoll?after=ID answer a JSON list of events; GET /sse is a
text/event-stream of `id:`/`data:` messages; /ws sends one event's JSON per text frame. An
event is {"id": 7, "time": <UNIX time published>, "data": "..."}.

    python push_pull/client.py --method sse          # or poll, longpoll, ws; `exit` ends it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import aiohttp
from console import Console
from yarl import URL

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_INTERVAL = 1.0  # seconds between two polls
CONNECT_TIMEOUT_SECONDS = 10.0
READ_BUFFER_BYTES = 1 << 20  # an SSE line holds a whole event: allow long ones
METHODS = ["poll", "longpoll", "sse", "ws"]


@dataclass
class Tally:
    """What following the events cost, as this client sees it."""

    requests: int = 0  # HTTP requests; a WebSocket's handshake is one
    bytes: int = 0  # response heads and bodies, WebSocket messages
    delays: list[float] = field(default_factory=list)  # seconds, one per event
    first_answer: asyncio.Event = field(default_factory=asyncio.Event)

    def answered(self, response: aiohttp.ClientResponse) -> None:
        response.raise_for_status()
        self.requests += 1
        self.first_answer.set()
        # Status line and headers as sent: `HTTP/1.1 200 OK\r\n`, `Name: value\r\n`..., `\r\n`.
        head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n\r\n")
        self.bytes += head + sum(len(name) + len(value) + 4 for name, value in response.raw_headers)

    def summary(self) -> str:
        def percentile(p: float) -> str:
            if not self.delays:
                return "n/a"
            ordered = sorted(self.delays)
            return f"{ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000:.1f} ms"

        return (
            f"summary: events {len(self.delays)}, HTTP requests {self.requests}, "
            f"bytes received {self.bytes}, delay p50 {percentile(50)}, p99 {percentile(99)}"
        )


Deliver = Callable[[dict], None]


# --- The four ways --------------------------------------------------------------------------------
async def poll(session, base: URL, after: int, tally: Tally, deliver: Deliver, interval: float):
    """Pull: ask every `interval` seconds, whether or not anything happened."""
    while True:
        async with session.get(base / "poll", params={"after": after}) as response:
            tally.answered(response)
            body = await response.read()
        tally.bytes += len(body)
        for event in json.loads(body):
            deliver(event)
            after = event["id"]
        await asyncio.sleep(interval)


async def longpoll(session, base: URL, after: int, tally: Tally, deliver: Deliver, _=0.0):
    """Pull, held: the server keeps each request until there is news; then ask again at once."""
    while True:
        async with session.get(base / "longpoll", params={"after": after}) as response:
            tally.answered(response)
            body = await response.read()
        tally.bytes += len(body)
        for event in json.loads(body):
            deliver(event)
            after = event["id"]


async def sse(session, base: URL, after: int, tally: Tally, deliver: Deliver, _=0.0):
    """Push over HTTP: one response that goes on; a blank line ends each message."""
    async with session.get(base / "sse", params={"after": after}) as response:
        tally.answered(response)
        data: list[str] = []
        async for raw in response.content:
            tally.bytes += len(raw)
            line = raw.decode("utf-8").rstrip("\r\n")
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
            elif not line and data:  # a message is complete (`:` lines are comments)
                deliver(json.loads("\n".join(data)))
                data = []


async def ws(session, base: URL, after: int, tally: Tally, deliver: Deliver, _=0.0):
    """Push over a WebSocket: after the handshake, every text frame is one event."""
    url = base.with_scheme("wss" if base.scheme == "https" else "ws") / "ws"
    async with session.ws_connect(url.with_query(after=after)) as socket:
        tally.requests += 1  # the handshake: GET /ws with `Upgrade: websocket`
        tally.first_answer.set()
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                tally.bytes += len(message.data.encode("utf-8"))
                deliver(json.loads(message.data))


FOLLOW: dict[str, Callable[..., Awaitable[None]]] = {
    "poll": poll,
    "longpoll": longpoll,
    "sse": sse,
    "ws": ws,
}


# --- The terminal ---------------------------------------------------------------------------------
def show(event: dict, tally: Tally, console: Console) -> None:
    delay = time.time() - event["time"]  # same machine, same clock as the server's
    tally.delays.append(delay)
    text = str(event["data"]).replace("\r", "\\r").replace("\n", "\\n")  # one line per event
    console.show(f"#{event['id']} {delay * 1000:.1f} ms  {text}")


async def until_exit(console: Console) -> None:
    async for _line in console:
        pass  # input is watched only for `exit` and its end


async def run(method: str, base: URL, after: int, interval: float, tally: Tally) -> int:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_SECONDS)
    session = aiohttp.ClientSession(timeout=timeout, read_bufsize=READ_BUFFER_BYTES)
    with Console() as console:
        async with session:
            deliver = partial(show, tally=tally, console=console)
            follower = asyncio.create_task(
                FOLLOW[method](session, base, after, tally, deliver, interval)
            )
            # First the server answers or fails: a failure is worth its line even after `exit`.
            answered = asyncio.create_task(tally.first_answer.wait())
            await asyncio.wait({answered, follower}, return_when=asyncio.FIRST_COMPLETED)
            ended = asyncio.create_task(until_exit(console))
            done, _ = await asyncio.wait({ended, follower}, return_when=asyncio.FIRST_COMPLETED)
            for task in (answered, ended, follower):
                task.cancel()
            await asyncio.gather(answered, ended, follower, return_exceptions=True)
    error = None if follower.cancelled() else follower.exception()
    if error is None:
        if ended not in done:  # an SSE response that ended, a WebSocket the server closed
            print(f"the server at {base} ended the stream", file=sys.stderr)
        return 0
    why = getattr(getattr(error, "os_error", None), "strerror", None) or error
    if isinstance(error, aiohttp.ClientResponseError):
        print(f"{base} answered HTTP {error.status} {error.message}", file=sys.stderr)
    elif tally.requests == 0:
        print(f"cannot connect to {base}: {why or type(error).__name__}", file=sys.stderr)
    else:
        print(f"lost the connection to {base}: {why or type(error).__name__}", file=sys.stderr)
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description="Follow push_pull's events one of four ways.")
    parser.add_argument(
        "--method", choices=METHODS, default="sse", help="how to follow them (default: %(default)s)"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument(
        "--url",
        help="the server's full URL, e.g. http://127.0.0.1:8083 (overrides --host and --port)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help="seconds between two polls, for --method poll (default: %(default)s)",
    )
    parser.add_argument(
        "--after",
        type=int,
        default=0,
        help="start after this event id (default: 0, every event the server still holds)",
    )
    args = parser.parse_args()
    base = URL(args.url or f"http://{args.host}:{args.port}")
    tally = Tally()
    try:
        status = asyncio.run(run(args.method, base, args.after, max(args.interval, 0.0), tally))
    except KeyboardInterrupt:
        status = 0  # Ctrl+C is how a user says "enough": no traceback, no error
    if tally.requests:
        print(tally.summary(), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
