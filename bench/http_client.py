#!/usr/bin/env python3
"""Benchmark for http_client: the lesson's point as a number.

Fetches 100 URLs of the demo server that each answer after 0.2 s, once with
asyncio.gather (all at once) and once one after another, both through the client's own
fetch_all() (the sequential run is the same code with --limit 1), and prints both wall
times and their ratio. Loopback only; takes about 25 s.

    uv run python bench/http_client.py [--count 100] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"Listening on http://([^\s:/]+):(\d+)")


def load_client():
    spec = importlib.util.spec_from_file_location(
        "http_client_client", REPO / "http_client" / "client.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def timed(client, urls: list[str], limit: int) -> tuple[float, int]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the client prints a line per URL
        results = asyncio.run(client.fetch_all(urls, timeout=60.0, limit=limit))
    failed = sum(1 for result in results if result.error)
    return time.perf_counter() - started, failed


def main() -> None:
    parser = argparse.ArgumentParser(description="gather vs one after another, as a number")
    parser.add_argument("--count", type=int, default=100, help="how many URLs (default: 100)")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per URL (default: 0.2)")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(REPO / "http_client" / "server.py"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        match = LISTENING.search(server.stdout.readline())
        if not match:
            sys.exit("the demo server did not start")
        base = f"http://{match.group(1)}:{match.group(2)}"
        urls = [f"{base}/delay/{args.delay}"] * args.count
        client = load_client()
        timed(client, urls[:5], limit=5)  # warm up: imports, first connections

        concurrent, failed_a = timed(client, urls, limit=args.count)
        sequential, failed_b = timed(client, urls, limit=1)
    finally:
        server.terminate()
        server.wait(10)

    ideal = args.count * args.delay
    print(f"{args.count} URLs, {args.delay:g} s each (one after another at best: {ideal:.1f} s)")
    print(f"  asyncio.gather     : {concurrent:6.2f} s wall  ({failed_a} failed)")
    print(f"  one after another  : {sequential:6.2f} s wall  ({failed_b} failed)")
    print(f"  ratio              : {sequential / concurrent:6.1f}x faster with gather")


if __name__ == "__main__":
    main()
