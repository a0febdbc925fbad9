#!/usr/bin/env python3
"""Terminal client for the FastAPI WebSocket chat (seed 001, the FastAPI part).

What it teaches: the same two waits as chat_tcp/client.py - the keyboard and the network -
but with asyncio. The network side needs no thread: one event loop receives and prints
messages while it sends what you type. Only the keyboard gets a thread, because input()
blocks and asyncio has no portable way to read a console.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

try:
    import readline  # line editing, and it lets show() redraw the line being typed
except ImportError:  # Windows has no readline module; everything else still works
    readline = None

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
GOODBYE_SECONDS = 5.0  # after `exit`, how long to wait for the replies we are owed
OPEN_TIMEOUT_SECONDS = 10.0
PROMPT = "> " if sys.stdin.isatty() else ""
WELCOME = re.compile(r"^\* welcome, (\S+)!")


def show(text: str) -> None:
    """Print one incoming message as one line, without mixing it into the line being typed."""
    text = " ".join(text.splitlines())  # one message, one line, even if it holds newlines
    if readline and PROMPT:
        typed = readline.get_line_buffer()
        # \r and ESC[K clear the prompt line; we print the message there and draw the
        # prompt with what was typed so far again below it.
        sys.stdout.write(f"\r\x1b[K{text}\n{PROMPT}{typed}")
        sys.stdout.flush()
    else:
        print(text, flush=True)


def read_keyboard(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """The keyboard thread: hand each typed line to the event loop; None at end of input."""
    try:
        if PROMPT:  # a terminal: input() edits the line with readline
            while True:
                loop.call_soon_threadsafe(lines.put_nowait, input(PROMPT))
        # A pipe or a file: read through a file object of our own, not sys.stdin. When the
        # program ends, Python closes sys.stdin, and that would wait for the lock this thread
        # holds while it waits for a line - a crash at exit. Our own object is left alone.
        with open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False) as pipe:
            for line in pipe:
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
    except (EOFError, KeyboardInterrupt, RuntimeError):  # RuntimeError: the loop has closed
        pass
    try:
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except RuntimeError:
        pass  # the program is already ending


class Conversation:
    """What we sent and what came back, so `exit` can wait for the replies still owed."""

    def __init__(self) -> None:
        self.name: str | None = None  # the server tells us in its welcome
        self.sent = 0
        self.answered = 0
        self.changed = asyncio.Condition()

    async def count(self, text: str) -> None:
        if self.name is None and (match := WELCOME.match(text)):
            self.name = match.group(1)
        # The server answers each message once: our own `name: text` or an `* error`.
        if (self.name and text.startswith(f"{self.name}: ")) or text.startswith("* error"):
            async with self.changed:
                self.answered += 1
                self.changed.notify_all()

    async def all_answered(self) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.answered >= self.sent)


async def print_messages(websocket: ClientConnection, talk: Conversation) -> None:
    """Print every message until the connection closes."""
    try:
        async for message in websocket:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            show(text)
            await talk.count(text)
    except ConnectionClosed:
        pass  # the connection broke without a close frame


async def send_typed(
    websocket: ClientConnection, lines: asyncio.Queue[str | None], talk: Conversation
) -> None:
    """Send every typed line until `exit` or the end of input, then leave politely."""
    while (line := await lines.get()) is not None and line.strip().lower() != "exit":
        if line.strip():  # the server ignores blank messages, so they are owed no reply
            talk.sent += 1
            await websocket.send(line)
    try:
        await asyncio.wait_for(talk.all_answered(), GOODBYE_SECONDS)
    except TimeoutError:
        pass  # leave anyway
    await websocket.close()  # 1000 "normal closure"


async def chat(url: str, address: str) -> int:
    try:
        websocket = await connect(url, open_timeout=OPEN_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, InvalidHandshake) as error:
        print(f"cannot connect to {address}: {error}", file=sys.stderr, flush=True)
        return 1

    lines: asyncio.Queue[str | None] = asyncio.Queue()
    # A daemon thread: it may sit in input() forever, and must not keep the program alive.
    threading.Thread(
        target=read_keyboard, args=(asyncio.get_running_loop(), lines), daemon=True
    ).start()
    talk = Conversation()
    async with websocket:
        receiving = asyncio.create_task(print_messages(websocket, talk))
        sending = asyncio.create_task(send_typed(websocket, lines, talk))
        await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
        if sending.done():
            await receiving  # ends when the server answers our close
            sending.result()  # surfaces an unexpected error, if there was one
            return 0
        sending.cancel()
    # The receiving side ended first: the server closed the connection or went away.
    code, reason = websocket.close_code, websocket.close_reason
    why = f" (code {code}{', ' + reason if reason else ''})" if code else ""
    print(f"\nthe server at {address} closed the connection{why}", file=sys.stderr, flush=True)
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description="Terminal client for the FastAPI chat.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--name", help="your name in the chat (default: one the server assigns)")
    parser.add_argument(
        "--url", help="the chat's full WebSocket URL, e.g. ws://host:port/ws (overrides the rest)"
    )
    args = parser.parse_args()

    url = args.url or f"ws://{args.host}:{args.port}/ws"
    if args.name and not args.url:
        url += f"?name={quote(args.name)}"
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
