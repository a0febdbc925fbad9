"""Supplied: not part of the lesson, read it if you are curious.

The door of an aiohttp WebSocket server; the same file in every folder that has one.

Who may come in. A browser lets any web page open a WebSocket to 127.0.0.1, with the
visitor's cookies (cross-site WebSocket hijacking), but it names the page in the `Origin`
header, which a page cannot change. Clients that send no Origin (terminal clients, websocat)
and pages of this server's own host:port come in; other pages get 403 before the upgrade,
unless they are allowed with --allow-origin.

Seeing everyone out. When the server stops, every open WebSocket gets a close frame 1001
"going away", also one whose handshake was still on its way when the shutdown began.

    @websocket(heartbeat=30)            # the options of aiohttp's WebSocketResponse
    async def echo(request, ws): ...    # ws is open; return when the conversation is over
    install(app, allowed_origins)       # once, where the app is made
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import WSCloseCode, web

Handler = Callable[[web.Request, web.WebSocketResponse], Awaitable[None]]
SOCKETS = web.AppKey("doorman_sockets", set[web.WebSocketResponse])  # open right now
STOPPING = web.AppKey("doorman_stopping", asyncio.Event)  # set when the shutdown begins
ALLOWED = web.AppKey("doorman_allowed_origins", frozenset[str])  # --allow-origin


def add_allow_origin_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept WebSockets from web pages of ORIGIN, e.g. http://localhost:3000 "
        "(repeatable; pages of this server's own host:port are always accepted)",
    )


def install(app: web.Application, allowed_origins: Iterable[str] = ()) -> None:
    app[SOCKETS] = set()
    app[STOPPING] = asyncio.Event()
    app[ALLOWED] = frozenset(allowed_origins)
    app.on_shutdown.append(see_everyone_out)


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser: a terminal client, websocat, a test
        return True
    same_site = origin.partition("://")[2] == request.host  # our own page: the same host:port
    return same_site or origin in request.app[ALLOWED]


def websocket(**options) -> Callable[[Handler], Callable[[web.Request], Awaitable]]:
    """Turn `handler(request, ws)` into an aiohttp handler that opens the WebSocket first."""

    def decorate(handler: Handler) -> Callable[[web.Request], Awaitable]:
        @functools.wraps(handler)
        async def serve(request: web.Request) -> web.StreamResponse:
            if not origin_allowed(request):  # still plain HTTP: refuse before the upgrade
                print(f"refused a WebSocket from {request.headers['Origin']!r}", flush=True)
                raise web.HTTPForbidden(text="this page's origin may not open a WebSocket here\n")
            ws = web.WebSocketResponse(**options)
            try:
                await ws.prepare(request)  # the handshake: from here on, WebSocket, not HTTP
            except ConnectionError:  # the client left before our 101 answer went out
                return web.Response()  # aiohttp wants a response to finish with
            request.app[SOCKETS].add(ws)
            try:
                if request.app[STOPPING].is_set():  # it came in as the server was closing
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
                else:
                    await handler(request, ws)
            finally:
                request.app[SOCKETS].discard(ws)
            return ws

        return serve

    return decorate


async def see_everyone_out(app: web.Application) -> None:
    """On shutdown: 1001 "going away" to every open WebSocket, instead of just vanishing."""
    app[STOPPING].set()
    await asyncio.gather(
        *(
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            for ws in set(app[SOCKETS])
        ),
        return_exceptions=True,  # one broken connection must not stop the others' goodbye
    )
