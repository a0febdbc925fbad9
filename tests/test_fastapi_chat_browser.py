"""fastapi_chat's page (static/chat.html) in a real, headless Chromium, through Playwright.

Skipped with a reason where /usr/bin/chromium is missing, except under CI, where it fails.
"""

from __future__ import annotations

import browser as browser_support
import pytest

OPEN = (  # the page says it is connected and lets you send
    "document.querySelector('#status').textContent.includes('connected')"
    " && !document.querySelector('#send').disabled"
)


def open_chat(browser, server, name: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(browser_support.wait_ms())
    page.goto(server.url("/"))
    page.fill("#name", name)
    page.press("#name", "Enter")  # join under that name
    page.wait_for_function(OPEN)
    return page


@pytest.mark.core
@pytest.mark.hint("add each message to the page with textContent, never innerHTML")
def test_two_pages_chat_and_show_text_as_text(start_server, browser):
    """A message with HTML in it shows in both pages as those characters, never as elements, and the
    input is cleared (fastapi_chat README: the page uses textContent)."""
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
        assert page.locator("#messages img, #messages b").count() == 0, (
            "the message's markup became HTML elements in the page"
        )
    assert ann.input_value("#message") == ""


@pytest.mark.interface
def test_page_disables_send_and_reconnects_when_the_server_restarts(start_server, browser):
    """When the server stops, the page disables Send and says it is offline; it reconnects by itself
    when the server is back (fastapi_chat README, What to try)."""
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


@pytest.mark.core
@pytest.mark.hint(
    "pages and terminal clients join the same room: one manager for every /ws connection"
)
def test_two_pages_and_a_terminal_client_share_the_room(start_server, start_client, browser):
    """A message from each of the three reaches the other two."""
    server = start_server("fastapi_chat")
    ann = open_chat(browser, server, "ann")
    bob = open_chat(browser, server, "bob")
    cli = start_client("fastapi_chat", "--port", str(server.port), "--name", "cli")
    for page in (ann, bob):
        page.locator("#messages li", has_text="cli").first.wait_for()  # cli has joined
    ann.fill("#message", "from ann")
    ann.press("#message", "Enter")
    bob.fill("#message", "from bob")
    bob.press("#message", "Enter")
    cli.send("from cli ✓")
    cli.expect(r"ann\W.*from ann$")
    cli.expect(r"bob\W.*from bob$")
    for page, other in ((ann, "bob"), (bob, "ann")):
        page.locator("#messages li", has_text=f"{other}: from {other}").wait_for()
        page.locator("#messages li", has_text="cli: from cli ✓").wait_for()
    cli.send("exit")
    cli.assert_exit(0)


@pytest.mark.interface
def test_page_works_through_a_different_host_name(start_server, page):
    """The page connects to the server it came from (ws://{location.host}/ws), not to a
    hard-coded address (fastapi_chat README)."""
    server = start_server("fastapi_chat")
    page.goto(f"http://localhost:{server.port}/")
    if page.evaluate("location.hostname") != "localhost":
        pytest.skip("localhost does not resolve here")
    page.wait_for_function(OPEN)
