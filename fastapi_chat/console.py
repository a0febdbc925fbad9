"""Supplied: not part of the lesson, read it if you are curious.

The keyboard of a client that waits for the network at the same time. Lines typed (or piped
in) are read by a thread of their own, so nothing else ever blocks on the keyboard; lines the
program prints appear above the line being typed, instead of in the middle of it. The same
file, byte for byte, sits in every folder whose client reads the keyboard.

    with Console() as console:
        for line in console:          # in a program with threads; or `async for` in asyncio
            ...
        console.show("a line that arrived")   # from any thread, or from the event loop
        console.stop()                        # ends the loop above, from any thread

The loop ends at a line `exit`, at the end of input (Ctrl+D, or Ctrl+Z Enter on Windows), or
at stop(). Leaving the `with` puts the terminal back as it was.
"""

from __future__ import annotations

import asyncio
import codecs
import queue
import sys
import threading
from collections.abc import AsyncIterator, Iterator

try:
    import readline  # line editing, and the typed line that show() draws again
except ImportError:  # Windows has no readline: lines are still read, only not redrawn
    readline = None
try:
    import termios  # to give the terminal back as we found it (Linux and macOS)
except ImportError:
    termios = None

CHUNK_BYTES = 65536


class Console:
    def __init__(self, prompt: str = "> ") -> None:
        self.interactive = bool(
            sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty()
        )
        self.prompt = prompt if self.interactive else ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_lines: asyncio.Queue[str | None] | None = None
        self._printing = threading.Lock()  # two threads must not draw at the same time
        self._saved_terminal = None
        self._started = False
        self._typing = False  # the prompt is on screen, its line not yet ended by Enter
        self._stopped = False

    def __enter__(self) -> Console:
        if termios and self.interactive:
            self._saved_terminal = termios.tcgetattr(sys.stdin)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._saved_terminal is not None:
            # input() may still wait inside readline, with echo switched off.
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self._saved_terminal)
        if self._typing:
            print(flush=True)  # end the prompt's line: the shell's prompt gets a line of its own

    # --- the lines typed ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        """Typed lines, for a program with threads, until `exit`, end of input or stop()."""
        self._start()
        while True:
            try:
                # A timeout, so that Ctrl+C gets through on Windows too.
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None or line.strip().lower() == "exit":
                return
            yield line

    def __aiter__(self) -> AsyncIterator[str]:
        """Typed lines, for asyncio, until `exit`, end of input or stop()."""
        self._loop = asyncio.get_running_loop()
        self._async_lines = asyncio.Queue()
        self._start()
        return self._async_iter()

    async def _async_iter(self) -> AsyncIterator[str]:
        assert self._async_lines is not None
        while (line := await self._async_lines.get()) is not None:
            if line.strip().lower() == "exit":
                return
            yield line

    def stop(self) -> None:
        """End the loop over the typed lines (say, because the server went away)."""
        self._stopped = True
        self._deliver(None)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            # A daemon thread: nothing can wake a thread out of a blocking read, and it must
            # not keep the program alive once the rest is done.
            threading.Thread(target=self._read, daemon=True).start()

    def _deliver(self, line: str | None) -> None:
        if self._loop is None:
            self._lines.put(line)
            return
        try:
            self._loop.call_soon_threadsafe(self._async_lines.put_nowait, line)
        except RuntimeError:
            pass  # the event loop has finished: nobody is waiting for lines any more

    def _read(self) -> None:
        try:
            if self.prompt:  # a terminal: input() edits the line with readline
                while not self._stopped:
                    self._typing = True
                    line = input(self.prompt)
                    self._typing = False
                    self._deliver(line)
                    if line.strip().lower() == "exit":
                        break  # no new prompt after the last line
                return
            # A pipe or a file: read the raw bytes ourselves. sys.stdin's buffer has a lock
            # that this thread would hold while it waits, and Python aborts at exit when it
            # cannot take that lock. The decoder turns invalid UTF-8 into U+FFFD, and keeps
            # the first bytes of a character that is split between two reads.
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending = ""
            with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as raw:
                while chunk := raw.read(CHUNK_BYTES):
                    *complete, pending = (pending + decoder.decode(chunk)).split("\n")
                    for line in complete:
                        self._deliver(line.removesuffix("\r"))
            if pending:
                self._deliver(pending.removesuffix("\r"))
        except (EOFError, KeyboardInterrupt, OSError, ValueError, AttributeError):
            pass  # the end of input, standard input closed, or none at all (pythonw)
        self._deliver(None)

    # --- the lines shown ---------------------------------------------------------------------
    def show(self, text: str) -> None:
        """Print a line; in a terminal, above the line being typed, which is drawn again."""
        with self._printing:
            if readline and self._typing:
                typed = readline.get_line_buffer()
                # \r and ESC[K clear the prompt's line; the text goes there, and the prompt
                # with what was typed so far is drawn again below it.
                sys.stdout.write(f"\r\x1b[K{text}\n{self.prompt}{typed}")
                sys.stdout.flush()
            else:
                print(text, flush=True)
