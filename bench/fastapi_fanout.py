#!/usr/bin/env python3
"""Fan-out with a client that never reads: fastapi_chat's ConnectionManager against the seed's.

For each room size N (default 100 and 500) and each server - a copy of the seed's sequential
ConnectionManager, and fastapi_chat/server.py - it starts the server on a free loopback
port, connects a laggard (a raw WebSocket that never reads), clogs it with a fill phase,
connects N healthy clients, sends a burst of messages from one of them and measures the
time until every healthy client has every message. It runs each case without the laggard
too; that run of the seed is the baseline of the ratio.

Then the large-message burst: 20 readers that read as fast as they can, and one sender that
pushes 300 messages of 32 KB (about 10 MB) as fast as it can, with and without a laggard:
the time until every reader has every message.

With --redis it measures the scale-out instead: the same N clients split over 1, 2 and 4
fastapi_chat processes that share one room through a redis-server of its own (on a free
port, nothing saved), beside the in-memory single process: deliveries per second and the time
until every client has every message.

    uv run python bench/fastapi_fanout.py [--clients 100,500] [--messages 100] [--size 1000]
    uv run python bench/fastapi_fanout.py --redis [--clients 100,500]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parent.parent
OURS = REPO / "fastapi_chat" / "server.py"
STALL_SECONDS = 5.0  # a burst not delivered by then counts as stalled
BIG_READERS, BIG_MESSAGES, BIG_SIZE = 20, 300, 32_000  # the large-message burst
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


@contextlib.contextmanager
def redis_server():
    """A redis-server of our own on a free port, saving nothing; yields its URL."""
    program = shutil.which("redis-server")
    if not program:
        raise SystemExit("--redis needs redis-server (Debian/Ubuntu: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


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
        try:  # everything pushed: a server may take a few seconds to see the laggard stopped
            async with asyncio.timeout(STALL_SECONDS):
                while True:
                    message = await filler.recv()
                    if "laggard was" in message or "laggard left" in message:
                        return f"laggard dropped after {pushed / 1e6:.1f} MB"
        except TimeoutError:
            pass
    return f"laggard still there after {pushed / 1e6:.1f} MB"


async def burst(
    urls: list[str], clients: int, messages: int, size: int
) -> tuple[float | None, int]:
    """Seconds until all healthy clients have every burst message (None: stalled), delivered.

    Client n joins urls[n % len(urls)]; client 0 sends the burst, as fast as it can."""
    received = [0] * clients
    synced = [asyncio.Event() for _ in range(clients)]
    done = asyncio.Event()
    finished = 0
    opening = asyncio.Semaphore(50)  # do not flood the listen backlog

    async def join(number: int):
        async with opening:
            url = urls[number % len(urls)]
            return await connect(f"{url}?name=c{number}", compression=None, max_size=None)

    async def read(number: int, websocket) -> None:
        nonlocal finished
        try:
            async for message in websocket:
                if "#sync#" in message:
                    synced[number].set()
                elif "#burst#" in message:
                    received[number] += 1
                    if received[number] == messages:
                        finished += 1
                        if finished == clients:
                            done.set()
        except ConnectionClosed:
            pass  # dropped, or aborted below: its count shows it

    async def send_burst() -> None:
        text = "#burst#" + "b" * max(0, size - 7)
        try:
            for _ in range(messages):
                await websockets[0].send(text)
        except ConnectionClosed:
            pass

    websockets = await asyncio.gather(*(join(n) for n in range(clients)))
    readers = [asyncio.create_task(read(n, ws)) for n, ws in enumerate(websockets)]
    # Everything queued before (join notices: N*N/2 of them) must be through before timing.
    await websockets[0].send("#sync#")
    try:
        await asyncio.wait_for(
            asyncio.gather(*(event.wait() for event in synced)), 3 * STALL_SECONDS
        )
    except TimeoutError:
        pass  # a stalled server: the burst below shows it
    started = time.perf_counter()
    # In a task: against a stalled server the sender's own socket fills, and send() waits.
    sending = asyncio.create_task(send_burst())
    try:
        await asyncio.wait_for(done.wait(), STALL_SECONDS)
        elapsed: float | None = time.perf_counter() - started
    except TimeoutError:
        elapsed = None
    for task in [*readers, sending]:
        task.cancel()
    for websocket in websockets:
        websocket.transport.abort()  # a stalled server would never finish closing politely
    return elapsed, sum(received)


async def measure(
    script: Path, args: list[str], clients: int, messages: int, size: int, laggard: bool,
    fill_first: bool = True,
):  # fmt: skip
    with running(script, *args) as (host, port):
        url = f"ws://{host}:{port}/ws"
        note, sock = "", None
        if laggard:
            sock = await open_laggard(host, port)
            if fill_first:
                note = await fill(url)
        elapsed, delivered = await burst([url], clients, messages, size)
        if sock:
            sock.close()
    return elapsed, delivered, note


async def measure_redis(url: str, processes: int, clients: int, messages: int, size: int):
    """The burst with the clients split over `processes` servers on one Redis."""
    args = ["--port", "0", "--log-level", "critical", "--redis", url]
    with contextlib.ExitStack() as stack:
        addresses = [stack.enter_context(running(OURS, *args)) for _ in range(processes)]
        return await burst([f"ws://{h}:{p}/ws" for h, p in addresses], clients, messages, size)


def show(label: str, elapsed: float | None, delivered: int, wanted: int, note: str) -> None:
    figure = (
        f"{elapsed:7.3f} s"
        if elapsed is not None
        else f"STALLED ({delivered}/{wanted} in {STALL_SECONDS:.0f} s)"
    )
    print(f"  {label:<32} {figure}  {note}", flush=True)


async def compare_with_the_seed(args: argparse.Namespace, servers) -> None:
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
    # The sender is one of the clients: it reads too.
    clients, wanted = BIG_READERS + 1, (BIG_READERS + 1) * BIG_MESSAGES
    print(
        f"{BIG_READERS} readers and a sender, burst of {BIG_MESSAGES} x {BIG_SIZE} bytes "
        "as fast as it can:",
        flush=True,
    )
    for name, script, extra in servers:
        for laggard in (False, True):
            label = f"{name} {'+ laggard' if laggard else 'alone'}"
            elapsed, delivered, _ = await measure(
                script, extra, clients, BIG_MESSAGES, BIG_SIZE, laggard, fill_first=False
            )
            show(label, elapsed, delivered, wanted, "")


async def scale_out(args: argparse.Namespace) -> None:
    print("server                     clients  deliveries/s  every client has every message")
    with redis_server() as url:
        for clients in (int(n) for n in args.clients.split(",")):
            wanted = clients * args.messages
            runs = [("in memory, 1 process", None)]
            runs += [(f"Redis, {n} process{'es' if n > 1 else ''}", n) for n in (1, 2, 4)]
            for label, processes in runs:
                if processes is None:
                    extra = ["--port", "0", "--log-level", "critical"]
                    elapsed, delivered, _ = await measure(
                        OURS, extra, clients, args.messages, args.size, laggard=False
                    )
                else:
                    elapsed, delivered = await measure_redis(
                        url, processes, clients, args.messages, args.size
                    )
                rate = f"{delivered / elapsed:12,.0f}" if elapsed else f"{'-':>12}"
                when = (
                    f"{elapsed:.3f} s" if elapsed else f"STALLED ({delivered}/{wanted} delivered)"
                )
                print(f"{label:<26} {clients:>7}  {rate}  {when}", flush=True)


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
    parser.add_argument(
        "--redis",
        action="store_true",
        help="measure the room split over 1, 2 and 4 processes on one Redis instead",
    )
    args = parser.parse_args()
    if args.redis:
        await scale_out(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed_server.py"
        seed.write_text(SEED_SERVER, encoding="utf-8")
        servers = [
            ("seed", seed, []),
            ("fastapi_chat", OURS, ["--port", "0", "--log-level", "critical"]),
        ]
        await compare_with_the_seed(args, servers)


if __name__ == "__main__":
    asyncio.run(main())
