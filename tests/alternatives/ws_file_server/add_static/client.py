#!/usr/bin/env python3
"""Alternative ws_file_server client (a grading fixture): pipelined, with websockets' asyncio
client.

Written unlike the reference on purpose: names are sent as soon as they are known, without
waiting for the reply before them (all the names given as arguments go out first), and a
second task reads the replies, which the server sends in the order asked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import threading
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

OPEN_TIMEOUT = 10  # seconds to wait for the handshake


def as_text(name: str) -> str:
    """A name from the shell may hold bytes that are not UTF-8 (as surrogates, which no text
    frame can carry); each such byte becomes U+FFFD and the server answers "no such file"."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def stdin_names(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Feed the lines of standard input to `queue`, then None. Runs in a daemon thread, which
    cannot keep the program alive after Ctrl+C the way a blocked executor thread would."""
    sys.stdin.reconfigure(errors="replace")
    for line in sys.stdin:
        name = line.strip()
        if name == "exit":
            break
        if name:
            loop.call_soon_threadsafe(queue.put_nowait, name)
    loop.call_soon_threadsafe(queue.put_nowait, None)


def show(reply: dict, save: Path | None) -> bool:
    """Print or save one reply; False for a refusal."""
    name = str(reply.get("name", ""))
    if "error" in reply:
        print(f"{name or '(request)'}: {reply.get('status')} {reply['error']}", flush=True)
        return False
    content = str(reply.get("content", ""))
    binary = reply.get("encoding") == "base64"
    if save is not None:
        data = base64.b64decode(content) if binary else content.encode("utf-8")
        target = save / Path(name.replace("\\", "/")).name  # a reply never picks our path
        try:
            target.write_bytes(data)
        except OSError as error:
            print(f"{name}: not saved, {target}: {error.strerror}", flush=True)
            return False
        print(f"{name}: {len(data)} bytes written to {target}", flush=True)
    elif binary:
        size = reply.get("size", len(base64.b64decode(content)))
        print(f"{name}: not text, {size} bytes (--save DIR writes it to a folder)", flush=True)
    else:
        sys.stdout.write(content if content.endswith("\n") else content + "\n")
        sys.stdout.flush()
    return True


async def exchange(ws: ClientConnection, names: list[str], save: Path | None) -> bool:
    """Send every name, read the owed replies in order; True if every file came."""
    incoming: asyncio.Queue[str | None] = asyncio.Queue()
    if names:
        for name in [*names, None]:
            incoming.put_nowait(name)
    else:
        loop = asyncio.get_running_loop()
        threading.Thread(target=stdin_names, args=(loop, incoming), daemon=True).start()
    owed: asyncio.Queue[str | None] = asyncio.Queue()  # names sent whose reply is still due

    async def sender() -> None:
        try:
            while (name := await incoming.get()) is not None:
                await ws.send(name)
                owed.put_nowait(name)
        finally:
            owed.put_nowait(None)  # no more replies to wait for, even if sending failed

    sending = asyncio.create_task(sender())
    try:
        everything = True
        while await owed.get() is not None:
            raw = await ws.recv()
            try:
                everything = show(json.loads(raw), save) and everything
            except (ValueError, TypeError, AttributeError):
                print(f"not a reply of this protocol: {str(raw)[:80]!r}", flush=True)
                everything = False
        await sending  # raises what stopped the sender, if anything did
        return everything
    finally:
        sending.cancel()


async def run(url: str, names: list[str], save: Path | None) -> bool:
    # max_size=None: a reply carries a whole file, more than websockets' 1 MiB default.
    async with connect(url, max_size=None, open_timeout=OPEN_TIMEOUT, proxy=None) as ws:
        return await exchange(ws, names, save)


def main() -> int:
    parser = argparse.ArgumentParser(description="Fetch files from ws_file_server over /ws.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="files (default: from stdin)")
    parser.add_argument("--host", default="127.0.0.1", help="server (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")
    parser.add_argument("--url", help="the WebSocket URL (default ws://HOST:PORT/ws)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write the files into DIR")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    names = [as_text(name) for name in args.names]
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"--save {args.save}: {error.strerror}", file=sys.stderr)
            return 1
    try:
        everything = asyncio.run(run(url, names, args.save))
    except KeyboardInterrupt:
        return 0
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
        print(f"cannot talk to a file server at {url}: {error}", file=sys.stderr, flush=True)
        return 1
    except ConnectionClosed as closed:
        print(f"{url} ended the connection: {closed}", file=sys.stderr, flush=True)
        return 1
    # Like cat: names given as arguments that could not be fetched make the status 1.
    return 1 if names and not everything else 0


if __name__ == "__main__":
    sys.exit(main())
