#!/usr/bin/env python3
"""Fan-out of ws_chat_json/server.py against the seed's asyncio.gather-over-send server.

One sender and N listeners connect to a server; the sender sends M messages, and we time how
long until every listener has every one of them. The same run starts a baseline server that
fans out the way seed 003 does (`await asyncio.gather(*(c.send(m) for c in clients))`), so the
ratio compares the two on the same machine at the same moment. Loopback only.

    uv run python bench/ws_chat_fanout.py            # N = 100 and 1000
    uv run python bench/ws_chat_fanout.py --clients 50 --messages 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "ws_chat_json" / "server.py"
LISTENING = re.compile(r"Listening on ws://([^\s:]+):(\d+)")
CLIENT_ID = re.compile(r"Client_\d+")
CONNECT_BATCH = 100  # handshakes in flight at once
TIMEOUT = 120.0


# --- the baseline: seed 003's fan-out -----------------------------------------------------


async def serve_baseline(port: int) -> None:
    clients: dict[ServerConnection, str] = {}
    numbers = itertools.count(1)

    async def handler(websocket: ServerConnection) -> None:
        client_id = f"Client_{next(numbers)}"
        await websocket.send("Добро пожаловать в чат!")
        await websocket.send(f"* you are {client_id}")
        for other in clients:
            await other.send(f"* {client_id} joined")
        clients[websocket] = client_id
        try:
            async for message in websocket:
                await websocket.send(f"You said: {message}")
                await asyncio.gather(
                    *(c.send(f"{client_id}: {message}") for c in clients if c is not websocket)
                )
        finally:
            del clients[websocket]

    async with serve(handler, "127.0.0.1", port) as server:
        print(f"Listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


# --- measuring ----------------------------------------------------------------------------


def start(argv: list[str]) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert server.stdout is not None
    for raw in server.stdout:
        if match := LISTENING.search(raw.decode("utf-8", "replace")):
            # Keep reading what it prints, so a full pipe never blocks the server.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, f"ws://{match.group(1)}:{match.group(2)}"
    raise RuntimeError(f"{argv} did not start")


async def join(url: str) -> tuple[ClientConnection, str]:
    # No per-message compression, for both servers: it would cost the same per frame on
    # either side and only hide the difference in how the frames are handed out.
    ws = await connect(url, max_queue=None, open_timeout=TIMEOUT, compression=None)
    while not (found := CLIENT_ID.search(await ws.recv())):
        pass
    return ws, found.group()


async def listen(
    ws: ClientConnection, sender_id: str, messages: int, ready: asyncio.Future[None]
) -> None:
    """Skip the setup chatter (join notices) until the sender's own join, then count."""
    while await ws.recv() != f"* {sender_id} joined":
        pass
    ready.set_result(None)
    prefix = f"{sender_id}: bench "
    received = 0
    while received < messages:
        if (await ws.recv()).startswith(prefix):
            received += 1


async def measure(url: str, listeners: int, messages: int) -> float:
    semaphore = asyncio.Semaphore(CONNECT_BATCH)

    async def join_limited() -> tuple[ClientConnection, str]:
        async with semaphore:
            return await join(url)

    crowd = await asyncio.gather(*(join_limited() for _ in range(listeners)))
    sender, sender_id = await join(url)
    loop = asyncio.get_running_loop()
    ready = [loop.create_future() for _ in crowd]
    counting = [
        asyncio.create_task(listen(ws, sender_id, messages, done))
        for (ws, _), done in zip(crowd, ready, strict=True)
    ]
    # The clock starts once every listener has seen the sender join: setup is over for all.
    await asyncio.wait_for(asyncio.gather(*ready), TIMEOUT)
    started = time.perf_counter()
    for n in range(messages):
        await sender.send(f"bench {n} " + "x" * 64)
    await asyncio.wait_for(asyncio.gather(*counting), TIMEOUT)
    elapsed = time.perf_counter() - started
    for ws, _ in [*crowd, (sender, sender_id)]:
        ws.transport.abort()
    return elapsed


def run_one(argv: list[str], listeners: int, messages: int) -> float:
    server, url = start(argv)
    try:
        return asyncio.run(measure(url, listeners, messages))
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=int, nargs="*", default=[100, 1000], help="listener counts to try"
    )
    parser.add_argument("--messages", type=int, default=50, help="messages the sender sends")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        try:
            asyncio.run(serve_baseline(args.port))
        except KeyboardInterrupt:
            pass
        return

    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, str(SERVER), "--port", "0", "--log", str(Path(tmp) / "log.json")]
        seed = [sys.executable, __file__, "--serve-baseline"]
        print(f"{'clients':>8} {'server':>10} {'seconds':>9} {'deliveries/s':>13}")
        for listeners in args.clients:
            results = {}
            for name, argv in (("baseline", seed), ("ours", ours)):
                elapsed = run_one(argv, listeners, args.messages)
                rate = listeners * args.messages / elapsed
                results[name] = rate
                print(f"{listeners:>8} {name:>10} {elapsed:>9.3f} {rate:>13,.0f}", flush=True)
            print(
                f"{listeners:>8} ratio ours/baseline: {results['ours'] / results['baseline']:.2f}"
            )


if __name__ == "__main__":
    main()
