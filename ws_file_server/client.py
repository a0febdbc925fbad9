#!/usr/bin/env python3
"""WebSocket file client: asks ws_file_server for files over /ws and prints them (seed 004,
task 1).

What it teaches: an aiohttp WebSocket client speaking a small JSON protocol (send a file
name, get one JSON reply), text and binary content in JSON (base64), and reading standard
input without blocking the event loop.

    python ws_file_server/client.py myfile1.txt README.rst     names as arguments
    python ws_file_server/client.py                            one name per input line
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import sys
import threading
from pathlib import Path

import aiohttp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
CONNECT_TIMEOUT_SECONDS = 10
REPLY_TIMEOUT_SECONDS = 60


def read_names(loop: asyncio.AbstractEventLoop, names: asyncio.Queue[str | None]) -> None:
    """Runs in a thread: input() blocks, and the event loop must not.

    A daemon thread, so a blocked input() never keeps the program alive after Ctrl+C.
    """
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("file> " if interactive else "")
        except (EOFError, OSError):
            break
        if line.strip().lower() == "exit":
            break
        if line.strip():
            loop.call_soon_threadsafe(names.put_nowait, line.strip())
    loop.call_soon_threadsafe(names.put_nowait, None)  # None: no more names


def report(reply: dict, save: Path | None) -> bool:
    """Print (or save) one reply; False if it is an error."""
    name = str(reply.get("name", "?"))
    if "error" in reply:
        print(f"{name}: error {reply.get('status')}: {reply['error']}", flush=True)
        return False
    content = reply.get("content", "")
    if reply.get("encoding") == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            print(f"{name}: error: the server sent invalid base64", flush=True)
            return False
    else:
        data = content.encode("utf-8")
    if save is not None:
        # Only the last part of the name: a reply must never choose where we write.
        target = save / Path(name.replace("\\", "/")).name
        try:
            target.write_bytes(data)
        except OSError as error:
            print(f"{name}: error: cannot save to {target}: {error.strerror or error}", flush=True)
            return False
        print(f"{name}: saved {len(data)} bytes to {target}", flush=True)
    elif reply.get("encoding") == "base64":
        print(f"{name}: binary file, {len(data)} bytes (use --save DIR to keep it)", flush=True)
    else:
        # The file's own text, as it is; the end of a line is added if the file has none.
        print(content, end="" if content.endswith("\n") else "\n", flush=True)
    return True


async def fetch_files(url: str, given: list[str], save: Path | None) -> bool:
    """Ask for each file in turn; True if every one arrived."""
    names: asyncio.Queue[str | None] = asyncio.Queue()
    if given:
        for name in [*given, None]:
            names.put_nowait(name)
    else:
        loop = asyncio.get_running_loop()
        threading.Thread(target=read_names, args=(loop, names), daemon=True).start()

    all_ok = True
    timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        # max_msg_size=0: a reply holds a whole file (a few MiB), above aiohttp's 4 MiB default.
        session.ws_connect(url, max_msg_size=0) as ws,
    ):
        while (name := await names.get()) is not None:
            await ws.send_str(name)
            message = await ws.receive(timeout=REPLY_TIMEOUT_SECONDS)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"the server closed the connection ({ws.close_code})")
            try:
                reply = json.loads(message.data)
            except json.JSONDecodeError:
                print(f"{name}: error: the server sent something that is not JSON", flush=True)
                all_ok = False
                continue
            all_ok = report(reply, save) and all_ok
    return all_ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Fetch files from ws_file_server over its WebSocket and print them."
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="files to fetch, relative to the server's root; without any, "
        "read one name per line from standard input",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--url", help="full WebSocket URL (default: ws://HOST:PORT/ws)")
    parser.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="save every file received into DIR instead of printing it",
    )
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    # Bytes on standard input that are not valid text must not crash us. Depending on the
    # locale, Python either raises UnicodeDecodeError for them or smuggles them through as
    # surrogates, which only fail later when the name is encoded for the WebSocket. With
    # "replace" each bad byte becomes U+FFFD, and the server just answers "not found".
    if sys.stdin is not None:
        sys.stdin.reconfigure(errors="replace")
    # Names given as arguments arrive the same way: turn smuggled bad bytes into U+FFFD too.
    args.names = [
        name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for name in args.names
    ]
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            sys.exit(f"cannot create {args.save}: {error.strerror or error}")

    try:
        all_ok = asyncio.run(fetch_files(url, args.names, args.save))
    except KeyboardInterrupt:
        return
    except aiohttp.WSServerHandshakeError as error:
        sys.exit(f"{url} is not a WebSocket endpoint: HTTP {error.status} {error.message}")
    except aiohttp.ClientConnectorError as error:
        sys.exit(f"cannot connect to {url}: {error.os_error.strerror or error.os_error}")
    except (aiohttp.ClientError, OSError, ConnectionError, TimeoutError) as error:
        sys.exit(f"connection to {url} failed: {error or type(error).__name__}")
    # Names given as arguments work like `cat`: status 1 if any file could not be fetched.
    # Names typed in are a conversation, which ends with status 0 (CONTRACT clients 3).
    if args.names and not all_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
