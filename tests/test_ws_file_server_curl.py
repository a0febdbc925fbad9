"""ws_file_server driven by curl, a client nobody here wrote (files, Range, traversal)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import harness
import pytest

FOLDER = "ws_file_server"
TEXT = "Привіт, світ! สวัสดีครับ 🌍\n"
SECRET = "TOP-SECRET-curl"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "hello.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return root


def run_curl(curl: str, *args: str) -> tuple[int, bytes]:
    """Return the HTTP status and the body."""
    result = subprocess.run(
        [curl, "--silent", "--show-error", "--max-time", "20", "--write-out", "\n%{http_code}",
         *args],
        capture_output=True, timeout=harness.scaled(30), check=True,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


@pytest.mark.core
@pytest.mark.hint("serve the file's bytes with a 200 to any HTTP client")
def test_curl_gets_a_file(start_server, curl, root):
    """curl, a client nobody here wrote, gets a UTF-8 file intact with status 200 (ws_file_server
    README, Try this)."""
    server = start_server(FOLDER, "--root", str(root))
    status, body = run_curl(curl, server.url("/hello.txt"))
    assert (status, body.decode("utf-8")) == (200, TEXT)


@pytest.mark.core
@pytest.mark.hint("answer Range requests with 206 and those bytes (web.FileResponse does it)")
def test_curl_range(start_server, curl, root):
    """`curl --range 0-5` gets status 206 and exactly the first 6 bytes (ws_file_server README:
    Range)."""
    server = start_server(FOLDER, "--root", str(root))
    status, body = run_curl(curl, "--range", "0-5", server.url("/hello.txt"))
    assert status == 206
    assert body == TEXT.encode("utf-8")[:6]


@pytest.mark.core
@pytest.mark.hint("serve the folder files/ beside server.py when no --root is given")
def test_curl_seed_url_with_the_default_root(start_server, curl):
    """With no --root, curl gets the seed's /myfile1.txt with status 200 (seed 004 task 1)."""
    server = start_server(FOLDER)
    status, body = run_curl(curl, server.url("/myfile1.txt"))
    assert status == 200 and body, f"expected 200 and the file, got {status} and {len(body)} bytes"


@pytest.mark.core
@pytest.mark.hint("a raw path may hold '..' or %2e%2e: resolve it and refuse what leaves the root")
@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"])
def test_curl_path_as_is_cannot_escape_the_root(start_server, curl, root, path):
    """curl --path-as-is with `..` and encoded `..` gets a 4xx and never the file beside the root
    (ws_file_server README: nothing outside the root, ever)."""
    server = start_server(FOLDER, "--root", str(root))
    status, body = run_curl(curl, "--path-as-is", server.url(path))
    assert SECRET.encode() not in body, f"{path} served a file outside the root"
    assert 400 <= status < 500, f"{path}: expected a 4xx refusal, got {status}"
