"""A real Redis for the tests of fastapi_chat's --redis: Debian's redis-server, no mock.

Each test that asks for one gets `redis-server --port P --save '' --appendonly no` on a free
port of 127.0.0.1 (nothing is written to disk), which it may stop and start again, and which is
stopped at its end. Where redis-server is missing the test is skipped with the command that
installs it, except under CI (the environment variable CI set), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import harness
import pytest


class RedisServer:
    """One redis-server process; stop() and start() again keep its port."""

    def __init__(self, program: str, workdir: Path) -> None:
        self.program = program
        self.workdir = workdir
        self.port = harness.free_port()
        self.popen: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + harness.STARTUP_TIMEOUT
        while not self.answers():
            assert self.popen.poll() is None, f"redis-server on port {self.port} ended"
            assert time.monotonic() < deadline, f"redis-server on port {self.port} did not start"
            time.sleep(harness.scaled(0.02))  # polling a port that is about to open

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: Redis closes every connection and ends (with nothing to save)."""
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def redis_server_for(workdir: Path) -> RedisServer:
    """A fresh redis-server, or a skip (a failure under CI) saying how to install it."""
    if harness.grading():
        pytest.skip("--redis is this repository's extension of fastapi_chat, not the task's")
    program = shutil.which("redis-server")
    if not program:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing; .ci/run installs it (redis-server)")
        pytest.skip("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
    return RedisServer(program, workdir)
