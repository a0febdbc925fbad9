#!/usr/bin/env python3
"""Benchmark: the lecture's Push vs Pull as numbers, on push_pull/server.py (seed 001).

For each way to follow the events - polling every 1 s and every 0.1 s, long polling, SSE and a
WebSocket - M clients (10, then 100) follow one server while N events are published at a set
rate. Per run it prints: events delivered (of M x N), HTTP requests made, bytes on the wire each
way, server CPU seconds and the delivery delay p50/p99; then the ratios against the WebSocket
with as many clients.

What is counted: the clients are push_pull/client.py's own functions, each client with its own
session (its own connections, like separate browsers), talking to the server through a TCP
relay in this process that counts every byte each way - request and response heads, bodies,
chunked framing, WebSocket frames; not TCP/IP headers, and not the publisher, which posts to
the server directly. Server CPU is user + system time of the server process from /proc (Linux;
n/a elsewhere). Every run gets a fresh server and lasts the same time: from the first client's
start until 1.5 s after the last event was published. Loopback only.

    uv run bench/push_pull.py                # about 2 minutes; --events 50 --rate 5
    uv run bench/push_pull.py --quick        # about 40 s: 10 events a run
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "push_pull" / "server.py"
HOST = "127.0.0.1"
CLIENT_COUNTS = [10, 100]
DEFAULT_EVENTS = 50
DEFAULT_RATE = 5.0
QUICK_EVENTS = 10
GRACE_SECONDS = 1.5  # after the last event: long enough for the 1 s poll to fetch it
READY_TIMEOUT_SECONDS = 20.0
# (label, client function, polling interval)
CASES = [
    ("poll 1 s", "poll", 1.0),
    ("poll 0.1 s", "poll", 0.1),
    ("long poll", "longpoll", 0.0),
    ("SSE", "sse", 0.0),
    ("WebSocket", "ws", 0.0),
]


def load_client():
    sys.path.insert(0, str(REPO / "push_pull"))  # the client imports its console.py
    spec = importlib.util.spec_from_file_location(
        "push_pull_client", REPO / "push_pull" / "client.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- the server, and a relay that counts its bytes ------------------------------------------------
class Server:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONUTF8="1")
        command = [sys.executable, str(SERVER), "--port", "0", "--rate", "0"]
        self.popen = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        line = self.popen.stdout.readline()
        if not (match := re.search(r"Listening on http://[^\s:]+:(\d+)", line)):
            self.popen.kill()
            raise SystemExit(f"push_pull/server.py did not start: {line!r}")
        self.port = int(match.group(1))
        threading.Thread(target=self.popen.stdout.read, daemon=True).start()  # never a full pipe

    def cpu_seconds(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.popen.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class CountingRelay:
    """A TCP relay in front of the server that counts every byte each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = self.down = 0  # client to server, server to client

    async def start(self) -> int:
        self.listener = await asyncio.start_server(self.relay, HOST, 0)
        return self.listener.sockets[0].getsockname()[1]

    async def relay(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self.pipe(client_reader, server_writer, up=True),
            self.pipe(server_reader, client_writer, up=False),
        )

    async def pipe(self, reader, writer, up: bool) -> None:
        try:
            while data := await reader.read(65536):
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # either side went away: the run is over for this connection
        finally:
            writer.close()

    def close(self) -> None:
        self.listener.close()


# --- one run: M clients of one kind, N events -----------------------------------------------------
@dataclass
class Result:
    delivered: int
    expected: int
    out_of_order: int
    requests: int
    down: int
    up: int
    cpu: float | None
    delays: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.delays) or [float("nan")]
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_ready(method: str, tallies, direct: aiohttp.ClientSession, stats_url: str) -> None:
    """Until every client has had its first answer, or is held open at the server."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if method == "poll":
            if all(tally.requests for tally in tallies):
                return
        else:
            async with direct.get(stats_url) as reply:
                if (await reply.json())["open"] >= len(tallies):
                    return
        await asyncio.sleep(0.05)
    raise SystemExit(f"{method}: the clients did not get ready in {READY_TIMEOUT_SECONDS:.0f} s")


async def run_case(client, method: str, interval: float, clients: int, events: int, rate: float):
    server = Server()
    relay = CountingRelay(server.port)
    base = URL(f"http://{HOST}:{await relay.start()}")
    direct = aiohttp.ClientSession()  # the publisher and /stats: not through the relay
    tallies = [client.Tally() for _ in range(clients)]
    last_ids = [0] * clients
    delivered = out_of_order = 0
    delays: list[float] = []

    def deliver(number: int, event: dict) -> None:
        nonlocal delivered, out_of_order
        delays.append(time.time() - event["time"])
        if event["id"] > last_ids[number]:
            delivered += 1
        else:
            out_of_order += 1
        last_ids[number] = max(last_ids[number], event["id"])

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    sessions = [aiohttp.ClientSession(timeout=timeout) for _ in range(clients)]
    cpu_before = server.cpu_seconds()
    followers = [
        asyncio.create_task(
            client.FOLLOW[method](session, base, 0, tally, lambda e, n=n: deliver(n, e), interval)
        )
        for n, (session, tally) in enumerate(zip(sessions, tallies, strict=True))
    ]
    try:
        await wait_ready(method, tallies, direct, f"http://{HOST}:{server.port}/stats")
        started = time.monotonic()
        for number in range(events):
            # On a schedule, not sleep-after-post, so the rate holds however long a post takes.
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            async with direct.post(f"http://{HOST}:{server.port}/events", data=f"event {number}"):
                pass
        await asyncio.sleep(GRACE_SECONDS)
        cpu_after = server.cpu_seconds()
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        for session in [*sessions, direct]:
            await session.close()
        relay.close()
        server.stop()
    failed = [task.exception() for task in followers if not task.cancelled() and task.exception()]
    if failed:
        print(f"  {method}: {len(failed)} clients failed, e.g. {failed[0]!r}", flush=True)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    requests = sum(tally.requests for tally in tallies)
    return Result(
        delivered, clients * events, out_of_order, requests, relay.down, relay.up, cpu, delays
    )


# --- the report -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="push_pull's four methods, measured.")
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS, help="events a run (default: %(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="events a second (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS} events a run")
    args = parser.parse_args()
    events = QUICK_EVENTS if args.quick else args.events
    client = load_client()
    print(
        f"{events} events at {args.rate:g}/s to M clients; bytes counted by a relay, "
        f"server CPU from /proc; each run {events / args.rate + GRACE_SECONDS:.1f} s",
        flush=True,
    )
    header = (
        f"{'method':<11} {'M':>4} {'delivered':>11} {'requests':>9} {'bytes down':>11} "
        f"{'bytes up':>10} {'CPU s':>6} {'p50 ms':>8} {'p99 ms':>8}"
    )
    print(header, flush=True)
    results: dict[tuple[str, int], Result] = {}
    for clients in CLIENT_COUNTS:
        for label, method, interval in CASES:
            result = asyncio.run(run_case(client, method, interval, clients, events, args.rate))
            results[label, clients] = result
            cpu = "n/a" if result.cpu is None else f"{result.cpu:.2f}"
            delivered = f"{result.delivered}/{result.expected}"
            if result.out_of_order:
                delivered += f" ({result.out_of_order} again)"
            print(
                f"{label:<11} {clients:>4} {delivered:>11} {result.requests:>9,} "
                f"{result.down:>11,} {result.up:>10,} {cpu:>6} "
                f"{result.percentile(50) * 1000:>8.1f} {result.percentile(99) * 1000:>8.1f}",
                flush=True,
            )
    print(
        "\nratios against the WebSocket with as many clients (requests, bytes both ways, CPU, p50):"
    )
    for clients in CLIENT_COUNTS:
        ws = results["WebSocket", clients]
        for label, _, _ in CASES[:-1]:
            other = results[label, clients]

            def ratio(ours: float | None, theirs: float | None) -> str:
                return "n/a" if not ours or not theirs else f"{ours / theirs:.1f}x"

            print(
                f"  M={clients:<4} {label:<11} requests {ratio(other.requests, ws.requests):>7}  "
                f"bytes {ratio(other.down + other.up, ws.down + ws.up):>7}  "
                f"CPU {ratio(other.cpu, ws.cpu):>7}  "
                f"p50 {ratio(other.percentile(50), ws.percentile(50)):>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
