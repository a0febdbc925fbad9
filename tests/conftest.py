"""Fixtures shared by every assignment's tests (the --solutions option is in course_plugin.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import harness
import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh working directory for the scripts of one test."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@pytest.fixture
def procs():
    """Every process a test starts; all of them are killed at the end, pass or fail."""
    started: list[harness.Proc] = []
    yield started
    for proc in started:
        proc.kill()


@pytest.fixture
def start_server(workdir: Path, procs: list[harness.Proc]):
    """start_server(folder, *args) -> Server, started with --port 0.

    At the end of the test each server still running is stopped with Ctrl+C and must exit
    with status 0 within 5 seconds, printing no traceback (CONTRACT servers 4).
    """
    servers: list[harness.Server] = []

    def start(
        folder: str,
        *args: str,
        stdin=subprocess.DEVNULL,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> harness.Server:
        server = harness.Server(
            harness.script(folder, "server.py"), args, cwd or workdir, stdin=stdin, env=env
        )
        procs.append(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.popen.poll() is None:
            server.stop()


@pytest.fixture
def start_client(workdir: Path, procs: list[harness.Proc]):
    """start_client(folder, *args) -> Proc with a stdin pipe."""

    def start(
        folder: str,
        *args: str,
        name: str = "client.py",
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> harness.Proc:
        proc = harness.Proc(harness.script(folder, name), args, cwd or workdir, env=env)
        procs.append(proc)
        return proc

    return start


@pytest.fixture
def nc() -> str:
    """Path of netcat; skipped with a reason where it is not installed (CI installs it)."""
    path = shutil.which("nc")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("nc is not installed; .ci/run installs netcat-openbsd")
        pytest.skip("nc is not installed (Debian/Ubuntu: apt-get install netcat-openbsd)")
    return path
