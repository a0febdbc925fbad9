"""fastapi_chat --redis: one room across server processes, through a real Redis.

Every test starts Debian's redis-server on a free port (tests/redis_support.py) and two or
more fastapi_chat servers on it. They check this repository's extension of the assignment,
not what a student's fastapi_chat must do, so they are skipped when grading (--solutions).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import harness
import pytest
import redis_support
import test_fastapi_chat
from test_fastapi_chat import FOLDER, WAIT, Peer, leave_and_come_back, notice_about
from test_fastapi_chat_browser import open_chat

peers = test_fastapi_chat.peers  # the fixture, for the tests below
OUTAGE = re.compile(r"Redis at \S+ is unreachable")


@pytest.fixture
def redis_server(workdir):
    redis = redis_support.redis_server_for(workdir)
    yield redis
    redis.stop()


def chat_message(peer: Peer, names: tuple[str, ...]) -> str:
    return peer.expect(
        lambda m: isinstance(m, str) and m.startswith(tuple(f"{n}: " for n in names))
    )


@pytest.mark.core
@pytest.mark.hint(
    "append every message to the Redis stream and hand out only what the stream's reader brings"
    " back: one order for every process"
)
def test_two_processes_are_one_room_in_one_order(redis_server, start_server, peers):
    """With --redis URL two server processes are one room: two senders, one on each,
    interleave 500 messages each, and every client of both, the senders included, gets all
    1,000, each sender's in order, and all in the same order (fastapi_chat README: One room
    across processes)."""
    a = start_server(FOLDER, "--redis", redis_server.url)
    b = start_server(FOLDER, "--redis", redis_server.url)
    ann, cat = peers(a, "ann"), peers(a, "cat")
    bob, dan = peers(b, "bob"), peers(b, "dan")
    for peer in (ann, cat, bob):
        peer.expect(notice_about("dan"))  # the last one is in, on either process

    def push(sender: Peer) -> None:
        for number in range(500):
            sender.send(f"{number:03d}")

    pushing = [threading.Thread(target=push, args=(s,), daemon=True) for s in (ann, bob)]
    for thread in pushing:
        thread.start()
    orders = {}
    for peer in (ann, cat, bob, dan):
        got = [chat_message(peer, ("ann", "bob")) for _ in range(1000)]
        for name in ("ann", "bob"):
            numbers = [int(m.split()[1]) for m in got if m.startswith(f"{name}: ")]
            assert numbers == list(range(500)), f"{name}'s messages missed or reordered"
        orders[peer.ws.id] = got
    first = next(iter(orders.values()))
    assert all(order == first for order in orders.values()), "two clients saw different orders"


@pytest.mark.core
@pytest.mark.hint("joins and leaves go through the stream too, not only to the local members")
def test_join_and_leave_notices_cross_processes(redis_server, start_server, peers):
    """A client that joins or leaves on one process is announced to the clients of the other
    (fastapi_chat README: One room across processes)."""
    a = start_server(FOLDER, "--redis", redis_server.url)
    b = start_server(FOLDER, "--redis", redis_server.url)
    ann = peers(a, "ann")
    bob = peers(b, "bob")
    ann.expect(notice_about("bob"))  # bob joined, on b
    bob.close()
    ann.expect(notice_about("bob"))  # bob left
    ann.send("still here")
    ann.expect_text("ann: still here")


@pytest.mark.robustness
@pytest.mark.parametrize("where", ["the same process", "the other process"])
def test_coming_back_with_since_misses_nothing_and_repeats_nothing(
    redis_server, start_server, peers, where
):
    """A client that comes back with ?since=ID, to its process or another one, gets exactly
    the room's messages after ID (one of them said on the other process), then the new ones
    (fastapi_chat README: what Redis guarantees here)."""
    a = start_server(FOLDER, "--redis", redis_server.url)
    b = start_server(FOLDER, "--redis", redis_server.url)
    ann = peers(a, "ann", since="")
    bob = peers(b, "bob")
    ann.expect(notice_about("bob"))
    leave_and_come_back(peers, ann, bob, back_to=a if where == "the same process" else b)


def send_until_delivered(sender: Peer, name: str, text: str) -> tuple[str, list[str]]:
    """Send `text 0`, `text 1`... until one comes back to `name`, the sender; return that one,
    and the ones the server refused with an error notice."""
    refused = []
    deadline = time.monotonic() + WAIT
    for number in range(10_000):
        sender.send(f"{text} {number}")
        mine = f"{name}: {text} {number}"
        if sender.expect(lambda m, mine=mine: m == mine or m.startswith("* error")) == mine:
            return f"{text} {number}", refused
        refused.append(f"{text} {number}")
        assert time.monotonic() < deadline, f"the server never came back; got {sender.tail()}"
    raise AssertionError("the server never came back")


def refused(sender: Peer, name: str, text: str) -> bool:
    """Send `text`: True if the sender got an error notice instead of its message back."""
    sender.send(text)
    return sender.expect(lambda m: m.startswith("* error") or m == f"{name}: {text}") != (
        f"{name}: {text}"
    )


@pytest.mark.robustness
def test_the_servers_ride_out_a_redis_restart(redis_server, start_server, peers):
    """Redis stops mid-conversation and comes back: each server logs one line, its WebSocket
    clients stay connected, a sender is told its message was not delivered, and the servers
    resume from their last id: every message Redis accepted reaches every client, and Ctrl+C
    still stops each server within 5 s with no traceback (fastapi_chat README: what Redis
    guarantees here)."""
    a = start_server(FOLDER, "--redis", redis_server.url)
    b = start_server(FOLDER, "--redis", redis_server.url)
    room = {"ann": peers(a, "ann"), "bob": peers(b, "bob")}
    room["ann"].expect(notice_about("bob"))
    accepted = {name: [] for name in room}
    rejected = {name: [] for name in room}
    for name, peer in room.items():
        assert not refused(peer, name, "before"), "Redis is there, yet the message was refused"
        accepted[name].append("before")

    redis_server.stop()
    for name, peer in room.items():
        assert refused(peer, name, "during"), "a message sent while Redis was away got through"
        rejected[name].append("during")
    for server in (a, b):
        server.stdout.expect(OUTAGE, WAIT)

    redis_server.start()
    for name, peer in room.items():
        delivered, refused_meanwhile = send_until_delivered(peer, name, "after")
        accepted[name] += [delivered, "last"]
        rejected[name] += refused_meanwhile
        peer.send("last")
    for peer in room.values():
        for name in room:
            for text in accepted[name]:
                peer.wait_seen(f"{name}: {text}")
            got = {m for m in peer.messages if isinstance(m, str)}
            assert not got & {f"{name}: {text}" for text in rejected[name]}, (
                "a message refused with an error was delivered after all"
            )
        assert not peer.closed, "a WebSocket client was disconnected"
    for server in (a, b):
        lines = [line for line in server.stdout.lines if OUTAGE.search(line)]
        assert len(lines) == 1, f"expected one line about the outage, got {lines}"
        server.stop()  # exit status 0 within 5 s, and no traceback


@pytest.mark.robustness
def test_a_server_whose_redis_is_away_starts_waits_and_stops(redis_server, start_server, peers):
    """A server started while its Redis is away still starts, refuses messages with an error
    instead of losing them, serves the room once Redis is there, and Ctrl+C stops it within
    5 s with no traceback, Redis away or not (fastapi_chat README: what Redis guarantees here)."""
    redis_server.stop()
    a = start_server(FOLDER, "--redis", redis_server.url)
    ann = peers(a, "ann")
    assert refused(ann, "ann", "hello"), "a message sent while Redis was away got through"
    assert [line for line in a.stdout.lines if OUTAGE.search(line)], "no line about Redis"
    redis_server.start()
    send_until_delivered(ann, "ann", "now")
    redis_server.stop()
    a.stop()


class Workers:
    """Where `uvicorn --workers` listens: as much of harness.Server as peers() needs."""

    def __init__(self, port: int) -> None:
        self.host, self.port = "127.0.0.1", port

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"


@pytest.mark.core
@pytest.mark.hint(
    "read the Redis URL from the environment as well, so `uvicorn --workers N` can use it"
)
def test_uvicorn_workers_share_one_room_through_the_environment(redis_server, peers, procs):
    """`CHAT_REDIS_URL=... uvicorn server:app --workers 2`: the two worker processes are one
    room, so every client, whichever worker serves it, gets every message (fastapi_chat
    README: Redis)."""
    port = harness.free_port()
    uvicorn = harness.Proc(
        Path("uvicorn"),
        [],
        harness.script(FOLDER).parent,
        command=[sys.executable, "-m", "uvicorn", "server:app", "--workers", "2",
                 "--port", str(port)],
        env={"CHAT_REDIS_URL": redis_server.url},
    )  # fmt: skip
    procs.append(uvicorn)
    for _ in range(2):
        uvicorn.stderr.expect("Application startup complete", harness.STARTUP_TIMEOUT)
    room = [peers(Workers(port), f"user{n}") for n in range(8)]
    for peer in room[:-1]:
        peer.expect(notice_about("user7"))
    for number, peer in enumerate(room):
        peer.send(f"hello {number}")
    for peer in room:
        for number in range(8):
            peer.wait_seen(f"user{number}: hello {number}")
    uvicorn.interrupt()
    uvicorn.wait(WAIT)
    uvicorn.assert_no_traceback()


@pytest.mark.interface
def test_a_page_that_comes_back_shows_what_it_missed_once(redis_server, start_server, browser):
    """Two pages on two servers share one room; when one server restarts, its page reconnects
    by itself with ?since= and shows what was said meanwhile on the other server, once, and
    nothing twice (fastapi_chat README, Try: two servers on one Redis)."""
    a = start_server(FOLDER, "--redis", redis_server.url)
    b = start_server(FOLDER, "--redis", redis_server.url)
    ann = open_chat(browser, a, "ann")
    bob = open_chat(browser, b, "bob")
    ann.locator("#messages li", has_text="bob joined").wait_for()
    ann.fill("#message", "hello from a")
    ann.press("#message", "Enter")
    bob.locator("#messages li", has_text="ann: hello from a").wait_for()
    a.stop()
    ann.wait_for_function("document.querySelector('#send').disabled")
    bob.fill("#message", "said while a was away")
    bob.press("#message", "Enter")
    bob.locator("#messages li", has_text="bob: said while a was away").wait_for()
    start_server(FOLDER, "--redis", redis_server.url, "--port", str(a.port))
    ann.locator("#messages li", has_text="bob: said while a was away").wait_for()
    ann.fill("#message", "back")
    ann.press("#message", "Enter")
    bob.locator("#messages li", has_text="ann: back").wait_for()
    ann.locator("#messages li", has_text="ann: back").wait_for()
    for text in ("ann: hello from a", "bob: said while a was away", "ann: back"):
        assert ann.locator("#messages li", has_text=text).count() == 1, f"{text!r} not once"
