#!/usr/bin/env python3
"""WebSocket file client: asks ws_file_server for files over /ws and prints them (seed 004,
task 1).

What it teaches: an aiohttp WebSocket client speaking a small JSON protocol, one request and
one reply at a time, and text and binary content in JSON (base64).

Protocol: send a text frame holding a file's path; the reply is one JSON text frame, either
{"name", "size", "content"} (with "encoding": "base64" for a file that is not UTF-8) or
{"name", "error", "status"}.

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
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from console import Console

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
CONNECT_TIMEOUT_SECONDS = 10
REPLY_TIMEOUT_SECONDS = 60


def report(reply: dict, save: Path | None, show: Callable[[str], None]) -> bool:
    """Show (or save) one reply; False if it is an error."""
    name = str(reply.get("name", "?"))
    if "error" in reply:
        show(f"{name}: error {reply.get('status')}: {reply['error']}")
        return False
    content = reply.get("content", "")
    if reply.get("encoding") == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            show(f"{name}: error: the server sent invalid base64")
            return False
    else:
        data = content.encode("utf-8")
    if save is not None:
        # Only the last part of the name: a reply must never choose where we write.
        target = save / Path(name.replace("\\", "/")).name
        try:
            target.write_bytes(data)
        except OSError as error:
            show(f"{name}: error: cannot save to {target}: {error.strerror or error}")
            return False
        show(f"{name}: saved {len(data)} bytes to {target}")
    elif reply.get("encoding") == "base64":
        show(f"{name}: binary file, {len(data)} bytes (use --save DIR to keep it)")
    else:
        show(content.removesuffix("\n"))  # the file's own text; show() ends the line
    return True


async def names_to_fetch(given: list[str], console: Console) -> AsyncIterator[str]:
    """The names given as arguments, or else each line typed, until `exit` or end of input."""
    if given:
        for name in given:
            yield name
    else:
        async for line in console:
            if line.strip():
                yield line.strip()


async def fetch_files(url: str, given: list[str], save: Path | None) -> bool:
    """Ask for each file in turn; True if every one arrived."""
    all_ok = True
    timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_SECONDS)
    with Console(prompt="file> ") as console:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            # max_msg_size=0: a reply holds a whole file, above aiohttp's 4 MiB default.
            session.ws_connect(url, max_msg_size=0) as ws,
        ):
            async for name in names_to_fetch(given, console):
                await ws.send_str(name)
                message = await ws.receive(timeout=REPLY_TIMEOUT_SECONDS)
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"the server closed the connection ({ws.close_code})")
                try:
                    reply = json.loads(message.data)
                except json.JSONDecodeError:
                    console.show(f"{name}: error: the server sent something that is not JSON")
                    all_ok = False
                    continue
                all_ok = report(reply, save, console.show) and all_ok
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
    parser.add_argument(
        "--url",
        help="the server's full URL, e.g. ws://127.0.0.1:8080/ws (overrides --host and --port)",
    )
    parser.add_argument(
        "--save", type=Path, metavar="DIR", help="save each file received into DIR, not print it"
    )
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    # Bytes in an argument that are not UTF-8 arrive smuggled in as surrogates, which would
    # only fail when the name is sent: make each one U+FFFD, and the server says "not found".
    names = [
        name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for name in args.names
    ]
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            sys.exit(f"cannot create {args.save}: {error.strerror or error}")

    try:
        all_ok = asyncio.run(fetch_files(url, names, args.save))
    except KeyboardInterrupt:
        return
    except aiohttp.WSServerHandshakeError as error:
        sys.exit(f"{url} is not a WebSocket endpoint: HTTP {error.status} {error.message}")
    except aiohttp.ClientConnectorError as error:
        sys.exit(f"cannot connect to {url}: {error.os_error.strerror or error.os_error}")
    except ConnectionResetError:  # a name sent after the server had gone away
        sys.exit(f"the server at {url} closed the connection")
    except (aiohttp.ClientError, OSError) as error:  # OSError: ConnectionError, TimeoutError
        sys.exit(f"connection to {url} failed: {error or type(error).__name__}")
    # Names given as arguments work like `cat`: status 1 if any file could not be fetched.
    # Names typed in are a conversation, which ends with status 0 (README: clients 3).
    if names and not all_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
