#!/usr/bin/env python3
"""Round trips per second through echo_tcp/server.py and two baselines, in one run.

    uv run bench/echo_tcp.py [--messages 10000] [--clients 50] [--per-client 1000]

Baselines, started by this script: a server like the seed's, which serves one connection
at a time, and a minimal asyncio echo server. The load (asyncio clients, one newline-framed
message per round trip) is the same for all three. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEED_LIKE = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0)); server.listen(128)
print(f"Listening on tcp://127.0.0.1:{server.getsockname()[1]}", flush=True)
while True:                      # one client at a time, as in seed 001
    conn, _ = server.accept()
    while data := conn.recv(1024):
        conn.sendall(data)
    conn.close()
"""

ASYNCIO = """
import asyncio
async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(f"Listening on tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def start(command: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"Listening on tcp://[^:]+:(\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    return proc, int(match.group(1))


async def client(port: int, messages: int, started: float) -> float:
    """Send `messages` lines one at a time, each after the previous echo; return the finish time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    line = "round trip Ї😀\n".encode()
    for _ in range(messages):
        writer.write(line)
        await writer.drain()
        await reader.readline()
    writer.close()
    await writer.wait_closed()
    return time.perf_counter() - started


async def measure(port: int, clients: int, per_client: int) -> tuple[float, float, float]:
    """Return (round trips per second, first finish, last finish) for concurrent clients."""
    started = time.perf_counter()
    finishes = await asyncio.gather(*(client(port, per_client, started) for _ in range(clients)))
    total = time.perf_counter() - started
    return clients * per_client / total, min(finishes), max(finishes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="round trips for 1 client")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--per-client", type=int, default=1_000, help="round trips per client")
    args = parser.parse_args()

    servers = {
        "echo_tcp/server.py": [sys.executable, str(ROOT / "echo_tcp" / "server.py"), "--port", "0"],
        "seed-like (one at a time)": [sys.executable, "-c", SEED_LIKE],
        "asyncio baseline": [sys.executable, "-c", ASYNCIO],
    }
    results: dict[str, tuple[float, float, float, float]] = {}
    for name, command in servers.items():
        proc, port = start(command)
        try:
            single, _, _ = asyncio.run(measure(port, 1, args.messages))
            many, first, last = asyncio.run(measure(port, args.clients, args.per_client))
        finally:
            proc.kill()
            proc.wait()
        results[name] = (single, many, first, last)

    print(
        f"{'server':28} {'1 client rt/s':>14} {f'{args.clients} clients rt/s':>17}"
        f" {'first done s':>13} {'last done s':>12}"
    )
    for name, (single, many, first, last) in results.items():
        print(f"{name:28} {single:14,.0f} {many:17,.0f} {first:13.2f} {last:12.2f}")
    ours, baseline = results["echo_tcp/server.py"], results["asyncio baseline"]
    print(
        f"\nratio to asyncio, 1 client: {ours[0] / baseline[0]:.2f}x;"
        f" {args.clients} clients: {ours[1] / baseline[1]:.2f}x (target: at least 0.8x)"
    )
    print(
        "first/last finish: clients that progress together finish close to each other;"
        " the seed-like server finishes them one after another."
    )


if __name__ == "__main__":
    main()
