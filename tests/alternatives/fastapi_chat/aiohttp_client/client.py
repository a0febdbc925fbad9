#!/usr/bin/env python3
"""Alternative fastapi_chat client (a grading fixture): aiohttp and asyncio only, no threads.

Standard input is watched with loop.add_reader(); in a terminal the client switches it to
cbreak mode and keeps the line being typed itself, so it can draw it again below a message
that arrives meanwhile. Before leaving it waits until each message it sent has come back.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import os
import sys
from collections import deque
from urllib.parse import quote

import aiohttp

try:
    import termios
    import tty
except ImportError:  # Windows
    termios = tty = None

TTY = termios is not None and os.isatty(0) and os.isatty(1)
PROMPT = "» "


class Console:
    def __init__(self) -> None:
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.typed = ""
        self.partial = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def show(self, text: str) -> None:
        text = text.replace("\r", "").replace("\n", " ⏎ ")
        if TTY:
            sys.stdout.write(f"\r\x1b[K{text}\r\n{PROMPT}{self.typed}")
            sys.stdout.flush()
        else:
            print(text, flush=True)

    def start(self) -> None:
        if TTY:
            sys.stdout.write(PROMPT)
            sys.stdout.flush()
        try:
            asyncio.get_running_loop().add_reader(0, self._readable)
        except (OSError, ValueError):
            # epoll cannot watch a regular file or /dev/null: such input is all there
            # already, so read it at once.
            for line in os.fdopen(0, encoding="utf-8", errors="replace", closefd=False):
                self.lines.put_nowait(line.rstrip("\r\n"))
            self.lines.put_nowait(None)

    def _readable(self) -> None:
        data = os.read(0, 4096)
        if not data or (TTY and data == b"\x04"):
            asyncio.get_running_loop().remove_reader(0)
            if self.partial:
                self.lines.put_nowait(self.partial)
            self.lines.put_nowait(None)
            return
        text = self.decoder.decode(data)
        if not TTY:
            *complete, self.partial = (self.partial + text).split("\n")
            for line in complete:
                self.lines.put_nowait(line.rstrip("\r"))
            return
        for char in text:  # a tiny line editor: printable characters, backspace, Enter
            if char in "\r\n":
                self.lines.put_nowait(self.typed)
                self.typed = ""
                sys.stdout.write(f"\r\n{PROMPT}")
            elif char in "\b\x7f" and self.typed:
                self.typed = self.typed[:-1]
                sys.stdout.write("\b \b")
            elif char.isprintable():
                self.typed += char
                sys.stdout.write(char)
        sys.stdout.flush()


async def chat(url: str, where: str) -> int:
    console = Console()
    owed: deque[str] = deque()  # texts sent whose `name: text` has not come back yet
    all_back = asyncio.Event()
    all_back.set()
    leaving = asyncio.Event()  # set once we close: the end of the chat is ours, not the server's
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=3))
        except (aiohttp.ClientError, OSError) as error:
            print(f"no chat server at {where}: {error}", file=sys.stderr, flush=True)
            return 1

        async def listen() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if owed and (msg.data.endswith(": " + owed[0]) or msg.data.startswith("* err")):
                        owed.popleft()
                        if not owed:
                            all_back.set()
                    console.show(msg.data)

        async def type_lines() -> None:
            while (line := await console.lines.get()) is not None and line.strip() != "exit":
                if line.strip():
                    owed.append(line)
                    all_back.clear()
                    await ws.send_str(line)
            try:
                await asyncio.wait_for(all_back.wait(), 10)
            except TimeoutError:
                pass
            leaving.set()
            await ws.close()

        console.start()
        listening = asyncio.create_task(listen())
        typing = asyncio.create_task(type_lines())
        await listening
        if leaving.is_set():
            await typing
            return 0
        typing.cancel()
        print(f"{where} ended the chat (code {ws.close_code})", file=sys.stderr, flush=True)
        return 1


def main() -> int:
    parser = argparse.ArgumentParser(description="Terminal client for the FastAPI chat.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", help="the name to join with")
    parser.add_argument("--url", help="full chat URL, e.g. ws://HOST:PORT/ws?name=ann")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws" + (
        f"?name={quote(args.name)}" if args.name else ""
    )
    saved = termios.tcgetattr(0) if TTY else None
    if saved is not None:
        tty.setcbreak(0)
    try:
        return asyncio.run(chat(url, args.url or f"{args.host}:{args.port}"))
    except KeyboardInterrupt:
        return 0
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
            print()


if __name__ == "__main__":
    sys.exit(main())
