#!/usr/bin/env python3
"""Make the README's screenshots from the real pages, in Debian's Chromium.

    uv run tools/screenshots.py [--out docs/screenshots]

Starts ws_file_server, fastapi_chat and push_pull on free ports of 127.0.0.1, uses each page
the way a student would (Playwright drives the browser), and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from browser import launch  # noqa: E402  (the tests' way to start Debian's Chromium)

VIEWPORT = {"width": 900, "height": 620}


@contextmanager
def server(folder: str) -> Iterator[str]:
    """Run <folder>/server.py on a free port; yield its http:// base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / folder / "server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if match := re.search(r"Listening on \w+://([^:\s]+):(\d+)", line):
                break
        else:
            sys.exit(f"{folder}/server.py did not start")
        yield f"http://{match.group(1)}:{match.group(2)}"
    finally:
        proc.terminate()
        proc.wait()


def file_page(page: Page, base: str, out: Path) -> None:
    page.goto(base + "/")
    page.fill("#file-name", "myfile1.txt")
    page.click("#get-ws")
    page.wait_for_function("document.getElementById('file-content').textContent.length > 0")
    page.screenshot(path=out / "file_page.png")


def chat_page(browser, base: str, out: Path) -> None:
    ann = browser.new_page(viewport=VIEWPORT)
    bob = browser.new_page(viewport=VIEWPORT)
    for page, name in ((ann, "ann"), (bob, "bob")):
        # The page joins under the name it remembers: set it, so it joins as NAME at once.
        page.add_init_script(f"localStorage.setItem('chat-name', '{name}')")
        page.goto(base + "/")
        page.wait_for_function("document.getElementById('status').textContent == 'connected'")
    conversation = [
        (ann, "Hi Bob! Привіт 👋"),
        (bob, "Hello Ann, สวัสดีครับ"),
        (ann, "<b>HTML</b> stays text here"),
    ]
    for page, text in conversation:
        page.fill("#message", text)
        page.press("#message", "Enter")
        ann.wait_for_function(
            "text => [...document.querySelectorAll('#messages li')]"
            ".some(li => li.textContent.includes(text))",
            arg=text,
        )
    ann.screenshot(path=out / "chat_page.png")


def push_pull_page(browser, base: str, out: Path) -> None:
    # Four panes side by side need a wider window than the other pages.
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(base + "/")
    page.fill("#message", "Привіт 👋 from the page's form")
    page.press("#message", "Enter")
    # The server ticks twice a second: wait until every pane has a screenful.
    page.wait_for_function(
        "['poll', 'longpoll', 'sse', 'ws'].every(id =>"
        " document.querySelectorAll(`#${id} .events li`).length >= 10)",
        timeout=30_000,
    )
    page.screenshot(path=out / "push_pull.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        with server("ws_file_server") as base:
            file_page(browser.new_page(viewport=VIEWPORT), base, args.out)
        with server("fastapi_chat") as base:
            chat_page(browser, base, args.out)
        with server("push_pull") as base:
            push_pull_page(browser, base, args.out)
        browser.close()
    print(f"written: {', '.join(p.name for p in sorted(args.out.glob('*.png')))} in {args.out}")


if __name__ == "__main__":
    main()
