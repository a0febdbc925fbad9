"""Debian's Chromium driven by Playwright, for the page tests and tools/screenshots.py.

Playwright's own browser download cannot work on a machine without internet access, so we
launch the system's Chromium (`apt-get install chromium`) by its path.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless as root needs --no-sandbox; the rest keep Chromium from calling home, which on a
# closed network floods it with refused connections and slows every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_SECONDS = 20  # Playwright's wait for any one thing on a page, before the time scale


def wait_ms() -> float:
    """Playwright's timeout in milliseconds, stretched by the suite's time scale."""
    import harness

    return harness.scaled(WAIT_SECONDS) * 1000


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
