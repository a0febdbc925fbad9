#!/usr/bin/env python3
"""Terminal client for the WebSocket chat with a JSON log (seed 002 step 5, seed 003).

What it teaches: one asyncio program waiting for two things at once. The network side is
coroutines on the event loop; the keyboard gets one thread of its own, because input()
blocks and no coroutine can wait for it. The thread hands each typed line to the loop
through a queue, and incoming messages are printed as they arrive, above the line you are
typing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode

try:
    import readline  # line editing, and it lets show() redraw the line being typed
except ImportError:  # Windows has no readline module; everything else still works
    readline = None

try:
    import termios  # to give the terminal back as we found it (Unix only)
except ImportError:
    termios = None

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
GOODBYE_SECONDS = 5.0  # after `exit`, how long to wait for the server to close the session
INTERACTIVE = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
PROMPT = "> " if INTERACTIVE else ""


def show(text: str) -> None:
    """Print one incoming message without mixing it into the line being typed."""
    if readline and PROMPT:
        typed = readline.get_line_buffer()
        # \r and ESC[K clear the prompt line; we print the message there and draw the
        # prompt with what was typed so far again below it.
        sys.stdout.write(f"\r\x1b[K{text}\n{PROMPT}{typed}")
        sys.stdout.flush()
    else:
        print(text, flush=True)


def start_keyboard(lines: asyncio.Queue[str | None]) -> None:
    """Read lines in a thread and pass them to the event loop; None marks the end of input."""
    loop = asyncio.get_running_loop()

    def read_keyboard() -> None:
        try:
            if PROMPT:
                while True:
                    loop.call_soon_threadsafe(lines.put_nowait, input(PROMPT))
            # A pipe or a file: an unbuffered file of our own, because sys.stdin's buffer has
            # a lock that this thread holds while it waits, and Python aborts at exit if it
            # cannot take that lock. Bytes, so invalid UTF-8 cannot stop us.
            with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as piped:
                while raw := piped.readline():
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    loop.call_soon_threadsafe(lines.put_nowait, line)
        except (EOFError, OSError, ValueError):
            pass  # end of input, or standard input closed
        try:
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # the event loop has already finished

    # A daemon thread, not asyncio.to_thread(input): nothing can wake a thread out of a
    # blocking read, and asyncio.run() waits for its pool threads at exit, so the seed's
    # client hung on Ctrl+C until Enter was pressed. A daemon thread simply ends with us.
    threading.Thread(target=read_keyboard, daemon=True).start()


async def receive(websocket: ClientConnection) -> None:
    """Print every message from the server until the session ends."""
    try:
        async for message in websocket:
            show(message if isinstance(message, str) else f"(binary, {len(message)} bytes)")
    except ConnectionClosed:
        pass  # the connection broke; chat() reports it


async def type_messages(websocket: ClientConnection, lines: asyncio.Queue[str | None]) -> None:
    """Send what the user types; on `exit` or the end of input ask the server to end it."""
    while (line := await lines.get()) is not None and line.strip() != "exit":
        if line.strip():
            await websocket.send(line)
    # The server answers `exit` with its close frame, after the replies to our earlier
    # messages, so waiting for that close also waits for everything we are still owed.
    await websocket.send("exit")


async def chat(url: str) -> int:
    try:
        websocket = await connect(url, close_timeout=2)
    except (OSError, WebSocketException) as error:
        print(f"cannot connect to {url}: {error}", file=sys.stderr, flush=True)
        return 1

    async with websocket:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        start_keyboard(lines)
        receiving = asyncio.create_task(receive(websocket))
        typing = asyncio.create_task(type_messages(websocket, lines))
        await asyncio.wait({receiving, typing}, return_when=asyncio.FIRST_COMPLETED)
        we_asked = typing.done() and typing.exception() is None
        if we_asked:
            try:
                await asyncio.wait_for(receiving, GOODBYE_SECONDS)
            except TimeoutError:
                pass  # the server did not close in time; `async with` closes for us
        typing.cancel()

    frame = websocket.protocol.close_rcvd
    if frame is None:
        print(f"the server at {url} went away", file=sys.stderr, flush=True)
        return 1
    # The server's close reason (seed 002 step 4), e.g. "Сессия завершена. До свидания!".
    show(f"* {frame.reason or 'session closed'} (code {frame.code})")
    if not we_asked:
        print(f"the server at {url} ended the session", file=sys.stderr, flush=True)
        return 1
    # Even after our `exit` the session may have ended for another reason: a message over the
    # server's limit is answered with 1009 before `exit` is read. Only 1000 (our goodbye) and
    # 1001 (the server shutting down as we left) are a normal end.
    if frame.code not in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY):
        print(
            f"the server at {url} ended the session: code {frame.code}", file=sys.stderr, flush=True
        )
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Terminal client for the WebSocket chat.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument("--url", help="full server URL, e.g. ws://127.0.0.1:8765 (overrides both)")
    args = parser.parse_args()
    url = args.url or f"ws://{args.host}:{args.port}"

    # input() may still be waiting inside readline when we leave, with echo switched off;
    # put the terminal settings back so the shell after us works as before.
    saved_terminal = termios.tcgetattr(sys.stdin) if termios and INTERACTIVE else None
    try:
        status = asyncio.run(chat(url))
    except KeyboardInterrupt:
        status = 0  # Ctrl+C: asyncio.run() has already closed the connection politely
    finally:
        if saved_terminal is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved_terminal)
            print(flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
