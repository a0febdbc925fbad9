"""push_pull's page (static/push_pull.html, seed 001: Push vs Pull) in a real headless Chromium.

The page's ids are fixed by the issue: panes #poll, #longpoll, #sse and #ws, each holding a list
with class `events` and the counters `.requests`, `.bytes` and `.delay`; #interval sets the
polling interval; the form #publish-form with #message publishes an event.
"""

from __future__ import annotations

import json
import urllib.request

import harness
import pytest

FOLDER = "push_pull"
PANES = ["poll", "longpoll", "sse", "ws"]
MARKUP = '<img src="x" onerror="window.pwned = 1"><b id="injected">bold?</b>'


def publish(server: harness.Server, text: str) -> dict:
    req = urllib.request.Request(server.url("/events", "http"), data=text.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=harness.TIMEOUT) as reply:
        return json.loads(reply.read())


def wait_in_every_pane(page, text: str) -> None:
    """Wait until each pane's event list shows `text`, exactly once."""
    page.wait_for_function(
        """text => ["poll", "longpoll", "sse", "ws"].every(id =>
             [...document.querySelectorAll(`#${id} .events li`)]
               .filter(li => li.textContent.includes(text)).length === 1)""",
        arg=text,
    )


def number(page, selector: str) -> int:
    digits = "".join(ch for ch in page.text_content(selector) or "" if ch.isdigit())
    return int(digits or 0)


@pytest.mark.core
@pytest.mark.hint("each pane must show new events by itself: poll again, long poll again, listen")
def test_page_shows_events_arriving_in_all_four_panes(start_server, page):
    """Events published with POST /events and with the page's own form appear once in each of the
    four panes, whose request and byte counters count up and whose delay shows milliseconds
    (push_pull README, What it shows)."""
    server = start_server(FOLDER, "--rate", "0")
    publish(server, "held before the page came")
    page.goto(server.url("/", "http"))
    wait_in_every_pane(page, "held before the page came")
    for text in ["first live event", "друга подія ✓"]:
        publish(server, text)
        wait_in_every_pane(page, text)
    page.fill("#message", "from the page's form")
    page.press("#message", "Enter")
    wait_in_every_pane(page, "from the page's form")
    for pane in PANES:
        assert number(page, f"#{pane} .requests") >= 1, f"#{pane} counted no requests"
        assert number(page, f"#{pane} .bytes") > 0, f"#{pane} counted no bytes"
        assert "ms" in (page.text_content(f"#{pane} .delay") or ""), f"#{pane} shows no delay"


@pytest.mark.core
@pytest.mark.hint("the WebSocket pane must reconnect by itself with ?after=<last id>")
def test_every_pane_carries_on_after_the_server_restarts(start_server, page):
    """After the server stops and starts again on the same port, all four panes show the new
    server's events by themselves: EventSource reconnects on its own, the page reconnects its
    WebSocket and keeps polling (push_pull README, Try)."""
    server = start_server(FOLDER, "--rate", "0")
    page.goto(server.url("/", "http"))
    publish(server, "before the restart")
    wait_in_every_pane(page, "before the restart")
    server.stop()
    # The same port again ("--port" given last wins over the fixture's --port 0).
    again = start_server(FOLDER, "--rate", "0", "--port", str(server.port))
    assert again.port == server.port
    # The new run's ids start at 1 again: its second event is news to every pane.
    publish(again, "first after the restart")
    publish(again, "second after the restart")
    wait_in_every_pane(page, "second after the restart")


@pytest.mark.robustness
def test_page_shows_received_markup_as_text(start_server, page):
    """An event full of markup is shown as text in every pane, never turned into elements or run
    (push_pull README: the page uses textContent)."""
    server = start_server(FOLDER, "--rate", "0")
    page.goto(server.url("/", "http"))
    publish(server, MARKUP)
    wait_in_every_pane(page, MARKUP)
    assert page.locator("#injected").count() == 0, "the event's markup became HTML elements"
    assert page.evaluate("window.pwned") is None, "the event's onerror handler ran in the page"


@pytest.mark.interface
def test_page_has_the_fixed_ids_and_the_interval_speeds_up_polling(start_server, page):
    """The page has the four panes with their `events`, `requests`, `bytes` and `delay` elements,
    and a shorter #interval makes the poll pane ask more often (push_pull README, Run it: the
    page)."""
    server = start_server(FOLDER, "--rate", "0")
    page.goto(server.url("/", "http"))
    for pane in PANES:
        assert page.locator(f"#{pane}").count() == 1, f"expected one #{pane}"
        for part in ["events", "requests", "bytes", "delay"]:
            count = page.locator(f"#{pane} .{part}").count()
            assert count == 1, f"expected one .{part} in #{pane}, found {count}"
    page.fill("#interval", "0.1")
    page.dispatch_event("#interval", "change")
    start = number(page, "#poll .requests")
    # 30 more requests: 3 s at 0.1 s, but 30 s at the default of 1 s.
    page.wait_for_function(
        "start => Number(document.querySelector('#poll .requests').textContent"
        ".replace(/\\D/g, '')) >= start + 30",
        arg=start,
        timeout=harness.TIMEOUT * 1000,
    )


@pytest.mark.interface
def test_page_works_through_a_different_host_name(start_server, page):
    """The page builds its URLs from location, not a hard-coded 127.0.0.1:8083."""
    server = start_server(FOLDER, "--rate", "0")
    page.goto(f"http://localhost:{server.port}/")
    if page.evaluate("location.hostname") != "localhost":
        pytest.skip("localhost does not resolve here")
    publish(server, "through localhost")
    wait_in_every_pane(page, "through localhost")
