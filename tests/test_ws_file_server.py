"""ws_file_server: files over HTTP and over a WebSocket on one aiohttp port (seed 004 tasks 1-3).

Protocol under test (the issue fixes it): the client sends a text frame holding a relative
path; the server answers one JSON text frame {"name", "size", "content"} (+ "encoding":
"base64" for a file that is not UTF-8) or {"name", "error", "status": 403|404|413}.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import harness
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

FOLDER = "ws_file_server"
TEXT = "Привіт, світ! Привет! สวัสดีครับ 🌍🚀\nsecond line\n"
BINARY = bytes(range(256)) * 40 + b"\xff\xfe\x00 not utf-8"
TOKEN = "TOP-SECRET-7c1f9e"  # in the files beside the root; must never come back
UNICODE_NAME = "тест файл ทดสอบ.txt"
SEED_FILES = ["myfile1.txt", "myserver.py", "README.rst"]
BIG_BYTES = 200 * 1024 * 1024


# --- a root folder with neighbours a hostile client would like to read ----------------------
@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/site is the root; tmp/secret.txt and tmp/site-private/ sit beside it."""
    root = tmp_path / "site"
    (root / "sub" / "dir").mkdir(parents=True)
    (root / "text.txt").write_text(TEXT, encoding="utf-8")
    (root / "data.bin").write_bytes(BINARY)
    (root / "sub" / "dir" / "nested.txt").write_text("nested ✓\n", encoding="utf-8")
    (root / UNICODE_NAME).write_text("unicode name ✓\n", encoding="utf-8")
    (root / "page.html").write_text("<b>bold</b>\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text(TOKEN + "\n", encoding="utf-8")
    # Same prefix as the root: a check like str(path).startswith(str(root)) lets this through.
    (tmp_path / "site-private").mkdir()
    (tmp_path / "site-private" / "secret.txt").write_text(TOKEN + "\n", encoding="utf-8")
    try:
        (root / "link.txt").symlink_to(tmp_path / "secret.txt")
        (root / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    except OSError:
        pass  # Windows without the right to make symlinks: the other names still test
    return root


def start(start_server, root: Path, *args: str) -> harness.Server:
    return start_server(FOLDER, "--root", str(root), *args)


# --- HTTP through a raw socket, so no client library tidies the path first -----------------
def http_get(
    server: harness.Server, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one raw GET; return status, headers (lower-case names) and body."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {server.host}:{server.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    with harness.connect(server.address, timeout=harness.scaled(30)) as sock:
        sock.sendall(request)
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), f"no HTTP response to {target!r}: {bytes(data[:200])!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), found, body


# --- the WebSocket protocol ------------------------------------------------------------------
def ws_open(server: harness.Server):
    # proxy=None: never route a 127.0.0.1 test through a proxy from the environment.
    return ws_connect(server.url("/ws", "ws"), open_timeout=15, max_size=None, proxy=None)


def ask(ws, name: str) -> dict:
    ws.send(name)
    reply = ws.recv(timeout=harness.scaled(30))
    assert isinstance(reply, str), f"the reply must be a text frame, got {reply[:80]!r}"
    return json.loads(reply)


def content_of(reply: dict) -> bytes:
    assert "error" not in reply, reply
    if reply.get("encoding") == "base64":
        return base64.b64decode(reply["content"])
    return reply["content"].encode("utf-8")


def find_shipped(name: str) -> Path:
    """The copy of a seed file shipped in the folder under test (any subfolder)."""
    folder = harness.script(FOLDER).parent
    found = [p for p in folder.rglob(name) if "__pycache__" not in p.parts]
    assert found, f"{FOLDER} must ship {name} in its default root folder"
    return found[0]


# --- the seed's task 1 -----------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    "serve the folder files/ beside server.py when no --root is given (find it from __file__, "
    "not the working directory)"
)
def test_the_seed_urls_work_with_the_default_root(start_server):
    """With no --root, the seed's three files come back byte for byte over HTTP and the WebSocket,
    and a missing file is 404 (seed 004 task 1)."""
    server = start_server(FOLDER)
    for name in SEED_FILES:
        status, _, body = http_get(server, f"/{name}")
        assert status == 200, f"GET /{name} -> {status}"
        assert body == find_shipped(name).read_bytes()
    with ws_open(server) as ws:
        for name in SEED_FILES:
            reply = ask(ws, name)
            assert reply["name"] == name
            assert content_of(reply) == find_shipped(name).read_bytes()
    assert http_get(server, "/no-such-file.txt")[0] == 404


@pytest.mark.core
@pytest.mark.hint("serve static/index.html at GET / with the ids the README lists")
def test_page_is_served_at_root_with_its_ids(start_server):
    """`GET /` is an HTML page with the ids the issue fixes, #file-content being a <pre> (seed 004
    tasks 2 and 3)."""
    server = start_server(FOLDER)
    status, headers, body = http_get(server, "/")
    assert status == 200
    assert headers.get("content-type", "").startswith("text/html")
    page = body.decode("utf-8")
    for element_id in ["file-form", "file-name", "get-http", "get-ws", "file-content", "status"]:
        assert f'id="{element_id}"' in page or f"id='{element_id}'" in page, (
            f"the page has no element with id={element_id!r}"
        )
    assert re.search(r"<pre\b[^>]*\bid=[\"']file-content[\"']", page), "#file-content is a <pre>"


# --- HTTP --------------------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    "let web.FileResponse (or add_static) send the file; answer 404 for a missing one"
)
def test_http_serves_text_binary_nested_and_unicode_names(start_server, site):
    """HTTP serves text, binary, nested and Unicode-named files byte for byte; a missing file is 404
    and a folder 403 or 404 (ws_file_server README, Protocol)."""
    server = start(start_server, site)
    status, headers, body = http_get(server, "/text.txt")
    assert (status, body) == (200, TEXT.encode("utf-8"))
    assert headers.get("content-length") in (None, str(len(body))), headers
    assert http_get(server, "/data.bin")[2] == BINARY
    assert http_get(server, "/sub/dir/nested.txt")[2] == "nested ✓\n".encode()
    assert http_get(server, "/" + quote(UNICODE_NAME))[2] == "unicode name ✓\n".encode()
    assert http_get(server, "/missing.txt")[0] == 404
    assert http_get(server, "/sub/missing.txt")[0] == 404
    assert http_get(server, "/sub")[0] in (403, 404)  # a directory is not a file


@pytest.mark.core
@pytest.mark.hint(
    "web.FileResponse answers Range and If-Modified-Since for you: do not read the file by hand"
)
def test_http_range_and_conditional_requests(start_server, site):
    """HTTP answers `Range` with 206 and exactly those bytes, and `If-Modified-Since` with 304 and
    no body (ws_file_server README: `web.FileResponse`)."""
    server = start(start_server, site)
    status, headers, body = http_get(server, "/data.bin", {"Range": "bytes=100-199"})
    assert status == 206
    assert body == BINARY[100:200]
    assert headers["content-range"] == f"bytes 100-199/{len(BINARY)}"
    status, _, body = http_get(server, "/data.bin", {"Range": "bytes=-10"})
    assert (status, body) == (206, BINARY[-10:])
    _, headers, _ = http_get(server, "/data.bin")
    status, _, body = http_get(server, "/data.bin", {"If-Modified-Since": headers["last-modified"]})
    assert (status, body) == (304, b"")


def rss_peak_kib(pid: int) -> int | None:
    """The process's peak resident memory (Linux), or None where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def download(server: harness.Server, target: str) -> tuple[int, str]:
    """Stream one response to nowhere; return its body length and SHA-256."""
    with harness.connect(server.address, timeout=harness.scaled(60)) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = harness.recv_until(
            sock, lambda data: b"\r\n\r\n" in data, timeout=harness.scaled(30)
        )
        head, _, first = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        digest, size = hashlib.sha256(first), len(first)
        while chunk := sock.recv(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@pytest.mark.robustness
def test_big_file_is_streamed_without_filling_memory(start_server, site):
    """A 200 MB file downloads whole while another client stalls on it, and the server's memory
    grows by less than 50 MiB (ws_file_server README: streamed with sendfile)."""
    big = site / "big.bin"
    with big.open("wb") as file:  # sparse: 200 MB on the test machine's disk costs nothing
        file.truncate(BIG_BYTES)
        file.seek(BIG_BYTES // 2)
        file.write(b"middle")
    expected = hashlib.sha256()
    with big.open("rb") as file:
        while chunk := file.read(1 << 20):
            expected.update(chunk)
    server = start(start_server, site)
    peak_before = rss_peak_kib(server.popen.pid)

    # A client that asks for the big file and never reads must not stall anybody else.
    with harness.connect(server.address, timeout=harness.scaled(30)) as stalled:
        stalled.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert http_get(server, "/text.txt")[2] == TEXT.encode()
        assert download(server, "/big.bin") == (BIG_BYTES, expected.hexdigest())

    peak_after = rss_peak_kib(server.popen.pid)
    if peak_before is not None and peak_after is not None:
        grown_mib = (peak_after - peak_before) / 1024
        assert grown_mib < 50, f"the server's memory grew by {grown_mib:.0f} MiB for 200 MB"


# --- WebSocket -----------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    'answer each name with one JSON text frame: the text, or base64 with "encoding" for a file '
    "that is not UTF-8"
)
def test_ws_text_binary_missing_and_directory(start_server, site):
    """Over the WebSocket a text file comes back as JSON name/size/content, a binary one as base64,
    a missing one as status 404 (ws_file_server README, Protocol)."""
    server = start(start_server, site)
    with ws_open(server) as ws:
        reply = ask(ws, "text.txt")
        assert reply["name"] == "text.txt"
        assert reply["content"] == TEXT
        assert reply["size"] == len(TEXT.encode("utf-8"))
        assert reply.get("encoding") in (None, "utf-8")

        reply = ask(ws, "data.bin")
        assert reply["encoding"] == "base64"
        assert base64.b64decode(reply["content"]) == BINARY
        assert reply["size"] == len(BINARY)

        assert content_of(ask(ws, "sub/dir/nested.txt")) == "nested ✓\n".encode()
        assert ask(ws, UNICODE_NAME)["content"] == "unicode name ✓\n"

        reply = ask(ws, "missing.txt")
        assert (reply["name"], reply["status"]) == ("missing.txt", 404)
        assert reply["error"]
        assert ask(ws, "sub")["status"] in (403, 404)
        assert ask(ws, "text.txt")["content"] == TEXT  # the connection carries on


@pytest.mark.core
@pytest.mark.hint("answer the requests of one connection one after another, in the order they came")
def test_ws_many_requests_on_one_connection_come_back_in_order(start_server, site):
    """40 names sent on one connection before any reply is read get their replies in the order asked
    (ws_file_server README, Protocol)."""
    server = start(start_server, site)
    names = ["text.txt", "data.bin", "missing.txt", "sub/dir/nested.txt"] * 10
    with ws_open(server) as ws:
        for name in names:  # all sent before any reply is read
            ws.send(name)
        replies = [json.loads(ws.recv(timeout=harness.scaled(30))) for _ in names]
    assert [reply["name"] for reply in replies] == names


@pytest.mark.core
@pytest.mark.hint(
    "check the size before reading: above --ws-max-bytes answer 413 with the file's HTTP URL"
)
def test_ws_file_over_the_limit_gets_413_pointing_at_http(start_server, site):
    """A file over --ws-max-bytes gets status 413 and its HTTP URL instead of its content; smaller
    files still come (ws_file_server README, Protocol)."""
    (site / "large.bin").write_bytes(b"x" * 5000)
    (site / "fits.txt").write_text("y" * 1000, encoding="utf-8")
    server = start(start_server, site, "--ws-max-bytes", "1000")
    with ws_open(server) as ws:
        reply = ask(ws, "large.bin")
        assert reply["status"] == 413
        assert reply["name"] == "large.bin"
        assert "content" not in reply
        assert "/large.bin" in json.dumps(reply), "the error must point at the HTTP URL"
        assert ask(ws, "fits.txt")["content"] == "y" * 1000
    assert http_get(server, "/large.bin")[2] == b"x" * 5000


@pytest.mark.core
@pytest.mark.hint(
    "read files off the event loop (asyncio.to_thread) so no socket waits for another"
)
def test_ws_many_connections_at_once(start_server, site):
    """30 WebSocket connections open at the same time each get the right files (ws_file_server
    README, Protocol: 'many connections run at once')."""
    server = start(start_server, site)
    opened = threading.Barrier(30, timeout=harness.scaled(60))

    def session(number: int) -> None:
        with ws_open(server) as ws:
            opened.wait()  # every connection is open at the same time
            for name in ["text.txt", "data.bin", UNICODE_NAME] * 2:
                reply = ask(ws, name)
                assert reply["name"] == name
                assert content_of(reply) == (site / name).read_bytes(), (
                    f"connection {number}: {name} came back with other content"
                )

    with ThreadPoolExecutor(30) as pool:
        for result in [pool.submit(session, n) for n in range(30)]:
            result.result(timeout=harness.scaled(120))


@pytest.mark.robustness
def test_ws_binary_frames_and_oversized_names_do_not_hurt_the_server(start_server, site):
    """A binary frame and a 200 kB name get an error reply (or a close code), and the server goes on
    serving (the contract, servers 5; ws_file_server README, Protocol)."""
    server = start(start_server, site)
    with ws_open(server) as ws:
        ws.send(b"\x00\xff binary")
        try:
            reply = json.loads(ws.recv(timeout=harness.scaled(30)))
            assert "error" in reply
            ws.send("x" * 200_000)  # a "name" far beyond any real path
            reply = json.loads(ws.recv(timeout=harness.scaled(30)))
            assert reply["status"] in (400, 403, 404, 413, 414)
        except ConnectionClosed:
            pass  # closing with a code is an answer too (the contract, servers 5)
    with ws_open(server) as ws:
        assert ask(ws, "text.txt")["content"] == TEXT
    server.assert_no_traceback()


# --- nothing outside the root, in any spelling -----------------------------------------------
def hostile_targets(tmp_path: Path) -> list[str]:
    secret = (tmp_path / "secret.txt").as_posix()
    return [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%2Fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/sub/../../secret.txt",
        "/sub/dir/../../../secret.txt",
        "/./../secret.txt",
        "/../site-private/secret.txt",
        "/%2e%2e/site-private/secret.txt",
        "/" + quote(secret, safe=""),
        "/" + secret,
        "/" + quote(secret),
        "/link.txt",
        "/linkdir/secret.txt",
        "/secret.txt%00.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/..%c0%afsecret.txt",
        "/C:%5CWindows%5Cwin.ini",
        "http://127.0.0.1/../secret.txt",
        "/" + "a" * 300,  # longer than a file name may be: 404, not a 500 with a traceback
    ]


@pytest.mark.core
@pytest.mark.hint(
    "resolve the path and check it is still inside the resolved root (Path.is_relative_to), "
    "after refusing '..'"
)
def test_http_never_serves_outside_the_root(start_server, site, tmp_path):
    """Hostile HTTP paths (`..`, encoded `..`, absolute paths, symlinks, NUL) get a 4xx and never a
    file beside the root (ws_file_server README: nothing outside the root, ever)."""
    server = start(start_server, site)
    for target in hostile_targets(tmp_path):
        status, _, body = http_get(server, target)
        assert TOKEN.encode() not in body, f"GET {target} leaked the secret"
        assert 400 <= status < 500, f"GET {target} -> {status}, expected a refusal (4xx)"
    assert http_get(server, "/text.txt")[2] == TEXT.encode()  # still serving


def hostile_names(tmp_path: Path) -> list[str]:
    secret = tmp_path / "secret.txt"
    return [
        "../secret.txt",
        "..\\secret.txt",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
        "./../secret.txt",
        "sub/../../secret.txt",
        "sub/dir/../../../secret.txt",
        "sub\\..\\..\\secret.txt",
        "../site-private/secret.txt",
        str(secret),
        secret.as_posix(),
        "//" + secret.as_posix().lstrip("/"),
        "file://" + secret.as_posix(),
        "link.txt",
        "linkdir/secret.txt",
        "secret.txt\x00.txt",
        "text.txt\x00",
        "..",
        ".",
        "",
        "~/secret.txt",
        "C:\\Windows\\win.ini",
        "a" * 300,  # longer than a file name may be: a refusal, not a traceback
    ]


@pytest.mark.core
@pytest.mark.hint(
    "check every name from the WebSocket exactly as an HTTP path: refuse '..', absolute paths, "
    "and anything that resolves outside the root"
)
def test_ws_never_serves_outside_the_root(start_server, site, tmp_path):
    """Hostile names sent over the WebSocket get status 400, 403 or 404 and never a file beside the
    root (ws_file_server README: nothing outside the root, ever)."""
    server = start(start_server, site)
    with ws_open(server) as ws:
        for name in hostile_names(tmp_path):
            ws.send(name)
            raw = ws.recv(timeout=harness.scaled(30))
            assert TOKEN not in raw, f"{name!r} leaked the secret"
            reply = json.loads(raw)
            assert reply.get("status") in (400, 403, 404), f"{name!r} -> {reply}"
            assert "content" not in reply, f"{name!r} -> {reply}"
        assert ask(ws, "text.txt")["content"] == TEXT


@pytest.mark.robustness
def test_malformed_http_requests_get_4xx_and_no_traceback(start_server, site):
    """A TLS hello and a request with control bytes get no 5xx, the server keeps serving and stops
    without a traceback (the contract, servers 5 and 4)."""
    server = start(start_server, site)
    for garbage in [b"\x16\x03\x01\x00\xa5hello\r\n\r\n", b"GET /\x01\x02 HTTP/1.1\r\n\r\n"]:
        with harness.connect(server.address, timeout=harness.scaled(30)) as sock:
            sock.sendall(garbage)
            data = bytearray()
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        assert not data.startswith(b"HTTP/1.1 5"), f"{garbage!r} got {bytes(data[:100])!r}"
    assert http_get(server, "/text.txt")[0] == 200
    server.stop()  # no traceback on stderr either


# --- pages of other sites ----------------------------------------------------------------------
def assert_refused(server: harness.Server, origin: str) -> None:
    url = server.url("/ws", "ws")
    with (
        pytest.raises(InvalidStatus) as refused,
        ws_connect(url, origin=origin, open_timeout=harness.TIMEOUT, proxy=None),
    ):
        pass  # reached only if the server accepted the handshake
    status = refused.value.response.status_code
    assert status == 403, f"a handshake from {origin} got HTTP {status}, expected 403"


def assert_served(server: harness.Server, origin: str | None) -> None:
    url = server.url("/ws", "ws")
    with ws_connect(url, origin=origin, open_timeout=harness.TIMEOUT, proxy=None) as ws:
        assert ask(ws, "text.txt")["content"] == TEXT, f"a handshake from {origin} got no file"


@pytest.mark.robustness
@pytest.mark.hint(
    "before ws.prepare(), answer HTTP 403 when the Origin header is there and its host:port is "
    "not the request's Host"
)
def test_ws_handshake_from_another_origin_gets_403(start_server, site):
    """A browser lets any web page open a WebSocket to 127.0.0.1 (cross-site WebSocket hijacking),
    but says which page asks: `Origin: http://evil.example`, or the same host on another port, gets
    HTTP 403 and no WebSocket; the server's own origin and no Origin at all (a terminal client) are
    served (ws_file_server README, Notice)."""
    server = start(start_server, site)
    assert_refused(server, "http://evil.example")
    assert_refused(server, f"http://{server.host}:{harness.free_port()}")
    assert_served(server, f"http://{server.host}:{server.port}")
    assert_served(server, None)
    server.assert_no_traceback()


@pytest.mark.robustness
@pytest.mark.hint("--allow-origin ORIGIN (repeatable) adds that exact origin to the ones accepted")
def test_allow_origin_lets_that_origin_in(start_server, site):
    """`--allow-origin ORIGIN`, repeatable, accepts handshakes from exactly those origins; any other
    origin still gets 403 (ws_file_server README, Run it)."""
    origins = ["http://evil.example", "http://localhost:3000"]
    server = start(start_server, site, *(f"--allow-origin={origin}" for origin in origins))
    for origin in origins:
        assert_served(server, origin)
    assert_refused(server, "https://localhost:3000")
    assert_refused(server, "http://other.example")
    server.assert_no_traceback()


# --- stopping ----------------------------------------------------------------------------------
@pytest.mark.contract
def test_ctrl_c_sends_open_websockets_a_close_frame(start_server, site):
    """Ctrl+C sends every open WebSocket a close frame 1001 (or 1012) and the server exits 0 within
    5 s (the contract, servers 4)."""
    server = start(start_server, site)
    with ws_open(server) as first, ws_open(server) as second:
        assert ask(first, "text.txt")["content"] == TEXT
        server.interrupt()
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=harness.scaled(10))
            assert closed.value.rcvd is not None, "no close frame before the connection ended"
            assert closed.value.rcvd.code in (1001, 1012)
    server.assert_exit(0, timeout=harness.STOP_TIMEOUT)


# --- the client ----------------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint(
    "print a text file's content as it is; a binary one (base64) as one line with its name and size"
)
def test_client_prints_files_given_as_arguments(start_server, start_client, site):
    """`client.py NAME ...` prints a text file as it is and a binary file as a one-line summary with
    its size, then exits 0 (ws_file_server README: the client)."""
    server = start(start_server, site)
    client = start_client(FOLDER, "--port", str(server.port), "text.txt", "data.bin")
    client.expect("^Привіт, світ! Привет! สวัสดีครับ 🌍🚀$")
    client.expect("^second line$")
    client.expect(rf"(?=.*data\.bin)(?=.*\b{len(BINARY)}\b)")  # binary: a one-line summary
    client.assert_exit(0)
    assert "\x00" not in client.stdout.text(), "data.bin was printed raw, not as a summary"


@pytest.mark.core
@pytest.mark.hint("without names as arguments, read one name per line from standard input")
def test_client_reads_names_from_input_until_exit(start_server, start_client, site):
    """With no names given, the client reads them from standard input: files are printed, a missing
    one gets an error line, `exit` ends it (the contract, clients 2 and 3)."""
    server = start(start_server, site)
    client = start_client(FOLDER, "--port", str(server.port))
    client.send("sub/dir/nested.txt")
    client.expect("^nested ✓$")
    client.send("missing.txt")
    client.expect("missing.txt")  # an error line naming the file
    client.send(UNICODE_NAME)
    client.expect("^unicode name ✓$")
    client.send("exit")
    client.assert_exit(0)


@pytest.mark.robustness
def test_client_survives_invalid_utf8_in_its_arguments(start_server, start_client, site):
    """A name given as an argument that is not valid UTF-8 is refused like a missing file, with
    no traceback, and the other names are still fetched (the contract: clients 4, text)."""
    server = start(start_server, site)
    bad_name = os.fsdecode(b"bad\xff\xfe.txt")  # the bytes a shell would pass on
    client = start_client(FOLDER, "--port", str(server.port), bad_name, "text.txt")
    client.wait()
    client.assert_no_traceback()
    assert "second line" in client.stdout.text(), client.describe()


@pytest.mark.core
@pytest.mark.hint("with --save DIR, decode the base64 and write the bytes into DIR/NAME")
def test_client_saves_binary_files(start_server, start_client, site, tmp_path):
    """`--save DIR` writes a binary file into DIR byte for byte (ws_file_server README, Run it:
    'written to a folder with --save DIR')."""
    server = start(start_server, site)
    target = tmp_path / "downloads"
    target.mkdir()  # the README does not say who creates it
    client = start_client(FOLDER, "--port", str(server.port), "--save", str(target), "data.bin")
    client.assert_exit(0)
    assert (target / "data.bin").read_bytes() == BINARY


@pytest.mark.core
@pytest.mark.hint("the WebSocket must answer any standard client, one JSON text frame per name")
def test_websocat_is_a_client(start_server, site, websocat):
    """websocat, a client nobody here wrote, sends a name and gets the JSON reply with the file's
    content (ws_file_server README, Try this)."""
    server = start(start_server, site)
    result = subprocess.run(
        [str(websocat), "--linemode-strip-newlines", "-1", server.url("/ws", "ws")],
        input=b"text.txt\n",
        capture_output=True,
        timeout=harness.scaled(30),
    )
    assert result.stdout.strip(), f"websocat printed nothing; its stderr: {result.stderr!r}"
    reply = json.loads(result.stdout.decode("utf-8").splitlines()[0])
    assert reply["content"] == TEXT
