#!/usr/bin/env python3
"""Asynchronous HTTP client: fetches many URLs at once with aiohttp (seed 000 task 2).

What it teaches: `async def fetch` does one request; `asyncio.gather` runs many of them
concurrently, so the whole list takes about as long as the slowest URL, not the sum of all
of them. The summary prints both numbers side by side. Also: one ClientSession shared by all
requests (it pools connections), a timeout per request, a semaphore that bounds how many
requests run at once, and errors that stay with their own URL.

Protocol: an HTTP GET per URL (given as arguments, or one a line on standard input for `-`);
a line per URL as it finishes, `STATUS SIZE bytes SECONDS s URL` or `ERROR URL: why`; then a
summary line. Exit status 0 when every URL succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

import aiohttp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_LIMIT = 20  # at most this many requests at once
DEMO_PATHS = ["/delay/1", "/delay/0.5", "/json", "/bytes/1024", "/delay/0.2", "/bytes/1048576"]


@dataclass
class Result:
    url: str
    seconds: float
    status: int | None = None
    size: int = 0
    error: str | None = None  # why this URL failed; None if it succeeded


async def fetch(session: aiohttp.ClientSession, url: str) -> Result:
    """GET one URL and read its body. Never raises for a failed URL: the failure is returned,
    so gather() keeps going and one bad URL cannot cancel or hide the others."""
    started = time.perf_counter()

    def failed(why: str, status: int | None = None) -> Result:
        return Result(url, time.perf_counter() - started, status=status, error=why)

    try:
        async with session.get(url) as response:
            body = await response.read()
    except TimeoutError:
        return failed(f"no answer within {session.timeout.total:g} s")
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
        return failed("not a valid http:// or https:// URL")
    except aiohttp.ClientConnectorError as error:  # refused, unknown host, unreachable
        return failed(f"cannot connect: {error.os_error.strerror or error.os_error}")
    except aiohttp.ClientError as error:  # the connection broke, a bad answer, ...
        return failed(f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    if response.status >= 400:
        return failed(f"HTTP {response.status} {response.reason}", response.status)
    return Result(url, seconds, status=response.status, size=len(body))


def report(result: Result) -> None:
    if result.error is None:
        print(
            f"{result.status}  {result.size:>9} bytes  {result.seconds:6.2f} s  {result.url}",
            flush=True,
        )
    else:
        print(f"ERROR {result.url}: {result.error} ({result.seconds:.2f} s)", flush=True)


async def fetch_all(urls: list[str], timeout: float, limit: int) -> list[Result]:
    # The semaphore lets `limit` requests run; the others wait here, not in the network:
    # a list of ten thousand URLs does not open ten thousand sockets.
    semaphore = asyncio.Semaphore(limit)
    # One session for everything: it keeps connections open and reuses them, where a
    # session per request would repeat the TCP (and TLS) handshake every time.
    # The timeout covers each request from start to the last byte of the body.
    # The connector allows only 100 connections by default; with --limit 300 the other 200
    # requests would wait inside the session, their timeout already running, and fail.
    # Giving it the same limit leaves the semaphore as the only one that decides.
    connector = aiohttp.TCPConnector(limit=limit)
    timeouts = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeouts) as session:

        async def fetch_and_report(url: str) -> Result:
            async with semaphore:
                result = await fetch(session, url)
            report(result)  # print each line as soon as its URL is done
            return result

        return await asyncio.gather(*(fetch_and_report(url) for url in urls))


def read_urls() -> list[str]:
    """URLs from standard input, one per line, until `exit` or the end of input."""
    urls = []
    for line in sys.stdin:
        if line.strip().lower() == "exit":
            break
        if line.strip():
            urls.append(line.strip())
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Fetch URLs concurrently with aiohttp and compare the total time with "
        "the sum of the single times.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="URLs to fetch; '-' reads them from standard input, one per line "
        "(none: a set of endpoints of the demo server at --host/--port)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="server address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="server port")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="give up on a URL after this many seconds",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help="at most N requests at the same time",
    )
    # Intermixed: options may also come between URLs (`client.py URL --timeout 1 URL`);
    # plain parse_args() stops collecting URLs at the first option.
    args = parser.parse_intermixed_args()
    if args.timeout <= 0 or args.limit < 1:
        parser.error("--timeout must be above 0 and --limit at least 1")

    demo_server = f"http://{args.host}:{args.port}"
    # Reading URLs from standard input (`-`) waits for the user too, so it sits inside the
    # same try: Ctrl+C while typing URLs stops as quietly as Ctrl+C during the fetches.
    try:
        urls = [url for arg in args.urls for url in (read_urls() if arg == "-" else [arg])]
        if not args.urls:
            urls = [demo_server + path for path in DEMO_PATHS]
        if not urls:
            sys.exit("no URLs to fetch")

        started = time.perf_counter()
        results = asyncio.run(fetch_all(urls, args.timeout, args.limit))
    except KeyboardInterrupt:
        sys.exit(130)  # Ctrl+C: stop quietly, without a traceback
    wall = time.perf_counter() - started

    failed = [result for result in results if result.error]
    total = sum(result.seconds for result in results)
    print(
        f"{len(results)} URLs, {len(results) - len(failed)} ok, {len(failed)} failed; "
        f"wall time {wall:.2f} s, sum of single times {total:.2f} s "
        f"(together: {total / wall:.1f}x faster than one after another)",
        flush=True,
    )
    nothing_connected = all((r.error or "").startswith("cannot connect") for r in results)
    if not args.urls and nothing_connected:  # the demo server is not running
        why = results[0].error.removeprefix("cannot connect: ")
        print(f"cannot connect to {demo_server}: {why}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
