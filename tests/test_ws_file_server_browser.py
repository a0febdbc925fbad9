"""ws_file_server's page (static/index.html, seed 004 tasks 2 and 3) in a real headless Chromium.

The page's ids are fixed by the issue: form #file-form, input #file-name, buttons #get-http
and #get-ws, output <pre id="file-content">, status line #status.
"""

from __future__ import annotations

import time
from pathlib import Path

import harness
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

FOLDER = "ws_file_server"
TEXT = "Привіт, світ! สวัสดีครับ 🌍\nsecond line"
MARKUP = '<img src="x" onerror="window.pwned = 1"><b id="injected">bold?</b>'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "text.txt").write_text(TEXT, encoding="utf-8")
    (root / "markup.txt").write_text(MARKUP, encoding="utf-8")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "secret.txt").write_text("TOP-SECRET\n", encoding="utf-8")
    return root


def fetch(page, name: str, button: str) -> None:
    page.fill("#file-name", name)
    page.click(button)


def wait_content(page, expected: str) -> None:
    page.wait_for_function(
        "expected => document.getElementById('file-content').textContent === expected",
        arg=expected,
    )


def wait_status(page, pattern: str) -> None:
    page.wait_for_function(
        "pattern => new RegExp(pattern, 'i').test(document.getElementById('status').textContent)",
        arg=pattern,
    )


def wait_ws_open(page, name: str = "text.txt", expected: str = TEXT) -> None:
    """Ask over the WebSocket until it answers: the socket may still be (re)connecting, and a
    page may ignore a click made meanwhile (the README does not say it must queue it)."""
    deadline = time.monotonic() + harness.WAIT
    while True:
        fetch(page, name, "#get-ws")
        try:
            page.wait_for_function(
                "expected => document.getElementById('file-content').textContent === expected",
                arg=expected,
                timeout=harness.scaled(1) * 1000,
            )
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


@pytest.mark.core
@pytest.mark.hint(
    "the buttons fetch the name in #file-name over HTTP (fetch) or the WebSocket and put the "
    "text in #file-content; errors go to #status"
)
@pytest.mark.parametrize("button", ["#get-http", "#get-ws"])
def test_page_fetches_text_over_both_ways(start_server, page, site, button):
    """The page has the fixed ids and shows a file fetched over HTTP or the WebSocket; a missing
    file shows 404 and ../secret.txt is refused (seed 004 tasks 2 and 3)."""
    server = start_server(FOLDER, "--root", str(site))
    page.goto(server.url("/", "http"))
    for element_id in ["file-form", "file-name", "get-http", "get-ws", "file-content", "status"]:
        assert page.locator(f"#{element_id}").count() == 1, f"expected one #{element_id}"
    assert page.eval_on_selector("#file-content", "e => e.tagName") == "PRE"
    fetch(page, "text.txt", button)
    wait_content(page, TEXT)
    fetch(page, "missing.txt", button)
    wait_status(page, "404|[Nn]ot [Ff]ound")
    page.evaluate("document.getElementById('status').textContent = ''")  # forget the 404
    fetch(page, "../secret.txt", button)
    wait_status(page, "4\\d\\d|forbidden|denied|not allowed|not found")  # refused, in #status
    assert "TOP-SECRET" not in page.inner_text("#file-content")


@pytest.mark.core
@pytest.mark.hint("show received text with textContent, never innerHTML")
@pytest.mark.parametrize("button", ["#get-http", "#get-ws"])
def test_page_shows_received_markup_as_text(start_server, page, site, button):
    """A file full of markup is shown as text, never turned into elements or run (ws_file_server
    README: the page uses textContent)."""
    server = start_server(FOLDER, "--root", str(site))
    page.goto(server.url("/", "http"))
    fetch(page, "markup.txt", button)
    wait_content(page, MARKUP)
    assert page.locator("#injected").count() == 0, "the file's markup became HTML elements"
    assert page.evaluate("window.pwned") is None, "the file's onerror handler ran in the page"


@pytest.mark.interface
def test_page_reconnects_when_the_server_comes_back(start_server, page, site):
    """After the server stops and starts again on the same port, the page's WebSocket reconnects by
    itself (ws_file_server README: 'reconnects when the socket drops')."""
    server = start_server(FOLDER, "--root", str(site))
    page.goto(server.url("/", "http"))
    wait_ws_open(page)
    port = server.port
    server.stop()
    # The same port again ("--port" given last wins over the fixture's --port 0).
    again = start_server(FOLDER, "--root", str(site), "--port", str(port))
    assert again.port == port, f"started with --port {port}, it listens on {again.port}"
    wait_ws_open(page, "markup.txt", MARKUP)  # clicked again until the page has reconnected


@pytest.mark.interface
def test_page_works_through_a_different_host_name(start_server, page, site):
    """The WebSocket URL comes from location, not a hard-coded 127.0.0.1:8080."""
    server = start_server(FOLDER, "--root", str(site))
    page.goto(f"http://localhost:{server.port}/")
    if page.evaluate("location.hostname") != "localhost":
        pytest.skip("localhost does not resolve here")
    wait_ws_open(page)
