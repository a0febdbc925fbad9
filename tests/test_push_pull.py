"""push_pull: one stream of events offered four ways - /poll, /longpoll, /sse, /ws (seed 001, the
lecture's Push vs Pull) - and the client that follows it.

Black-box through the wire format in push_pull/README.md: subprocesses, real sockets, 127.0.0.1
only. Every server here runs with `--rate 0` and the tests publish their own events with
`POST /events`, so nothing depends on timing: each wait is for an event, a line or a count.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor

import harness
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect as ws_connect

FOLDER = "push_pull"
METHODS = ["poll", "longpoll", "sse", "ws"]
TEXTS = ["привіт, світ", "สวัสดีครับ", "emoji 🙂🚀", 'quotes " and \\ and {"json": 1}']
LONG_WAIT = "300"  # --longpoll-timeout for tests where a long poll must be answered by an event


# --- speaking the wire format -----------------------------------------------------------------
def request(server: harness.Server, method: str, path: str, body: bytes | None = None):
    """One HTTP request; returns (status, body bytes) for any status."""
    req = urllib.request.Request(server.url(path, "http"), data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=harness.TIMEOUT) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(server: harness.Server, path: str, timeout: float | None = None):
    timeout = timeout or harness.TIMEOUT
    try:
        with urllib.request.urlopen(server.url(path, "http"), timeout=timeout) as reply:
            assert reply.status == 200, f"GET {path} answered {reply.status}"
            return json.loads(reply.read().decode("utf-8"))
    except TimeoutError:
        raise AssertionError(f"GET {path} got no answer within {timeout:.0f} s") from None


def publish(server: harness.Server, text: str) -> dict:
    status, body = request(server, "POST", "/events", text.encode("utf-8"))
    assert status == 200, f"POST /events answered {status}: {body[:200]!r}"
    event = json.loads(body.decode("utf-8"))
    assert event["data"] == text, f"POST /events answered {event}, whose data is not {text!r}"
    return event


def open_count(server: harness.Server) -> int:
    return get_json(server, "/stats")["open"]


def wait_for_open(server: harness.Server, expected: int, timeout: float | None = None) -> None:
    """Wait until GET /stats says `expected` streams are open."""
    deadline = time.monotonic() + (timeout or harness.TIMEOUT)
    while (count := open_count(server)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"GET /stats says {count} streams are open, expected {expected}")
        time.sleep(0.02)  # ask again: the count changes when the server notices


class Sse:
    """GET /sse read message by message, as a browser's EventSource would."""

    def __init__(self, server: harness.Server, path: str = "/sse", headers=None) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=harness.TIMEOUT)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, f"GET {path} answered {self.response.status}"
        kind = self.response.getheader("Content-Type", "")
        assert kind.startswith("text/event-stream"), f"GET /sse has Content-Type {kind!r}"

    def message(self) -> tuple[str | None, dict]:
        """The next message with data: (its id field, the event it carries)."""
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                raise AssertionError("the SSE stream ended")
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:  # a blank line ends a message; one with no data is not dispatched
                if data:
                    return fields.get("id"), json.loads("\n".join(data))
                fields = {}
            elif not line.startswith(":"):  # a line starting with ":" is a comment
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value

    def ended(self) -> bool:
        """Read on until the server ends the stream."""
        try:
            while self.response.readline():
                pass
        except (OSError, http.client.HTTPException):
            pass  # a connection closed without the last chunk also ends it
        return True

    def close(self) -> None:
        self.conn.close()


def ws_open(server: harness.Server, after: int | str = 0, origin: str | None = None):
    url = server.url(f"/ws?after={after}", "ws")
    return ws_connect(url, origin=origin, open_timeout=harness.TIMEOUT)


def ws_event(ws) -> dict:
    return json.loads(ws.recv(timeout=harness.TIMEOUT))


def follow(server: harness.Server, method: str, count: int, ready: threading.Event) -> list[dict]:
    """Receive `count` events one way, starting from after=0; set `ready` once connected."""
    received: list[dict] = []
    deadline = time.monotonic() + harness.TIMEOUT * 2
    if method in ("poll", "longpoll"):
        ready.set()
        while len(received) < count and time.monotonic() < deadline:
            after = received[-1]["id"] if received else 0
            received += get_json(server, f"/{method}?after={after}")
            if method == "poll":
                time.sleep(0.02)  # the polling interval
    elif method == "sse":
        stream = Sse(server)
        ready.set()
        try:
            while len(received) < count:
                message_id, event = stream.message()
                assert message_id == str(event["id"]), f"SSE message id {message_id!r}: {event}"
                received.append(event)
        finally:
            stream.close()
    else:
        with ws_open(server) as ws:
            ready.set()
            while len(received) < count:
                received.append(ws_event(ws))
    return received


# --- the events -------------------------------------------------------------------------------
@pytest.mark.core
@pytest.mark.hint("the answer to POST /events is the new event; ids grow by one from 1")
def test_publish_answers_the_event_with_growing_ids(start_server):
    """`POST /events` takes the payload as its text body and answers with the new event, the JSON
    object {"id", "time", "data"}: ids grow by one, time is the UNIX time it was published
    (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0")
    before = time.time()
    events = [publish(server, text) for text in TEXTS]
    after = time.time()
    assert [event["id"] for event in events] == list(range(1, len(TEXTS) + 1))
    for event in events:
        assert isinstance(event["id"], int), f"the id must be a JSON integer: {event}"
        assert before - 1 <= event["time"] <= after + 1, (
            f"time is not when it was published: {event}"
        )


@pytest.mark.core
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.hint("send each event once, in id order: follow the last id sent, not a copy")
def test_each_method_delivers_every_event_once_in_order(start_server, method):
    """Each of the four ways delivers every event exactly once and in order, those published before
    the client came and those published while it follows (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", LONG_WAIT)
    published = [publish(server, f"before {n} {TEXTS[n % 4]}") for n in range(10)]
    ready = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        received: Future = pool.submit(follow, server, method, 30, ready)
        assert ready.wait(harness.TIMEOUT), f"the {method} client never connected"
        published += [publish(server, f"live {n} {TEXTS[n % 4]}") for n in range(20)]
        events = received.result(timeout=harness.TIMEOUT * 3)
    assert [e["id"] for e in events] == [e["id"] for e in published], f"{method} delivered ids"
    assert events == published, f"{method} delivered events that differ from those published"


@pytest.mark.core
@pytest.mark.hint("/poll?after=ID answers only the events with an id above ID, and at once")
def test_poll_answers_at_once_with_the_events_after_id(start_server):
    """`GET /poll?after=ID` answers at once with a JSON array of the events after ID (`[]` when
    there are none); `after=0` or no `after` means from the oldest event held (push_pull README)."""
    server = start_server(FOLDER, "--rate", "0")
    assert get_json(server, "/poll") == [], "with no events yet /poll must answer []"
    events = [publish(server, text) for text in TEXTS]
    assert get_json(server, "/poll?after=0") == events
    assert get_json(server, "/poll") == events, "no after= means from the oldest event held"
    assert get_json(server, "/poll?after=2") == events[2:], "after=2 must skip events 1 and 2"
    assert get_json(server, f"/poll?after={events[-1]['id']}") == [], "nothing after the last"


@pytest.mark.core
@pytest.mark.hint(
    "a long poll with nothing new must wait for the next publish, then answer at once"
)
def test_longpoll_is_held_until_an_event_is_published(start_server):
    """`GET /longpoll?after=ID` with nothing after ID is held; it answers as soon as an event is
    published, with that event (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", LONG_WAIT)
    first = publish(server, "first")
    assert get_json(server, "/longpoll?after=0") == [first], "events waiting: answer at once"
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(get_json, server, f"/longpoll?after={first['id']}", 60)
        wait_for_open(server, 1)  # the request is at the server, waiting
        assert not reply.done(), f"the long poll answered with nothing new: {reply.result()}"
        second = publish(server, "second ✓")
        assert reply.result(timeout=harness.TIMEOUT) == [second], "it must answer with the event"


@pytest.mark.core
@pytest.mark.hint("after --longpoll-timeout seconds with nothing new, a long poll answers []")
def test_longpoll_answers_an_empty_list_at_its_timeout(start_server):
    """With nothing new, a long poll answers `[]` after `--longpoll-timeout` seconds (push_pull
    README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", "0.5")
    event = publish(server, "only")
    assert get_json(server, f"/longpoll?after={event['id']}") == []
    wait_for_open(server, 0)


@pytest.mark.core
@pytest.mark.hint("every SSE message needs `id: N`, and Last-Event-ID must replay from the history")
def test_sse_reconnecting_with_last_event_id_gets_exactly_what_it_missed(start_server):
    """Each SSE message is `id: N` plus `data: <the event's JSON>`; a stream reopened with the
    `Last-Event-ID` header gets exactly the events after that id, then the new ones (push_pull
    README: the server replays from its history, EventSource does not)."""
    server = start_server(FOLDER, "--rate", "0")
    seen = [publish(server, text) for text in TEXTS[:3]]
    stream = Sse(server)
    for event in seen:
        message_id, got = stream.message()
        assert got == event, "the stream must carry the events in order"
        assert message_id == str(event["id"]), f"message with id field {message_id!r}: {got}"
    stream.close()  # the connection drops
    wait_for_open(server, 0)
    missed = [publish(server, f"missed {n}") for n in range(3)]
    stream = Sse(server, headers={"Last-Event-ID": message_id})
    try:
        for event in missed:
            assert stream.message()[1] == event, "after a reconnect: exactly the missed events"
        live = publish(server, "live")
        assert stream.message() == (str(live["id"]), live)
    finally:
        stream.close()


@pytest.mark.core
@pytest.mark.hint("/ws?after=ID must first send the held events after ID, then the new ones")
def test_ws_reconnecting_with_after_gets_exactly_what_it_missed(start_server):
    """Each WebSocket text frame is one event's JSON; `/ws?after=ID` first sends exactly the events
    after ID, then every new one (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0")
    seen = [publish(server, text) for text in TEXTS[:2]]
    with ws_open(server) as ws:
        assert [ws_event(ws), ws_event(ws)] == seen
    wait_for_open(server, 0)
    missed = [publish(server, f"missed {n}") for n in range(3)]
    with ws_open(server, after=seen[-1]["id"]) as ws:
        assert [ws_event(ws) for _ in missed] == missed, "after a reconnect: exactly the missed"
        live = publish(server, "live ✓")
        assert ws_event(ws) == live


@pytest.mark.core
@pytest.mark.hint("/stats must count each waiting long poll, open SSE stream and WebSocket")
def test_stats_counts_the_open_streams(start_server):
    """`GET /stats` is JSON whose `open` counts the long polls waiting, SSE streams and WebSockets
    open right now (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", LONG_WAIT)
    assert open_count(server) == 0
    streams = [Sse(server), Sse(server)]
    with contextlib.ExitStack() as sockets, ThreadPoolExecutor(1) as pool:
        for _ in range(3):
            sockets.enter_context(ws_open(server))
        reply = pool.submit(get_json, server, "/longpoll?after=0", 60)
        wait_for_open(server, 6)
        publish(server, "wake the long poll")
        assert len(reply.result(timeout=harness.TIMEOUT)) == 1
        wait_for_open(server, 5)
        for stream in streams:
            stream.close()
    wait_for_open(server, 0)


@pytest.mark.core
@pytest.mark.hint(
    "find the page from the script's own folder (../static), not the working directory"
)
def test_root_serves_the_page(start_server):
    """`GET /` serves the page (static/push_pull.html) with its four panes, from any working
    directory (push_pull README, Run it)."""
    server = start_server(FOLDER, "--rate", "0")
    status, body = request(server, "GET", "/")
    assert status == 200, f"GET / answered {status}"
    html = body.decode("utf-8")
    for pane in METHODS:
        assert f'id="{pane}"' in html, f"the page has no element with id {pane!r}"


@pytest.mark.core
@pytest.mark.hint("write each SSE message out as it happens: no Content-Length, no buffering")
def test_curl_follows_the_sse_stream(start_server, start_tool, curl):
    """`curl -N /sse`, a client nobody here wrote, prints each message's `id:` and `data:` lines as
    the events are published, and ends with status 0 when the server stops (push_pull README,
    Try)."""
    server = start_server(FOLDER, "--rate", "0")
    tool = start_tool(curl, "--silent", "--show-error", "-N", server.url("/sse", "http"))
    for text in ["one", "два ✓"]:
        event = publish(server, text)
        tool.expect(rf"^id: ?{event['id']}$")
        data = tool.expect(r"^data:").string.removeprefix("data:").strip()
        assert json.loads(data) == event
    server.stop()
    assert tool.wait() == 0, f"curl ended with an error\n{tool.describe()}"


# --- hostile clients --------------------------------------------------------------------------
@pytest.mark.robustness
def test_bad_requests_get_a_clear_error_and_the_server_goes_on(start_server):
    """A non-numeric or negative `after`, a body that is not UTF-8 and a 1 MiB body get a 4xx
    answer; the server goes on serving (README contract, servers 5)."""
    server = start_server(FOLDER, "--rate", "0")
    for path in ["/poll?after=abc", "/poll?after=-1", "/longpoll?after=x", "/sse?after=1.5"]:
        status, _ = request(server, "GET", path)
        assert 400 <= status < 500, f"GET {path} answered {status}, expected a 4xx"
    with pytest.raises(InvalidHandshake), ws_open(server, after="nope"):
        pass  # the handshake is refused
    for body in [b"\xff\xfe not UTF-8", b"x" * (1 << 20)]:
        status, _ = request(server, "POST", "/events", body)
        assert 400 <= status < 500, f"POST /events ({len(body)} bytes) answered {status}"
    event = publish(server, "still here")
    assert get_json(server, "/poll") == [event]


@pytest.mark.robustness
def test_history_holds_the_last_1000_events(start_server):
    """The history is bounded: after 1,100 events, `after=0` gets the last 1,000, oldest first
    (push_pull README, Protocol)."""
    server = start_server(FOLDER, "--rate", "0")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=harness.TIMEOUT)
    for number in range(1100):  # one kept-alive connection: 1,100 requests in about a second
        conn.request("POST", "/events", body=f"event {number}".encode())
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200
    conn.close()
    events = get_json(server, "/poll?after=0")
    assert [e["id"] for e in events] == list(range(101, 1101)), "expected ids 101..1100"


def raw_request(server: harness.Server, head: str) -> socket.socket:
    sock = harness.connect(server.address)
    sock.sendall(f"{head}Host: {server.host}\r\n\r\n".encode())
    return sock


@pytest.mark.robustness
def test_clients_that_vanish_mid_stream_cost_the_server_nothing(start_server):
    """Long polls, SSE streams and WebSockets whose clients vanish (a reset or a plain close, no
    goodbye) are noticed: `/stats` comes back to 0 open streams, at the latest after the next
    event, no traceback, and everyone else carries on (README contract, servers 5)."""
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", LONG_WAIT)
    last = publish(server, "before")["id"]
    socks = []
    for _ in range(3):
        socks.append(raw_request(server, f"GET /longpoll?after={last} HTTP/1.1\r\n"))
        sse = raw_request(server, f"GET /sse?after={last} HTTP/1.1\r\n")
        harness.recv_until(sse, lambda data: b"\r\n\r\n" in data)
        ws = raw_request(
            server,
            f"GET /ws?after={last} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        )
        harness.recv_until(ws, lambda data: b"\r\n\r\n" in data)
        socks += [sse, ws]
    with ws_open(server, after=last) as bystander:
        wait_for_open(server, 10)
        for number, sock in enumerate(socks):
            if number % 2:  # half of them vanish with a reset, half with a plain close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        nudge = publish(server, "the next event")
        assert ws_event(bystander) == nudge, "a client that stayed gets the next event"
        wait_for_open(server, 1)
    wait_for_open(server, 0)
    assert get_json(server, f"/poll?after={last}") == [nudge]
    server.assert_no_traceback()


@pytest.mark.robustness
def test_an_sse_client_that_never_reads_does_not_stall_the_others(start_server):
    """An SSE client that never reads its stream does not hold up publishing or the WebSocket
    clients: 1,000 events of 8 kB, more than any socket buffer holds, reach a WebSocket client in
    full (README contract, servers 5)."""
    server = start_server(FOLDER, "--rate", "0")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(server.address)
    stalled.sendall(f"GET /sse HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    try:
        with ws_open(server) as ws:
            wait_for_open(server, 2)
            conn = http.client.HTTPConnection(server.host, server.port, timeout=harness.TIMEOUT)
            for number in range(1000):
                conn.request("POST", "/events", body=f"{number:04} ".encode() + b"x" * 8000)
                reply = conn.getresponse()
                reply.read()
                assert reply.status == 200, "publishing stalled behind a client that never reads"
            conn.close()
            ids = [ws_event(ws)["id"] for _ in range(1000)]
            assert ids == list(range(1, 1001))
    finally:
        stalled.close()


def assert_refused(server: harness.Server, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused, ws_open(server, origin=origin):
        pass  # reached only if the server accepted the handshake
    status = refused.value.response.status_code
    assert status == 403, f"a handshake from {origin} got HTTP {status}, expected 403"


def assert_served(server: harness.Server, origin: str | None) -> None:
    with ws_open(server, after=get_json(server, "/stats")["last_id"], origin=origin) as ws:
        event = publish(server, f"for a page of {origin}")
        assert ws_event(ws) == event, f"a handshake from {origin} got no events"


@pytest.mark.robustness
@pytest.mark.hint(
    "before ws.prepare(), answer HTTP 403 when the Origin header is there and its host:port is "
    "not the request's Host"
)
def test_ws_handshake_from_another_origin_gets_403(start_server):
    """A browser lets any web page open a WebSocket to 127.0.0.1 (cross-site WebSocket hijacking),
    but says which page asks: `Origin: http://evil.example`, or the same host on another port, gets
    HTTP 403 and no WebSocket; the server's own origin and no Origin at all (a terminal client) are
    served (push_pull README, Notice)."""
    server = start_server(FOLDER, "--rate", "0")
    assert_refused(server, "http://evil.example")
    assert_refused(server, f"http://{server.host}:{harness.free_port()}")
    assert_served(server, f"http://{server.host}:{server.port}")
    assert_served(server, None)
    server.assert_no_traceback()


@pytest.mark.robustness
@pytest.mark.hint("--allow-origin ORIGIN (repeatable) adds that exact origin to the ones accepted")
def test_allow_origin_lets_that_origin_in(start_server):
    """`--allow-origin ORIGIN`, repeatable, accepts handshakes from exactly those origins; any other
    origin still gets 403 (push_pull README, Run it)."""
    origins = ["http://evil.example", "http://localhost:3000"]
    server = start_server(FOLDER, "--rate", "0", *(f"--allow-origin={o}" for o in origins))
    for origin in origins:
        assert_served(server, origin)
    assert_refused(server, "https://localhost:3000")
    assert_refused(server, "http://other.example")
    server.assert_no_traceback()


# --- stopping ---------------------------------------------------------------------------------
@pytest.mark.contract
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_stopping_with_streams_open_closes_them_and_exits_0(start_server, signame):
    """Ctrl+C or SIGTERM with a long poll waiting, an SSE stream and a WebSocket open: the long poll
    is answered, the SSE stream ends, the WebSocket gets close code 1001, and the server exits 0
    within 5 s with no traceback (README contract, servers 4; push_pull README)."""
    if sys.platform == "win32" and signame == "SIGTERM":
        pytest.skip("no SIGTERM to send on Windows")
    server = start_server(FOLDER, "--rate", "0", "--longpoll-timeout", LONG_WAIT)
    stream = Sse(server)
    with ws_open(server) as ws, ThreadPoolExecutor(2) as pool:
        reply = pool.submit(get_json, server, "/longpoll?after=0", 60)
        wait_for_open(server, 3)
        ended = pool.submit(stream.ended)
        if signame == "SIGINT":
            server.interrupt()
        else:
            server.popen.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=harness.STOP_TIMEOUT)
        assert closed.value.rcvd is not None, "the server must send the WebSocket a close frame"
        assert closed.value.rcvd.code == 1001
        assert ended.result(timeout=harness.STOP_TIMEOUT), "the SSE stream did not end"
        try:
            reply.result(timeout=harness.STOP_TIMEOUT)  # [] or a closed connection: both end it
        except (OSError, http.client.HTTPException, urllib.error.URLError):
            pass
    server.assert_exit(0, harness.STOP_TIMEOUT)


# --- the client -------------------------------------------------------------------------------
EVENT_LINE = r"#{id}\D.*?\d\s*ms\s+{data}$"  # `#7 12.3 ms  data`, maybe after a prefix


def client_args(server: harness.Server, method: str) -> list[str]:
    interval = ["--interval", "0.1"] if method == "poll" else []
    return ["--method", method, "--port", str(server.port), *interval]


@pytest.mark.core
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.hint(
    "print one line per event (#id, its delay in ms, the data), flushed, then a summary"
)
def test_client_prints_a_line_per_event_and_the_summary(start_server, start_client, method):
    """`client.py --method M` prints one line per event with its id, delivery delay and data, for
    events held and for new ones; `exit` ends it with a summary (events, HTTP requests, bytes,
    delay p50/p99) and status 0 (push_pull README, Run it)."""
    server = start_server(FOLDER, "--rate", "0")
    held = publish(server, "held ✓")
    client = start_client(FOLDER, *client_args(server, method))
    client.expect(EVENT_LINE.format(id=held["id"], data=re.escape(held["data"])))
    for text in ["live one", "live два 🙂"]:
        event = publish(server, text)
        client.expect(EVENT_LINE.format(id=event["id"], data=re.escape(text)))
    client.send("exit")
    client.assert_exit(0)
    summary = client.stdout.lines[-1]
    assert re.search(r"(?i)p50", summary) and re.search(r"(?i)p99", summary), (
        f"the last line should be the summary with delay p50 and p99: {summary!r}"
    )
    assert "3" in summary, f"the summary should count 3 events: {summary!r}"


@pytest.mark.contract
@pytest.mark.parametrize("ending", ["end of input", "Ctrl+C"])
def test_client_ends_with_the_summary_at_end_of_input_or_ctrl_c(start_server, start_client, ending):
    """At the end of input the client prints its summary and exits 0; Ctrl+C prints it too, with no
    traceback (push_pull README, Run it; README contract, clients 3 and 4)."""
    server = start_server(FOLDER, "--rate", "0")
    event = publish(server, "one")
    client = start_client(FOLDER, *client_args(server, "sse"))
    client.expect(EVENT_LINE.format(id=event["id"], data="one"))
    if ending == "Ctrl+C":
        client.interrupt()
        client.wait()
        client.assert_no_traceback()
    else:
        client.close_input()
        client.assert_exit(0)
    client.expect(r"(?i)p50.*p99")
