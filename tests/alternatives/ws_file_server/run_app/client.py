#!/usr/bin/env python3
"""Alternative ws_file_server client (a grading fixture): synchronous, with websockets.

No asyncio and no threads of our own: websockets' sync client, one request and one reply
at a time, names from the command line or from standard input.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect


def show(reply: dict, save: Path | None) -> bool:
    name = reply.get("name", "")
    if "error" in reply:
        print(f"!! {name}: {reply['error']} [{reply.get('status')}]", flush=True)
        return False
    if reply.get("encoding") == "base64":
        data = base64.b64decode(reply["content"])
    else:
        data = reply["content"].encode()
    if save:
        target = save / Path(name).name  # never a path the server chose
        try:
            target.write_bytes(data)
        except OSError as error:
            print(f"!! {name}: cannot write {target}: {error.strerror}", flush=True)
            return False
        print(f"-> {target} ({len(data)} bytes)", flush=True)
    elif reply.get("encoding") == "base64":
        print(f"[{name}: {len(data)} bytes of binary data; --save DIR keeps it]", flush=True)
    else:
        text = reply["content"]
        print(text, end="" if text.endswith("\n") else "\n", flush=True)
    return True


def names_from_stdin():
    sys.stdin.reconfigure(errors="replace")  # bad bytes become U+FFFD, never an exception
    for line in sys.stdin:
        name = line.strip()
        if name == "exit":
            return
        if name:
            yield name


def main() -> int:
    parser = argparse.ArgumentParser(description="Get files from ws_file_server over /ws.")
    parser.add_argument("names", nargs="*", help="files to get (default: read from stdin)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--url", help="WebSocket URL (default ws://HOST:PORT/ws)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="write files into DIR")
    args = parser.parse_args()
    args.names = [os.fsencode(n).decode("utf-8", "replace") for n in args.names]
    url = args.url or f"ws://{args.host}:{args.port}/ws"
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    failures = 0
    try:
        with connect(url, max_size=None, open_timeout=10, close_timeout=2, proxy=None) as ws:
            for name in args.names or names_from_stdin():
                ws.send(name)
                failures += not show(json.loads(ws.recv(timeout=60)), args.save)
    except (OSError, InvalidHandshake, TimeoutError) as error:
        print(f"no file server at {url}: {error}", file=sys.stderr, flush=True)
        return 1
    except ConnectionClosed as closed:
        print(f"{url} closed the connection: {closed}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    return 1 if args.names and failures else 0


if __name__ == "__main__":
    sys.exit(main())
