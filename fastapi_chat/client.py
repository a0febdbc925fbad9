#!/usr/bin/env python3
"""Terminal client for the FastAPI WebSocket chat (seed 001, the FastAPI part).

What it teaches: the two waits of chat_tcp/client.py - the keyboard and the network - in one
event loop instead of two threads: a task prints what arrives while the main coroutine sends
what you type. console.py (supplied) reads the keyboard in a thread of its own and hands each
line to the loop, so nothing ever blocks it.

Protocol (fastapi_chat/README.md): text frames on /ws?name=NAME&since=ID. Everybody gets
`name: text`; notices start with `* `. Asking with `since` makes room messages come as
`ID TEXT`: the client keeps the last ID, so that `--since ID` can catch up on what it missed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from console import Console
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
GOODBYE_SECONDS = 5.0  # after `exit`, how long to wait for the replies we are owed
OPEN_TIMEOUT_SECONDS = 10.0
WITH_ID = re.compile(r"(\d+-\d+) (.*)", re.DOTALL)  # a room message: `ID TEXT`
WELCOME = re.compile(r"\* welcome, (\S+)!")


class Conversation:
    """What we sent and what came back, so that `exit` can wait for the replies still owed."""

    def __init__(self) -> None:
        self.name: str | None = None  # the server tells us in its welcome
        self.live = False  # our own join notice came: from here on, nothing is a catch-up
        self.last_id = ""  # of the last room message we got
        self.owed = 0
        self.answered = asyncio.Event()
        self.answered.set()

    def sent(self) -> None:
        self.owed += 1
        self.answered.clear()

    def received(self, text: str) -> str:
        """Take note of a message; return its text without the id."""
        if match := WITH_ID.fullmatch(text):
            self.last_id, text = match[1], match[2]
        if self.name is None and (match := WELCOME.match(text)):
            self.name = match[1]
        elif text == f"* {self.name} joined":
            self.live = True
        # The server answers each message once: our own `name: text`, or an `* error`.
        elif (self.live and text.startswith(f"{self.name}: ")) or text.startswith("* error"):
            self.owed = max(0, self.owed - 1)
            if not self.owed:
                self.answered.set()
        return text


async def print_messages(websocket: ClientConnection, console: Console, talk: Conversation) -> None:
    """The receiving task: print every message until the connection closes."""
    try:
        async for message in websocket:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            # One message, one line, even if it holds newlines.
            console.show(" ".join(talk.received(text).splitlines()))
    except ConnectionClosed:
        pass  # the connection broke without a close frame
    console.stop()  # the server went away: stop reading the keyboard too


async def chat(url: str, address: str) -> int:
    try:
        websocket = await connect(url, open_timeout=OPEN_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, InvalidHandshake) as error:
        print(f"cannot connect to {address}: {error}", file=sys.stderr, flush=True)
        return 1

    talk = Conversation()
    with Console() as console:
        async with websocket:
            receiving = asyncio.create_task(print_messages(websocket, console, talk))
            try:
                async for line in console:  # until `exit`, the end of input, or stop()
                    if line.strip():  # the server ignores blank messages: no reply is owed
                        talk.sent()
                        await websocket.send(line)
            except ConnectionClosed:
                pass  # the server went away while we were sending
            if not receiving.done():  # we are the ones leaving
                try:
                    async with asyncio.timeout(GOODBYE_SECONDS):
                        await talk.answered.wait()
                except TimeoutError:
                    pass  # leave anyway
                await websocket.close()  # 1000 "normal closure"
                await receiving  # ends when the server answers our close
                return 0
    # The server closed the connection, or went away.
    code, reason = websocket.close_code, websocket.close_reason
    why = f" (code {code}{', ' + reason if reason else ''})" if code else ""
    catch_up = f"; to catch up later: --since {talk.last_id}" if talk.last_id else ""
    print(
        f"the server at {address} closed the connection{why}{catch_up}", file=sys.stderr, flush=True
    )
    return 1


def with_query(url: str, **params: str | None) -> str:
    """`url` with these query parameters added, unless it has them already."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        if value is not None:
            query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Terminal client for the FastAPI chat.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="server address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="server port")
    parser.add_argument("--name", help="your name in the chat (default: one the server assigns)")
    parser.add_argument(
        "--since",
        default="",
        metavar="ID",
        help="first get the room's messages after this id (the client says its last one when "
        "the server goes away)",
    )
    parser.add_argument(
        "--url",
        help="the server's full URL, e.g. ws://127.0.0.1:PORT/PATH (overrides --host and --port)",
    )
    args = parser.parse_args()

    url = with_query(
        args.url or f"ws://{args.host}:{args.port}/ws", name=args.name, since=args.since
    )
    address = args.url or f"{args.host}:{args.port}"
    try:
        status = asyncio.run(chat(url, address))
    except InvalidURI as error:
        status = f"invalid URL: {error}"
    except KeyboardInterrupt:
        status = 0  # Ctrl+C: leave quietly, as `exit` does
    sys.exit(status)


if __name__ == "__main__":
    main()
