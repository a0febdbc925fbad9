"""Drive an interactive client in a real pseudo-terminal and read the screen a person sees.

pexpect gives the program a terminal (so it prompts, echoes and edits lines as it would for
a student), and pyte, a terminal emulator, turns the bytes it writes into screen lines.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import harness
import pexpect
import pyte

COLUMNS, ROWS = 100, 30


class Terminal:
    def __init__(self, script: Path, args: list[str], cwd: Path) -> None:
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self.child = pexpect.spawn(
            sys.executable,
            [str(script), *args],
            cwd=str(cwd),
            env=harness.subprocess_env({"TERM": "xterm", "COLUMNS": str(COLUMNS)}),
            dimensions=(ROWS, COLUMNS),
        )

    def type(self, text: str) -> None:
        self.child.send(text.encode("utf-8"))

    def _read(self, timeout: float) -> None:
        try:
            data = self.child.read_nonblocking(65536, timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            raise AssertionError(f"the program ended; its screen:\n{self.text()}") from None
        self.raw += data
        self.stream.feed(data)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def text(self) -> str:
        return "\n".join(line for line in self.lines() if line)

    def wait_for(self, pattern: str, timeout: float | None = None) -> str:
        """Wait until a screen line matches; return that line."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + (harness.TIMEOUT if timeout is None else timeout)
        while True:
            for line in self.lines():
                if regex.search(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no screen line matches {pattern!r}; screen:\n{self.text()}")
            self._read(0.1)

    def settle(self) -> None:
        """Read whatever the program has written so far."""
        self._read(0.2)

    def interrupt(self) -> None:
        self.child.sendintr()

    def wait_exit(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (harness.TIMEOUT if timeout is None else timeout)
        while self.child.isalive() and time.monotonic() < deadline:
            try:
                self._read(0.1)
            except AssertionError:
                break
        self.child.close(force=True)
        return self.child.exitstatus if self.child.exitstatus is not None else -1

    def close(self) -> None:
        self.child.close(force=True)
