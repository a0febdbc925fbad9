#!/usr/bin/env python3
"""Echo server on asyncio protocols and transports instead of a thread per client (fixture)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def quiet_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Shutting down already: a second Ctrl+C must not race the loop closing its wakeup fd."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)


class Echo(asyncio.Protocol):
    """One connection. No task, no loop: asyncio calls these methods as events happen."""

    def __init__(self, live: set[Echo]) -> None:
        self.live = live
        self.transport: asyncio.Transport | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = f"{host}:{port}"
        self.live.add(self)
        print(f"[+] {self.peer}", flush=True)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    # Flow control: when the peer stops reading and our send buffer fills up, stop reading
    # from it too, so a client that never reads cannot make us buffer without limit.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.live.discard(self)
        print(f"[-] {self.peer}" + (f" ({exc})" if exc else ""), flush=True)


async def run(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    live: set[Echo] = set()
    server = await loop.create_server(lambda: Echo(live), host, port, reuse_address=True)
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    bound = server.sockets[0].getsockname()
    print(f"Listening on tcp://{bound[0]}:{bound[1]}", flush=True)
    await stopping.wait()
    quiet_signals(loop)
    server.close()
    await asyncio.sleep(0.05)  # connections accepted a moment ago finish connecting
    for conn in list(live):
        conn.transport.close()  # sends what is still buffered, then FIN
    for _ in range(30):  # up to 1.5 s for peers to take the rest of their echo
        if not live:
            break
        await asyncio.sleep(0.05)
    for conn in list(live):  # peers that never read: drop them hard
        conn.transport.abort()
    await asyncio.sleep(0)
    print("bye", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="asyncio TCP echo server")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=12345, help="TCP port (0 = pick a free one)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.host, args.port))
    except OSError as exc:
        sys.exit(f"could not bind {args.host}:{args.port} ({exc.strerror})")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
