#!/usr/bin/env python3
"""Fan-out with a client that never reads: fastapi_chat's ConnectionManager against the seed's.

For each room size N (default 100 and 500) and each server - a copy of the seed's sequential
ConnectionManager, and fastapi_chat/server.py - it starts the server on a free loopback
port, connects a laggard (a raw WebSocket that never reads), clogs it with a fill phase,
connects N healthy clients, sends a burst of messages from one of them and measures the
time until every healthy client has every message. It runs each case without the laggard
too; that run of the seed is the baseline of the ratio.

    uv run python bench/fastapi_fanout.py [--clients 100,500] [--messages 100] [--size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / "fastapi_chat" / "server.py"
STALL_SECONDS = 5.0  # a burst not delivered by then counts as stalled
FILL_CHUNK = 16_000
FILL_MAX_BYTES = 16_000_000
LISTENING = re.compile(r"Listening on \w+://([^\s:]+):(\d+)")

# The seed's chat server, as the lecture writes it, plus a main() that keeps the contract.
SEED_SERVER = """
import signal, socket
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()

class ConnectionManager:
    def __init__(self):
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket):
        self.active_connections.remove(websocket)

    async def broadcast(self, message: str):
        for connection in self.active_connections:
            await connection.send_text(message)

manager = ConnectionManager()

@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await manager.connect(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            await manager.broadcast(f"Користувач: {data}")
    except WebSocketDisconnect:
        manager.disconnect(websocket)

class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(f"Listening on http://{host}:{port}", flush=True)

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    config = uvicorn.Config(app, port=0, log_level="critical", timeout_graceful_shutdown=1)
    try:
        Server(config).run()
    except KeyboardInterrupt:
        pass
"""


@contextlib.contextmanager
def running(script: Path, *args: str):
    """Start a server, yield its (host, port), and stop it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    try:
        for line in proc.stdout:
            if match := LISTENING.search(line):
                yield match.group(1), int(match.group(2))
                break
        else:
            raise SystemExit(f"{script} did not start")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def open_laggard(host: str, port: int) -> socket.socket:
    """A WebSocket handshake on a raw socket that will never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws?name=laggard HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(1)  # byte by byte: leave everything after the headers unread
    return sock


async def fill(url: str) -> str:
    """Clog the laggard: push until our own echo stops or the laggard is announced gone."""
    pushed = 0
    async with connect(url + "?name=filler", compression=None, max_size=None) as filler:
        while pushed < FILL_MAX_BYTES:
            await filler.send("f" * FILL_CHUNK)
            pushed += FILL_CHUNK
            try:
                async with asyncio.timeout(2):
                    while True:
                        message = await filler.recv()
                        if "laggard was" in message or "laggard left" in message:
                            return f"laggard dropped after {pushed / 1e6:.1f} MB"
                        if message.endswith("f" * 100):
                            break
            except TimeoutError:
                return f"server stalled after {pushed / 1e6:.1f} MB"
    return f"laggard still there after {pushed / 1e6:.1f} MB"


async def burst(url: str, clients: int, messages: int, size: int) -> tuple[float | None, int]:
    """Seconds until all healthy clients have every burst message (None: stalled), delivered."""
    received = [0] * clients
    synced = [asyncio.Event() for _ in range(clients)]
    done = asyncio.Event()
    finished = 0
    opening = asyncio.Semaphore(50)  # do not flood the listen backlog

    async def join(number: int):
        async with opening:
            return await connect(f"{url}?name=c{number}", compression=None, max_size=None)

    async def read(number: int, websocket) -> None:
        nonlocal finished
        async for message in websocket:
            if "#sync#" in message:
                synced[number].set()
            elif "#burst#" in message:
                received[number] += 1
                if received[number] == messages:
                    finished += 1
                    if finished == clients:
                        done.set()

    websockets = await asyncio.gather(*(join(n) for n in range(clients)))
    readers = [asyncio.create_task(read(n, ws)) for n, ws in enumerate(websockets)]
    # Everything queued before (join notices: N*N/2 of them) must be through before timing.
    await websockets[0].send("#sync#")
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in synced)), STALL_SECONDS)
    except TimeoutError:
        pass  # a stalled server: the burst below shows it
    text = "#burst#" + "b" * max(0, size - 7)
    started = time.perf_counter()
    for _ in range(messages):
        await websockets[0].send(text)
    try:
        await asyncio.wait_for(done.wait(), STALL_SECONDS)
        elapsed: float | None = time.perf_counter() - started
    except TimeoutError:
        elapsed = None
    for task in readers:
        task.cancel()
    for websocket in websockets:
        websocket.transport.abort()  # a stalled server would never finish closing politely
    return elapsed, sum(received)


async def measure(
    script: Path, args: list[str], clients: int, messages: int, size: int, laggard: bool
):
    with running(script, *args) as (host, port):
        url = f"ws://{host}:{port}/ws"
        note, sock = "", None
        if laggard:
            sock = await open_laggard(host, port)
            note = await fill(url)
        elapsed, delivered = await burst(url, clients, messages, size)
        if sock:
            sock.close()
    return elapsed, delivered, note


def show(label: str, elapsed: float | None, delivered: int, wanted: int, note: str) -> None:
    figure = (
        f"{elapsed:7.3f} s"
        if elapsed is not None
        else f"STALLED ({delivered}/{wanted} in {STALL_SECONDS:.0f} s)"
    )
    print(f"  {label:<32} {figure}  {note}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", default="100,500", help="room sizes, comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--messages", type=int, default=100, help="messages in the burst (default: %(default)s)"
    )
    parser.add_argument(
        "--size", type=int, default=1000, help="bytes per message (default: %(default)s)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed_server.py"
        seed.write_text(SEED_SERVER, encoding="utf-8")
        servers = [
            ("seed", seed, []),
            ("fastapi_chat", OURS, ["--port", "0", "--log-level", "critical"]),
        ]
        for clients in (int(n) for n in args.clients.split(",")):
            wanted = clients * args.messages
            print(f"{clients} clients, burst of {args.messages} x {args.size} bytes:", flush=True)
            results = {}
            for name, script, extra in servers:
                for laggard in (False, True):
                    label = f"{name} {'+ laggard' if laggard else 'alone'}"
                    elapsed, delivered, note = await measure(
                        script, extra, clients, args.messages, args.size, laggard
                    )
                    results[label] = elapsed
                    show(label, elapsed, delivered, wanted, note)
            base, ours = results["seed alone"], results["fastapi_chat + laggard"]
            if base and ours:
                print(f"  ratio fastapi_chat+laggard / seed alone: {ours / base:.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
