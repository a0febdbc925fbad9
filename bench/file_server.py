#!/usr/bin/env python3
"""Benchmark: ws_file_server against Python's http.server, serving the same folder.

Two loads, each run against both servers in the same process, on 127.0.0.1 only:
  * one download of a big file (default 200 MB): MB/s, server CPU seconds, server peak memory;
  * a small file (1 KB) fetched by many connections at once (default 50) for a few seconds:
    requests per second and dropped connections.
It prints the figures and the ratios ws_file_server / http.server. Targets (issue 3): big-file
throughput at least equal with at most half the CPU, flat memory, zero dropped connections;
small-file rate at least 1.1x. Figures for CPU and memory come from /proc (Linux); elsewhere
they print as n/a.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WS_FILE_SERVER = REPO / "ws_file_server" / "server.py"
HOST = "127.0.0.1"
DEFAULT_BIG_MB = 200
DEFAULT_CONNECTIONS = 50
DEFAULT_SECONDS = 5.0
SMALL_BYTES = 1024
REQUEST_TIMEOUT_SECONDS = 10.0
STARTUP_TIMEOUT_SECONDS = 15.0


# --- the servers under test ------------------------------------------------------------------
@dataclass
class Server:
    name: str
    popen: subprocess.Popen
    port: int

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux)."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self, key: str) -> float | None:
        """VmRSS (now) or VmHWM (peak) of the server process, in MiB (Linux)."""
        try:
            status = Path(f"/proc/{self.popen.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start(name: str, command: list[str], ready: str) -> Server:
    """Start a server on a free port; `ready` is a regex whose group 1 is the bound port."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONUTF8="1")
    popen = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    assert popen.stdout is not None
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if not line:
            break
        if match := re.search(ready, line):
            # Keep reading its output in the background, so a full pipe never blocks it.
            threading.Thread(target=popen.stdout.read, daemon=True).start()
            return Server(name, popen, int(match.group(1)))
    popen.kill()
    raise SystemExit(f"{name} did not start")


# --- load 1: one big download ----------------------------------------------------------------
async def download(port: int, path: str) -> int:
    """GET one file over one connection and return the body size, throwing the bytes away."""
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        raise RuntimeError(f"unexpected answer: {head[:80]!r}")
    size = 0
    while chunk := await reader.read(1 << 20):
        size += len(chunk)
    writer.close()
    return size


# --- load 2: many connections asking for a small file ----------------------------------------
@dataclass
class Tally:
    done: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def body_length(head: bytes) -> tuple[int, bool]:
    """Content-Length and whether the server keeps the connection open afterwards."""
    text = head.decode("latin-1").lower()
    if not (match := re.search(r"\r\ncontent-length:\s*(\d+)", text)):
        raise ValueError("no Content-Length")
    length = int(match.group(1))
    closes = text.startswith("http/1.0") or "\r\nconnection: close" in text
    return length, not closes


async def client(port: int, path: str, deadline: float, tally: Tally) -> None:
    """Ask again and again until the deadline; reuse the connection when the server allows."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(HOST, port), REQUEST_TIMEOUT_SECONDS
                )
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_SECONDS)
            length, keep_alive = body_length(head)
            body = await asyncio.wait_for(reader.readexactly(length), REQUEST_TIMEOUT_SECONDS)
            if len(body) == SMALL_BYTES and head[9:12] == b"200":
                tally.done += 1
            else:
                tally.errors.append(head[:40].decode("latin-1"))
            if not keep_alive:
                writer.close()
                writer = None
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            tally.dropped += 1
            if len(tally.errors) < 3:
                tally.errors.append(type(error).__name__)
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def hammer(port: int, connections: int, seconds: float) -> tuple[float, Tally]:
    tally = Tally()
    started = time.perf_counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(port, "/small.bin", deadline, tally) for _ in range(connections)))
    return tally.done / (time.perf_counter() - started), tally


# --- the run -----------------------------------------------------------------------------------
def measure(server: Server, big_bytes: int, connections: int, seconds: float) -> dict:
    rss_before = server.memory_mib("VmRSS")
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    size = asyncio.run(download(server.port, "/big.bin"))
    elapsed = time.perf_counter() - started
    cpu_after = server.cpu_seconds()
    if size != big_bytes:
        print(f"  {server.name}: the download was cut short at {size} bytes", flush=True)
    rate, tally = asyncio.run(hammer(server.port, connections, seconds))
    figures = {
        "MB/s": size / elapsed / 1e6,
        "CPU s": None if cpu_before is None else cpu_after - cpu_before,
        "RSS MiB": rss_before,
        "peak MiB": server.memory_mib("VmHWM"),
        "req/s": rate,
        "dropped": tally.dropped,
    }
    print(
        f"{server.name:>15}: {figures['MB/s']:8.0f} MB/s  CPU {show(figures['CPU s'], 2)} s  "
        f"memory {show(rss_before, 0)} MiB at start, {show(figures['peak MiB'], 0)} MiB peak  "
        f"{rate:7.0f} req/s  dropped {tally.dropped}"
        + (f"  ({', '.join(tally.errors[:3])})" if tally.errors else ""),
        flush=True,
    )
    return figures


def show(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="ws_file_server against http.server.")
    parser.add_argument(
        "--big-mb", type=int, default=DEFAULT_BIG_MB, help="big file size (default: %(default)s)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help="connections at once for the small file (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help="how long each server gets the small-file load (default: %(default)s)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-files-") as folder:
        root = Path(folder)
        big_bytes = args.big_mb * 1_000_000
        block = os.urandom(1 << 20)
        with (root / "big.bin").open("wb") as file:
            for offset in range(0, big_bytes, len(block)):
                file.write(block[: big_bytes - offset])
        (root / "small.bin").write_bytes(os.urandom(SMALL_BYTES))
        print(
            f"{args.big_mb} MB download, then {SMALL_BYTES} B file x {args.connections} "
            f"connections for {args.seconds:g} s; server figures from /proc",
            flush=True,
        )

        results = {}
        for name, command, ready in [
            (
                "ws_file_server",
                [sys.executable, str(WS_FILE_SERVER), "--port", "0", "--root", folder],
                r"Listening on http://[^\s:]+:(\d+)",
            ),
            (
                "http.server",
                [sys.executable, "-m", "http.server", "0", "--bind", HOST, "--directory", folder],
                r"port (\d+)",
            ),
        ]:
            server = start(name, command, ready)
            try:
                results[name] = measure(server, big_bytes, args.connections, args.seconds)
            finally:
                server.stop()

    ours, theirs = results["ws_file_server"], results["http.server"]

    def ratio(key: str) -> str:
        if ours[key] is None or not theirs[key]:
            return "n/a"
        return f"{ours[key] / theirs[key]:.2f}x"

    print(
        f"ratios ws_file_server / http.server: throughput {ratio('MB/s')} (target >= 1), "
        f"CPU {ratio('CPU s')} (target <= 0.5), requests/s {ratio('req/s')} (target >= 1.1); "
        f"dropped {ours['dropped']} vs {theirs['dropped']} (target 0)",
        flush=True,
    )


if __name__ == "__main__":
    main()
