#!/usr/bin/env python3
"""Push vs Pull: one stream of events offered four ways (seed 001, the lecture's Push vs Pull).

What it teaches: a client hears about news because it asks (pull: polling, long polling) or
because the server sends (push: Server-Sent Events, WebSockets); here both work on the same
events, so their cost and delay compare side by side. And catching up after a reconnect is
the server's job: it keeps a history and replays what a client missed.

Protocol: an event is {"id": 7, "time": <UNIX time published>, "data": "..."}; ids grow by 1.
POST /events publishes its text body. GET /poll?after=ID and /longpoll?after=ID answer a JSON
list; GET /sse streams `id:`/`data:` messages; /ws?after=ID sends one event per text frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import count, islice
from pathlib import Path

import doorman
from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_RATE = 2.0  # ticker events per second
DEFAULT_LONGPOLL_TIMEOUT = 25.0  # proxies tend to drop a request silent for 30-60 s
HISTORY_SIZE = 1000  # events kept for clients that catch up
PING_SECONDS = 15.0  # an SSE comment this often shows proxies and clients the stream is alive
RETRY_MS = 1000  # how soon EventSource reconnects (its own default is about 3 s)
MAX_EVENT_BYTES = 16 * 1024  # a bigger POST /events body gets 413 from aiohttp
HEARTBEAT_SECONDS = 30.0  # ping idle WebSockets, so a vanished client is noticed
CLOSE_TIMEOUT_SECONDS = 1.0  # how long a WebSocket client gets to answer our close frame
SHUTDOWN_TIMEOUT_SECONDS = 3.0  # Ctrl+C must end the process within 5 s
PAGE = Path(__file__).resolve().parent.parent / "static" / "push_pull.html"

to_json = partial(json.dumps, ensure_ascii=False)  # Cyrillic stays readable in curl


class Hub:
    """Every event by id, the last HISTORY_SIZE kept for catching up, and a way to wait."""

    def __init__(self) -> None:
        self.history: deque[dict] = deque(maxlen=HISTORY_SIZE)
        self.last_id = 0
        self.closing = False
        self.open = {"longpoll": 0, "sse": 0, "ws": 0}  # streams open now, for /stats
        self._news = asyncio.Event()  # set and replaced on every publish: wakes every waiter

    def publish(self, data: str) -> dict:
        self.last_id += 1
        event = {"id": self.last_id, "time": time.time(), "data": data}
        self.history.append(event)
        self._news.set()
        self._news = asyncio.Event()
        return event

    def after(self, last_id: int) -> list[dict]:
        """The events held with an id above last_id, oldest first."""
        first = self.history[0]["id"] if self.history else 1
        return list(islice(self.history, max(0, last_id - first + 1), None))

    async def next_events(self, last_id: int, timeout: float | None) -> list[dict]:
        """The events after last_id; if there are none yet, wait up to timeout for one."""
        if not self.after(last_id) and not self.closing:
            try:
                await asyncio.wait_for(self._news.wait(), timeout)
            except TimeoutError:
                pass
        return self.after(last_id)

    def close(self) -> None:
        self.closing = True
        self._news.set()

    @contextmanager
    def opened(self, kind: str) -> Iterator[None]:
        self.open[kind] += 1
        try:
            yield
        finally:  # however the stream ends: done, client gone, handler cancelled
            self.open[kind] -= 1


HUB = web.AppKey("hub", Hub)
LONGPOLL_TIMEOUT = web.AppKey("longpoll_timeout", float)


def after_id(request: web.Request, text: str | None = None) -> int:
    """The last id the client has seen: `text`, else ?after=, else 0; 400 if not a number."""
    text = text or request.query.get("after") or "0"
    if not (text.isascii() and text.isdigit() and len(text) < 20):
        raise web.HTTPBadRequest(text="after must be a whole number, 0 or more\n")
    # An id we never gave out comes from an earlier run of this server (the history lived in
    # memory; ids start at 1 again): that client gets everything we hold.
    return 0 if int(text) > request.app[HUB].last_id else int(text)


async def poll(request: web.Request) -> web.Response:
    """Pull: answer at once with whatever is new, maybe nothing."""
    return web.json_response(request.app[HUB].after(after_id(request)), dumps=to_json)


async def longpoll(request: web.Request) -> web.Response:
    """Pull, held: answer as soon as there is something new, or [] after the timeout."""
    hub, last_id = request.app[HUB], after_id(request)
    with hub.opened("longpoll"):
        events = await hub.next_events(last_id, request.app[LONGPOLL_TIMEOUT])
    return web.json_response(events, dumps=to_json)


async def sse(request: web.Request) -> web.StreamResponse:
    """Push over plain HTTP: a response that never ends, an `id:`/`data:` message per event."""
    hub = request.app[HUB]
    # A reconnecting EventSource sends the last id it saw, but it replays nothing: we do.
    last_id = after_id(request, request.headers.get("Last-Event-ID"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    response.headers["Cache-Control"] = "no-cache"
    await response.prepare(request)
    with hub.opened("sse"):
        try:
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while not hub.closing:
                events = await hub.next_events(last_id, PING_SECONDS)
                if not events and not hub.closing:
                    await response.write(b": ping\n\n")  # a comment: clients ignore it
                for event in events:
                    await response.write(f"id: {event['id']}\ndata: {to_json(event)}\n\n".encode())
                    last_id = event["id"]
        except ConnectionResetError:
            pass  # the client left while we wrote
    return response


async def websocket(request: web.Request) -> web.StreamResponse:
    """Push over a WebSocket: a text frame per event; the client only ever closes."""
    request["after"] = after_id(request)  # a bad ?after= is a 400, before the handshake
    return await follow(request)


# doorman.py (supplied) opens the WebSocket: it refuses pages of other sites (Origin), and
# when the server stops it closes every open WebSocket with 1001 "going away".
@doorman.websocket(heartbeat=HEARTBEAT_SECONDS, timeout=CLOSE_TIMEOUT_SECONDS, max_msg_size=4096)
async def follow(request: web.Request, ws: web.WebSocketResponse) -> None:
    hub = request.app[HUB]
    with hub.opened("ws"):
        pusher = asyncio.create_task(push(ws, hub, request["after"]))
        try:
            async for _message in ws:  # we listen only to see the close
                pass
        finally:
            pusher.cancel()


async def push(ws: web.WebSocketResponse, hub: Hub, last_id: int) -> None:
    try:
        while not hub.closing:
            for event in await hub.next_events(last_id, None):
                await ws.send_str(to_json(event))
                last_id = event["id"]
    except ConnectionResetError:
        pass  # the client left while we sent; the handler's loop ends as well


async def publish(request: web.Request) -> web.Response:
    """POST /events: the text body becomes a new event; the answer is that event."""
    try:
        data = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="the body must be UTF-8 text\n") from None
    return web.json_response(request.app[HUB].publish(data), dumps=to_json)


async def stats(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    counts = {"open": sum(hub.open.values()), **hub.open, "last_id": hub.last_id}
    return web.json_response({**counts, "held": len(hub.history)})


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


# --- Starting and stopping ------------------------------------------------------------------------
async def ticker(app: web.Application, rate: float) -> AsyncIterator[None]:
    """cleanup_ctx: publish `rate` events a second for as long as the app runs."""
    task = asyncio.create_task(tick(app[HUB], rate)) if rate > 0 else None
    yield
    if task:
        task.cancel()


async def tick(hub: Hub, rate: float) -> None:
    for number in count(1):
        await asyncio.sleep(1 / rate)
        hub.publish(f"tick {number}")


async def stop_streams(app: web.Application) -> None:
    """on_shutdown: long polls answer [] and SSE streams end (the WebSockets: doorman.py)."""
    app[HUB].close()


def make_app(rate: float, longpoll_timeout: float, origins: frozenset[str]) -> web.Application:
    app = web.Application(client_max_size=MAX_EVENT_BYTES)
    app[HUB], app[LONGPOLL_TIMEOUT] = Hub(), longpoll_timeout
    doorman.install(app, origins)
    app.add_routes([web.get("/", page), web.post("/events", publish), web.get("/poll", poll)])
    app.add_routes([web.get("/longpoll", longpoll), web.get("/sse", sse)])
    app.add_routes([web.get("/ws", websocket), web.get("/stats", stats)])
    app.cleanup_ctx.append(partial(ticker, rate=rate))
    app.on_shutdown.append(stop_streams)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description="One stream of events, four ways to get it: /poll, /longpoll, /sse, /ws.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on, 0 for any free port"
    )
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="ticks a second, 0: none")
    parser.add_argument(
        "--longpoll-timeout",
        type=float,
        default=DEFAULT_LONGPOLL_TIMEOUT,
        help="seconds a long poll waits before it answers []",
    )
    doorman.add_allow_origin_option(parser)
    args = parser.parse_args()
    if args.rate < 0 or args.longpoll_timeout <= 0:
        parser.error("--rate must be 0 or more, --longpoll-timeout more than 0")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET  # IPv4 unless told
    try:
        sock = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL writes it
    # web.run_app handles Ctrl+C and SIGTERM; binding the socket ourselves lets the line show
    # the real port when --port is 0. handler_cancellation: without it aiohttp notices a client
    # that left only when it next writes, and a vanished long poll would keep its place.
    web.run_app(
        make_app(args.rate, args.longpoll_timeout, frozenset(args.allow_origin)),
        sock=sock,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        handler_cancellation=True,
        print=lambda _: print(f"Listening on http://{host}:{port}", flush=True),
    )
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
