"""Black-box helpers: run a script as a subprocess and talk to it through pipes and sockets.

Everything here goes through the contract in README.md ("What your scripts must do to be
graded"), never through a script's internals, so the same tests grade any implementation that
keeps the contract.

Every wait scales with one setting, for slow or loaded machines: `pytest --time-scale 2` or
COURSE_TIME_SCALE=2 doubles them all (the contract's 5 s to stop included).
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS_ENV = "COURSE_SOLUTIONS"
TIME_SCALE_ENV = "COURSE_TIME_SCALE"
LISTENING = re.compile(r"Listening on (tcp|https?|wss?)://(\[[^\]]+\]|[^\s:/]+):(\d+)")
TIME_SCALE = 1.0  # set by configure_time_scale() from --time-scale or $COURSE_TIME_SCALE
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0  # the contract: a server stops within 5 s (servers 4)
TIMEOUT = 10.0  # default wait for one expected line
WAIT = 20.0  # a longer wait: a burst, a reconnect, several round trips
_BASE = {"STARTUP_TIMEOUT": STARTUP_TIMEOUT, "STOP_TIMEOUT": STOP_TIMEOUT,
         "TIMEOUT": TIMEOUT, "WAIT": WAIT}  # fmt: skip


def configure_time_scale(scale: float) -> None:
    """Scale every wait of the suite (set once, before the test modules are imported)."""
    global TIME_SCALE
    TIME_SCALE = scale
    for name, seconds in _BASE.items():
        globals()[name] = seconds * scale


def scaled(seconds: float) -> float:
    """A wait written for an idle machine, stretched by the time scale."""
    return seconds * TIME_SCALE


_solutions_root: Path | None = None


def set_solutions_root(path: Path | None) -> None:
    global _solutions_root
    _solutions_root = path


def solutions_root() -> Path:
    """The tree whose scripts are under test: --solutions DIR, $COURSE_SOLUTIONS, or this repo."""
    return _solutions_root or REPO


def grading() -> bool:
    return _solutions_root is not None


def script(folder: str, name: str = "server.py") -> Path:
    """Resolve `<folder>/<name>` in the tree under test; fail this test if it is missing."""
    path = solutions_root() / folder / name
    if not path.is_file():
        pytest.fail(f"missing file: {folder}/{name} (looked for {path})", pytrace=False)
    return path


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # A script must flush its own output (the contract, servers 3, clients 2): do not hide a
    # missing flush behind an inherited PYTHONUNBUFFERED.
    env.pop("PYTHONUNBUFFERED", None)
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUTF8"] = "1"
    if extra:
        env.update(extra)
    return env


_running: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers() -> None:
    """However the run ends (a timeout, Ctrl+C of the grader), no script outlives it."""
    for popen in list(_running):
        _kill_tree(popen)


def _kill_tree(popen: subprocess.Popen) -> None:
    """Kill a script and every process in its group."""
    if sys.platform != "win32":
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already
    if popen.poll() is None:
        popen.kill()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Stream:
    """Lines read from one pipe by a background thread, searchable with a timeout."""

    def __init__(self, pipe, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.cursor = 0  # expect() consumes lines in order
        self.closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe) -> None:
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass  # a socket reset, or a pipe closed under us: the stream ended
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def expect(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> re.Match[str]:
        """Wait for the next line (after the last one matched) that matches `pattern`."""
        timeout = TIMEOUT if timeout is None else timeout
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self.cursor < len(self.lines):
                    line = self.lines[self.cursor]
                    self.cursor += 1
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    why = "the stream closed" if self.closed else f"{timeout:.0f} s passed"
                    raise AssertionError(
                        f"expected a line matching {regex.pattern!r} on {self.name}, "
                        f"but {why}; it printed:\n{self.tail()}"
                    )
                self._cond.wait(remaining)

    def wait_closed(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.closed, timeout)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def tail(self, n: int = 20) -> str:
        with self._cond:
            lines = self.lines[-n:]
        return "\n".join(f"    | {line}" for line in lines) or "    (nothing)"


class Proc:
    """One script running as a subprocess with its output read line by line."""

    def __init__(
        self,
        path: Path,
        args: Iterable[str],
        cwd: Path,
        stdin=subprocess.PIPE,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """Run the Python script `path` with `args`, or any other program: `command`."""
        self.path = path
        self.label = f"{path.parent.name}/{path.name}" if not command else Path(path).name
        self.args = [str(a) for a in args]
        platform_options: dict = {}
        if sys.platform == "win32":
            platform_options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            # A shell that starts pytest in the background makes it ignore SIGINT, and the
            # children would inherit that: give each script the default Ctrl+C behaviour.
            platform_options["preexec_fn"] = _default_sigint
            # A process group of its own, so kill() also stops whatever the script started
            # (a reloader, a worker): such a child would hold our pipes open forever.
            platform_options["process_group"] = 0
        self.popen = subprocess.Popen(
            command or [sys.executable, str(path), *self.args],
            cwd=cwd,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=subprocess_env(env),
            **platform_options,
        )
        _running.add(self.popen)
        self.stdout = Stream(self.popen.stdout, f"{self.label} stdout")
        self.stderr = Stream(self.popen.stderr, f"{self.label} stderr")

    # --- input ------------------------------------------------------------------------
    def send(self, line: str) -> None:
        """Type one line into the script's standard input."""
        assert self.popen.stdin is not None, "this process was started without a stdin pipe"
        self.popen.stdin.write(line.encode("utf-8") + b"\n")
        self.popen.stdin.flush()

    def close_input(self) -> None:
        if self.popen.stdin and not self.popen.stdin.closed:
            try:
                self.popen.stdin.close()
            except BrokenPipeError:
                pass

    # --- output -----------------------------------------------------------------------
    def expect(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        return self.stdout.expect(pattern, timeout)

    def output(self) -> str:
        return self.stdout.text() + "\n" + self.stderr.text()

    def describe(self) -> str:
        return (
            f"{self.label} {' '.join(self.args)}\n  stdout:\n{self.stdout.tail()}\n"
            f"  stderr:\n{self.stderr.tail()}"
        )

    # --- ending -----------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ctrl+C."""
        if self.popen.poll() is None:
            if sys.platform == "win32":
                self.popen.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                self.popen.send_signal(signal.SIGINT)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; fail (and kill it) if it does not."""
        timeout = TIMEOUT if timeout is None else timeout
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.label} did not exit within {timeout:.0f} s\n{self.describe()}"
            ) from None
        # Let the reader threads collect the last lines.
        self.stdout.wait_closed(2)
        self.stderr.wait_closed(2)
        return code

    def assert_exit(self, expected: int = 0, timeout: float | None = None) -> None:
        code = self.wait(timeout)
        assert code == expected, (
            f"{self.label} exited with status {code}, expected {expected}\n{self.describe()}"
        )
        self.assert_no_traceback()

    def assert_no_traceback(self) -> None:
        found = tracebacks(self.output())
        assert not found, f"{self.label} printed a traceback:\n{found[0]}\n{self.describe()}"

    def kill(self) -> None:
        _kill_tree(self.popen)
        self.popen.wait()
        _running.discard(self.popen)
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        # Close an output pipe only once its reader thread has seen its end: closing it under
        # a thread blocked in readline() would wait for that thread forever. A process that
        # escaped the group may keep the pipe open; the daemon thread then just stays.
        for stream, pipe in ((self.stdout, self.popen.stdout), (self.stderr, self.popen.stderr)):
            if stream.wait_closed(2):
                pipe.close()


# A library's own log of a request it refused is not the script's traceback: aiohttp answers
# a malformed request with 400, keeps serving, and logs the parser's traceback.
LIBRARY_REFUSAL = re.compile(r"^aiohttp\.http_exceptions\.\w+:")


def tracebacks(text: str) -> list[str]:
    """The tracebacks in a script's output, except a library's log of a refused request."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "Exception in ASGI application" in line:
            found.append("\n".join(lines[number : number + 30]))
        elif line.startswith("Traceback (most recent call last)"):
            # The block ends with the first line that is not indented: the exception.
            end = next(
                (i for i in range(number + 1, len(lines)) if not lines[i].startswith(" ")),
                len(lines) - 1,
            )
            if not LIBRARY_REFUSAL.match(lines[end]):
                found.append("\n".join(lines[number : end + 1]))
    return found


class Server(Proc):
    """A server started with --port 0; knows its real address from the `Listening on` line."""

    def __init__(
        self, path: Path, args: Iterable[str], cwd: Path, default_port: bool = False, **kwargs
    ) -> None:
        """Start the server on --port 0 (a later --port in `args` wins), or on its default
        port with `default_port`."""
        super().__init__(path, [*([] if default_port else ["--port", "0"]), *args], cwd, **kwargs)
        try:
            match = self.stdout.expect(LISTENING, STARTUP_TIMEOUT)
        except AssertionError:
            match = None
        if match is None:
            self.kill()
            self.stderr.wait_closed(2)
            pytest.fail(
                f"{self.label} never printed 'Listening on SCHEME://HOST:PORT' "
                f"(the contract, servers 3)\n{self.describe()}",
                pytrace=False,
            )
        self.scheme, self.host, port = match.group(1), match.group(2).strip("[]"), match.group(3)
        self.port = int(port)
        assert self.port != 0, "the Listening line must show the real bound port, not 0"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def url(self, path: str = "/", scheme: str | None = None) -> str:
        return f"{scheme or self.scheme}://{self.host}:{self.port}{path}"

    def stop(self, timeout: float | None = None) -> None:
        """Ctrl+C, then check the contract: exit status 0 within 5 s and no traceback."""
        self.interrupt()
        self.assert_exit(0, STOP_TIMEOUT if timeout is None else timeout)


class Scope:
    """The processes one test (or one gate) starts; close() ends every one of them.

    close() gives each server still running a Ctrl+C and a moment to stop, then kills
    whatever is left. It judges nothing: how a server stops is the contract tests' business,
    so that a server that stops badly loses those tests, not every test it was started for.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[Proc] = []

    def server(self, folder: str, *args: str, stdin=subprocess.DEVNULL, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> Server:  # fmt: skip
        """Start <folder>/server.py on --port 0 and wait for its `Listening on` line."""
        return self._add(Server(script(folder), args, cwd or self.workdir, stdin=stdin, env=env))

    def client(self, folder: str, *args: str, name: str = "client.py", cwd: Path | None = None,
               env: dict[str, str] | None = None) -> Proc:  # fmt: skip
        """Start <folder>/client.py (or another script of the folder) with a stdin pipe."""
        return self._add(Proc(script(folder, name), args, cwd or self.workdir, env=env))

    def tool(self, program: str, *args: str) -> Proc:
        """Start a third-party program with pipes, like a client."""
        return self._add(Proc(Path(program), args, self.workdir, command=[program, *args]))

    def _add(self, proc):
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if isinstance(proc, Server) and proc.popen.poll() is None:
                proc.interrupt()
        for proc in self.procs:
            try:
                proc.popen.wait(STOP_TIMEOUT if isinstance(proc, Server) else 0.1)
            except subprocess.TimeoutExpired:
                pass
            proc.kill()


def connect(address: tuple[str, int], timeout: float | None = None) -> socket.socket:
    return socket.create_connection(address, timeout=TIMEOUT if timeout is None else timeout)


def recv_until(
    sock: socket.socket,
    predicate,
    timeout: float | None = None,
    limit: int = 1 << 30,
    data: bytearray | None = None,
) -> bytes:
    """Read from a socket into `data` until predicate(data) holds; return what was read."""
    timeout = TIMEOUT if timeout is None else timeout
    data = bytearray() if data is None else data
    deadline = time.monotonic() + timeout
    while not predicate(data):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"timed out after {timeout:.0f} s; received {len(data)} bytes: "
                f"{bytes(data[-200:])!r}"
            )
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(
                f"connection closed; received {len(data)} bytes: {bytes(data[-200:])!r}"
            )
        data += chunk
        if len(data) > limit:
            raise AssertionError(f"received more than {limit} bytes")
    return bytes(data)


def recv_line(sock: socket.socket, buffer: bytearray, timeout: float | None = None) -> str:
    """Read one newline-terminated line, keeping any extra bytes in `buffer`."""
    recv_until(sock, lambda data: b"\n" in data, timeout, data=buffer)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode("utf-8")


def run_python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a Python script to its end with the scripts' environment (for --help and such)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        timeout=WAIT,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    """A port that nothing listens on (for 'server not there' tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
