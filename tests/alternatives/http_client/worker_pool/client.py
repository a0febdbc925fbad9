#!/usr/bin/env python3
"""Concurrent HTTP client: a fixed pool of worker coroutines drains a queue of URLs, and
asyncio.gather runs the pool (grading fixture)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp

DEFAULT_PATHS = ("/json", "/delay/0.3", "/bytes/2048", "/status/200")


async def get(session: aiohttp.ClientSession, url: str) -> tuple[bool, str]:
    start = time.monotonic()
    try:
        async with session.get(url) as reply:
            body = await reply.read()
    except TimeoutError:
        return False, f"FAIL {url} -> timed out"
    except (aiohttp.ClientError, ValueError) as exc:
        return False, f"FAIL {url} -> {type(exc).__name__}: {exc}"
    took = time.monotonic() - start
    summary = f"{url} -> HTTP {reply.status}, {len(body)} B, {took * 1000:.0f} ms"
    return reply.status < 400, ("ok   " if reply.status < 400 else "FAIL ") + summary


async def crawl(urls: list[str], timeout: float, workers: int) -> int:
    todo: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        todo.put_nowait(url)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not todo.empty():
            ok, line = await get(session, todo.get_nowait())
            failures += not ok
            print(line, flush=True)

    connector = aiohttp.TCPConnector(limit=workers)  # a pool no smaller than --limit
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:
        began = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(min(workers, len(urls)))))
        print(f"-- {len(urls)} requests in {time.monotonic() - began:.2f} s", flush=True)
    return 1 if failures else 0


async def server_is_up(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(base + "/"):
            return True
    except (aiohttp.ClientError, TimeoutError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description="fetch many URLs at once")
    parser.add_argument("urls", nargs="*", help="URLs (default: some demo server endpoints)")
    parser.add_argument("--host", default="127.0.0.1", help="demo server host")
    parser.add_argument("--port", type=int, default=8081, help="demo server port")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    parser.add_argument("--limit", type=int, default=10, help="requests in flight at most")
    args = parser.parse_intermixed_args()
    if args.limit < 1 or args.timeout <= 0:
        parser.error("--limit must be >= 1 and --timeout > 0")
    urls = args.urls
    try:
        if not urls:
            base = f"http://{args.host}:{args.port}"
            if not asyncio.run(server_is_up(base)):
                print(f"demo server {args.host}:{args.port} is not answering", file=sys.stderr)
                return 1
            urls = [base + path for path in DEFAULT_PATHS]
        return asyncio.run(crawl(urls, args.timeout, args.limit))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
