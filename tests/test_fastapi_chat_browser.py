"""fastapi_chat's page (static/chat.html) in a real, headless Chromium, through Playwright.

Skipped with a reason where /usr/bin/chromium is missing, except under CI, where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000
OPEN = (  # the page says it is connected and lets you send
    "document.querySelector('#status').textContent.includes('connected')"
    " && !document.querySelector('#send').disabled"
)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install chromium")
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def open_chat(browser, server, name: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url("/"))
    page.fill("#name", name)
    page.press("#name", "Enter")  # join under that name
    page.wait_for_function(OPEN)
    return page


def test_two_pages_chat_and_show_text_as_text(start_server, browser):
    server = start_server("fastapi_chat")
    ann = open_chat(browser, server, "ann")
    bob = open_chat(browser, server, "bob")
    text = "<b>bold</b><img src=x onerror=alert(1)> Привіт 👋"
    ann.fill("#message", text)
    ann.press("#message", "Enter")
    for page in (ann, bob):
        item = page.locator("#messages li", has_text="ann: <b>bold")
        item.wait_for()
        assert item.text_content() == f"ann: {text}"
        assert page.locator("#messages img, #messages b").count() == 0
    assert ann.input_value("#message") == ""


def test_page_disables_send_and_reconnects_when_the_server_restarts(start_server, browser):
    server = start_server("fastapi_chat")
    page = open_chat(browser, server, "ann")
    server.stop()
    page.wait_for_function("document.querySelector('#send').disabled")
    assert page.text_content("#status") != "connected"
    # The same port again (argparse keeps the last --port): the page reconnects by itself.
    start_server("fastapi_chat", "--port", str(server.port))
    page.wait_for_function(OPEN)
    page.fill("#message", "back")
    page.click("#send")
    page.locator("#messages li", has_text="ann: back").wait_for()
