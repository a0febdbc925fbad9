"""http_client: the concurrent aiohttp client (seed 000 task 2) and its offline demo API.

Black-box through the contract in README.md: subprocesses, real sockets, 127.0.0.1 only. To see
that the client really runs its requests at once, a small HTTP server inside the test holds
every request until enough of them are in flight together: the server's own view, no clocks.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import harness
import pytest

FOLDER = "http_client"
GATE_WAIT_SECONDS = 20.0  # how long the gate holds a request before giving up (answer 503)


# --- helpers ----------------------------------------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=harness.TIMEOUT) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Gate:
    """Counts the requests in flight; each one waits for a ticket before it is answered."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.in_flight = 0
        self.peak = 0
        self.waiting = 0  # arrived, not yet given a ticket
        self.tickets = 0
        self.paths: list[str] = []

    def enter(self, path: str) -> bool:
        with self.cond:
            self.paths.append(path)
            self.in_flight += 1
            self.waiting += 1
            self.peak = max(self.peak, self.in_flight)
            self.cond.notify_all()
            ok = self.cond.wait_for(lambda: self.tickets > 0, harness.scaled(GATE_WAIT_SECONDS))
            if ok:
                self.tickets -= 1
            self.waiting -= 1
            return ok

    def leave(self) -> None:
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def wait_for_unticketed(self, count: int) -> None:
        """Wait until `count` requests are held at the gate with no ticket for them yet."""
        with self.cond:
            assert self.cond.wait_for(
                lambda: self.waiting - self.tickets >= count, harness.scaled(GATE_WAIT_SECONDS / 2)
            ), (
                f"expected {count} requests in flight at the same time, "
                f"saw {self.waiting - self.tickets}: the client does not run them concurrently"
            )

    def release(self, count: int = 1) -> None:
        with self.cond:
            self.tickets += count
            self.cond.notify_all()


@contextmanager
def gated_server() -> Iterator[tuple[str, Gate]]:
    """An HTTP server that answers a request only when the test hands it a ticket."""
    gate = Gate()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = gate.enter(self.path)
            # Out of flight before the answer goes: once the client has it, it may send the
            # next request at once, which must not find this one still counted.
            gate.leave()
            body = json.dumps({"path": self.path}).encode() if ok else b"gate timeout"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # http.server's default backlog of 5 drops connections

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", gate
    finally:
        gate.release(1000)  # whatever happened, let every held request go
        server.shutdown()
        server.server_close()


def line_naming(text: str, url: str) -> str:
    """The output line that names `url` (and not just a longer URL that starts with it)."""
    pattern = re.compile(re.escape(url) + r"(?![\w/.\-\[%?#])")
    for line in text.splitlines():
        if pattern.search(line):
            return line
    raise AssertionError(f"no output line names {url!r}; the output was:\n{text}")


# --- the demo server --------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "route each path of the README's table to a handler; /status/N answers with status N"
)
def test_demo_server_endpoints(start_server):
    """The demo API answers every endpoint in the README's table: / lists them, /json, /status/N,
    /bytes/N and /delay/0 (http_client README: The demo API)."""
    server = start_server(FOLDER)
    status, body = get(server.url("/"))
    assert status == 200
    for endpoint in ("/delay/", "/status/", "/json", "/bytes/"):
        assert endpoint in body.decode("utf-8"), f"GET / does not list {endpoint}"
    status, body = get(server.url("/json"))
    assert status == 200
    json.loads(body.decode("utf-8"))
    for code in (200, 201, 404, 418, 500, 503):
        assert get(server.url(f"/status/{code}"))[0] == code
    status, body = get(server.url("/bytes/12345"))
    assert (status, len(body)) == (200, 12345)
    status, body = get(server.url("/delay/0"))
    assert status == 200


@pytest.mark.robustness
def test_demo_server_caps_and_refuses_nonsense(start_server):
    """The demo API caps /bytes, answers bad numbers with a 4xx (never a 500) and survives bytes
    that are not HTTP (http_client README: 'Nonsense gets a 400'; the contract, servers 5)."""
    server = start_server(FOLDER)
    status, body = get(server.url("/bytes/100000000000"))  # 100 GB: must be capped
    assert status < 500, f"GET /bytes/100000000000 answered {status}, expected a cap or a 4xx"
    assert len(body) < 100_000_000_000 and (status != 200 or len(body) > 0), (
        f"GET /bytes/100000000000 answered {status} with {len(body)} bytes: expected at most "
        "the cap (10 MiB), or a 4xx"
    )
    for path in ("/delay/abc", "/delay/-1", "/status/abc", "/status/99999", "/bytes/x"):
        status, _ = get(server.url(path))
        assert 400 <= status < 500, f"GET {path} answered {status}, expected a 4xx"
    # Not HTTP at all: the server answers 400 (or hangs up) and carries on.
    with harness.connect(server.address) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        try:
            sock.recv(1024)
        except OSError:
            pass
    assert get(server.url("/json"))[0] == 200, "after a request that is not HTTP, GET /json failed"
    server.assert_no_traceback()


@pytest.mark.core
@pytest.mark.hint(
    "wait with `await asyncio.sleep()`, never time.sleep(): that stops every other request"
)
def test_demo_server_answers_others_while_a_delay_waits(start_server):
    """While a /delay/30 request waits, the demo server still answers other requests at once
    (http_client README: `await asyncio.sleep()` in /delay)."""
    server = start_server(FOLDER)
    with harness.connect(server.address) as slow:
        slow.sendall(f"GET /delay/30 HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        # The slow request is in; a blocking server would answer nothing else until it ends.
        for _ in range(3):
            assert get(server.url("/json"))[0] == 200
        slow.setblocking(False)
        with pytest.raises(BlockingIOError):
            slow.recv(1)  # the slow answer is still not here: the two overlapped


# --- the client -------------------------------------------------------------------------------


@pytest.mark.core
@pytest.mark.hint(
    "create every request first and await them together with asyncio.gather(), not one after "
    "another"
)
def test_client_runs_requests_concurrently(start_client):
    """All 10 URLs are in flight at the same time (the test's server counts them) and each gets a
    line with 200 (seed 000 task 2: `asyncio.gather`; http_client README)."""
    with gated_server() as (base, gate):
        urls = [f"{base}/delay/{n}" for n in range(1, 11)]
        client = start_client(FOLDER, *urls, "--timeout", "60", "--limit", "10")
        # The gate lets nothing through until all ten requests are in flight at once.
        gate.wait_for_unticketed(10)
        gate.release(10)
        client.assert_exit(0, timeout=harness.scaled(30))
    output = client.stdout.text()
    for url in urls:
        assert "200" in line_naming(output, url)
    assert sorted(gate.paths) == sorted(url.removeprefix(base) for url in urls)


@pytest.mark.core
@pytest.mark.hint("hold an asyncio.Semaphore(limit) around each request")
def test_limit_bounds_requests_in_flight(start_client):
    """With `--limit 2` exactly 2 requests run at the same time, never more (http_client README:
    `--limit N`, a semaphore)."""
    with gated_server() as (base, gate):
        urls = [f"{base}/delay/{n}" for n in range(1, 7)]
        client = start_client(FOLDER, *urls, "--limit", "2", "--timeout", "60")
        for remaining in range(len(urls), 0, -1):
            gate.wait_for_unticketed(min(2, remaining))
            gate.release()
        client.assert_exit(0, timeout=harness.scaled(30))
    assert gate.peak == 2, f"--limit 2 let {gate.peak} requests run at the same time"


@pytest.mark.core
@pytest.mark.hint("aiohttp's connector allows 100 connections by default: give it limit=--limit")
def test_limit_above_the_pool_default_runs_them_all_at_once(start_client):
    """With `--limit 110` all 110 requests are in flight together: aiohttp's connection pool, 100
    connections by default, must not hold the last ten back (http_client README: `--limit N`)."""
    with gated_server() as (base, gate):
        urls = [f"{base}/delay/{n}" for n in range(1, 111)]
        client = start_client(FOLDER, *urls, "--timeout", "60", "--limit", "110")
        gate.wait_for_unticketed(110)
        gate.release(110)
        client.assert_exit(0, timeout=harness.scaled(30))


@pytest.mark.contract
def test_options_may_stand_between_urls(start_server, start_client):
    """`client.py URL --timeout 5 URL` fetches both URLs: options may come between the URLs
    (http_client README: Run it)."""
    server = start_server(FOLDER)
    urls = [server.url("/json"), server.url("/bytes/100")]
    client = start_client(FOLDER, urls[0], "--timeout", "5", urls[1])
    client.assert_exit(0, timeout=harness.scaled(30))
    for url in urls:
        line_naming(client.stdout.text(), url)


@pytest.mark.core
@pytest.mark.hint(
    "catch each request's errors inside its own coroutine (or gather(return_exceptions=True)) "
    "and print them with their URL"
)
def test_failing_urls_stay_with_their_own_line(start_server, start_client):
    """404, 503, refused, silent and malformed URLs each get a line naming the URL, the good URLs
    still print 200, exit status 1 (http_client README: errors stay with their URL)."""
    server = start_server(FOLDER)
    # A socket that accepts connections (the kernel does it) but never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/never"
        refused_url = f"http://127.0.0.1:{harness.free_port()}/refused"
        good = [server.url("/json"), server.url("/bytes/4321")]
        bad = [
            server.url("/status/404"),
            server.url("/status/503"),
            refused_url,
            silent_url,
            "http://",
            "this is not a url",
        ]
        client = start_client(FOLDER, bad[0], good[0], *bad[1:], good[1], "--timeout", "2")
        client.assert_exit(1, timeout=harness.scaled(30))
    output = client.output()
    for url in bad:
        line_naming(output, url)  # each failure has its own line that names its URL
    assert re.search(r"\b200\b", line_naming(output, good[0]))
    line = line_naming(output, good[1])
    assert re.search(r"\b200\b", line) and "4321" in line, (
        f"expected status 200 and the size 4321 on the line for {good[1]}, got {line!r}"
    )


@pytest.mark.core
@pytest.mark.hint("exit with status 0 when every URL succeeded, 1 otherwise")
def test_all_good_exits_0(start_server, start_client):
    """When every URL succeeds, the client prints a line naming each one and exits with status 0
    (http_client README: 'Exit status 0 when every URL succeeded')."""
    server = start_server(FOLDER)
    urls = [server.url(path) for path in ("/json", "/delay/0.1", "/bytes/2048", "/status/201")]
    client = start_client(FOLDER, *urls)
    client.assert_exit(0, timeout=harness.scaled(30))
    for url in urls:
        line_naming(client.stdout.text(), url)


@pytest.mark.contract
def test_default_urls_come_from_the_demo_server(start_server, start_client):
    """With no URLs, the client fetches a default set from the demo server at --host/--port: at
    least 3 lines naming it (http_client README: Run it; the contract, clients 1)."""
    server = start_server(FOLDER)
    client = start_client(FOLDER, "--host", server.host, "--port", str(server.port))
    client.wait(timeout=harness.scaled(30))
    client.assert_no_traceback()
    lines = [line for line in client.stdout.lines if f"{server.host}:{server.port}/" in line]
    assert len(lines) >= 3, f"expected a line per default URL\n{client.describe()}"


@pytest.mark.core
@pytest.mark.hint("with `-`, read the URLs from standard input, one per line, until its end")
def test_urls_from_standard_input(start_server, start_client):
    """`client.py -` reads URLs from standard input, one per line, until the end of input, and
    prints a line for each (http_client README: '`-` reads URLs from standard input')."""
    if harness.grading():
        pytest.skip("reading URLs from stdin ('-') is this repository's extra, not the task's")
    server = start_server(FOLDER)
    client = start_client(FOLDER, "-")
    urls = [server.url(f"/bytes/{n}") for n in (10, 20, 30)]
    for url in urls:
        client.send(url)
    client.close_input()
    client.assert_exit(0, timeout=harness.scaled(30))
    for url in urls:
        line_naming(client.stdout.text(), url)
