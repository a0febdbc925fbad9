"""The contract, clause by clause, for every assignment (README.md: "What your scripts must do
to be graded"). Each clause is one test, parametrized over the assignments it applies to; what
it needs to know of each assignment is in tests/contract.py. Each assignment's own file keeps
only that assignment's requirements.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess

import contract
import grading
import harness
import pytest
from contract import SPECS

ALL = list(SPECS)
INTERACTIVE = [name for name, spec in SPECS.items() if spec.interactive]
SIGNALS = {"Ctrl+C": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def session(scope: harness.Scope, name: str) -> contract.Session:
    """The client of `name` started against a fresh server and ready for messages."""
    spec = SPECS[name]
    server = scope.server(name, *spec.server_args(scope.workdir))
    return spec.start(scope, server)


# --- the gates ---------------------------------------------------------------------------------
@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_gate_server(assignment: str, start_server):
    """Servers 1-3: `python server.py --port 0` starts, prints a line containing `Listening on
    SCHEME://HOST:PORT` with the real port and flushes it, and accepts connections. Every other
    test of the server needs this: when it fails, they are reported as not run."""
    feedback = contract.gate(assignment, "server")
    assert feedback is None, feedback


@pytest.mark.core
@pytest.mark.hint(
    "start with the gate: the client must connect to --host/--port (or --url), send each line "
    "it reads and print each message it receives on a line of its own, flushed at once"
)
@pytest.mark.parametrize("assignment", ALL)
def test_gate_client(assignment: str, start_client):
    """Clients 1-2: the client connects to its server and makes one basic exchange: a message
    typed on its standard input has its effect (a reply, a file, a message to another member),
    and what it receives is printed as a line. Every other test of the client needs this."""
    if SPECS[assignment].client_needs_server and contract.gate(assignment, "server"):
        pytest.skip(f"{grading.NOT_RUN}the client needs the server, and the server's gate failed")
    feedback = contract.gate(assignment, "client")
    assert feedback is None, feedback


# --- servers ----------------------------------------------------------------------------------
@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_server_help_explains_its_options(assignment: str, start_server):
    """Servers 1: `server.py --help` explains every option, --host and --port among them, and
    exits with status 0."""
    result = harness.run_python(str(harness.script(assignment, "server.py")), "--help")
    text = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 0, f"--help exited with {result.returncode}:\n{result.stderr!r}"
    for option in ("--host", "--port"):
        assert option in text, f"--help does not mention {option}:\n{text}"


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_server_listens_on_its_default_port(assignment: str, start_server, workdir):
    """Servers 1: with no --port the server listens on its port from the README's table
    (and on 127.0.0.1 unless --host says otherwise), from any working directory."""
    spec = SPECS[assignment]
    if not port_is_free(spec.port):
        pytest.skip(f"port {spec.port} is taken on this machine")
    server = harness.Server(
        harness.script(assignment), spec.server_args(workdir), workdir, default_port=True
    )
    try:
        assert (server.host, server.port) == ("127.0.0.1", spec.port), (
            f"expected `Listening on {spec.scheme}://127.0.0.1:{spec.port}`, "
            f"it listens on {server.host}:{server.port}"
        )
    finally:
        server.kill()


@pytest.mark.contract
@pytest.mark.parametrize("how", SIGNALS)
@pytest.mark.parametrize("assignment", ALL)
def test_signal_stops_the_server_with_a_client_connected(assignment: str, how: str, start_server,
                                                          workdir):  # fmt: skip
    """Servers 4: Ctrl+C (SIGINT) and SIGTERM stop the server within 5 seconds with exit status
    0 and no traceback, while a client is connected and being served."""
    spec = SPECS[assignment]
    server = start_server(assignment, *spec.server_args(workdir))
    connection = spec.handled(server)
    try:
        server.popen.send_signal(SIGNALS[how])
        server.assert_exit(0, harness.STOP_TIMEOUT)
    finally:
        connection.close()


@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_signal_right_after_new_connections(assignment: str, start_server, workdir):
    """Servers 3-4: from the `Listening on` line on, Ctrl+C and SIGTERM stop the server cleanly
    even when they arrive right after new connections, before the server had a chance to
    handle them: exit status 0 within 5 seconds and no traceback, every time."""
    spec = SPECS[assignment]
    for number, signum in enumerate([signal.SIGTERM, signal.SIGINT] * 2):
        server = start_server(assignment, *spec.server_args(workdir))
        connections = [spec.touch(server) for _ in range(3)]
        server.popen.send_signal(signum)  # at once: the connections may not be accepted yet
        try:
            server.assert_exit(0, harness.STOP_TIMEOUT)
        except AssertionError as error:
            raise AssertionError(
                f"round {number + 1} ({signal.Signals(signum).name}): {error}"
            ) from None
        finally:
            for connection in connections:
                connection.close()


@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_restart_on_the_same_port_right_after_ctrl_c(assignment: str, start_server, workdir):
    """Servers 1 and 4: right after Ctrl+C, the server starts again on the same --port (the old
    connections may still be in TIME_WAIT: SO_REUSEADDR) and serves."""
    spec = SPECS[assignment]
    server = start_server(assignment, *spec.server_args(workdir))
    spec.handled(server).close()  # the server closes its side last: TIME_WAIT on its port
    server.stop()
    again = start_server(assignment, *spec.server_args(workdir), "--port", str(server.port))
    assert again.port == server.port, f"started with --port {server.port}, it says {again.port}"
    spec.handled(again).close()


@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_closed_stdin_keeps_the_server_serving(assignment: str, start_server, workdir):
    """Servers 6: a server whose standard input is closed keeps serving."""
    spec = SPECS[assignment]
    server = start_server(assignment, *spec.server_args(workdir), stdin=subprocess.PIPE)
    server.close_input()
    spec.handled(server).close()
    spec.handled(server).close()
    assert server.popen.poll() is None, f"the server ended\n{server.describe()}"


@pytest.mark.robustness
@pytest.mark.parametrize("assignment", ALL)
def test_garbage_and_resets_do_not_stop_the_server(assignment: str, start_server, workdir):
    """Servers 5: bytes that are not the protocol, invalid UTF-8 and connections reset in the
    middle never stop the server: a client that comes afterwards is served."""
    spec = SPECS[assignment]
    server = start_server(assignment, *spec.server_args(workdir))
    for garbage in (os.urandom(4096), b"\xff\xfe\x00 not utf-8 \xc0\xae\n\r\n\r\n"):
        with harness.connect(server.address) as sock:
            sock.sendall(garbage)
            # SO_LINGER 0: close() sends a reset instead of a polite goodbye.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    spec.touch(server).close()  # a connection that vanishes before it says anything
    spec.handled(server).close()
    assert server.popen.poll() is None, f"the server ended\n{server.describe()}"
    server.assert_no_traceback()


# --- clients ----------------------------------------------------------------------------------
@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_client_help_explains_its_options(assignment: str, start_client):
    """Clients 1: `client.py --help` explains every option, --host and --port among them, and
    exits with status 0."""
    result = harness.run_python(str(harness.script(assignment, "client.py")), "--help")
    text = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 0, f"--help exited with {result.returncode}:\n{result.stderr!r}"
    for option in ("--host", "--port"):
        assert option in text, f"--help does not mention {option}:\n{text}"


@pytest.mark.contract
@pytest.mark.parametrize("assignment", ALL)
def test_client_without_a_server_says_so(assignment: str, start_client):
    """Clients 4: when the server is not there, the client prints one line to standard error
    that names the address, and exits with status 1, with no traceback."""
    port = harness.free_port()
    client = start_client(assignment, "--port", str(port), *SPECS[assignment].offline)
    client.assert_exit(1, harness.WAIT)
    lines = [line for line in client.stderr.lines if line.strip()]
    assert len(lines) == 1 and str(port) in lines[0], (
        f"expected one line on stderr naming 127.0.0.1:{port}, got {lines}"
    )


@pytest.mark.contract
@pytest.mark.parametrize("assignment", INTERACTIVE)
def test_client_exit_line_ends_it(assignment: str, scope, start_client):
    """Clients 3: a line `exit` ends the client with status 0, after the reply it is owed; what
    follows `exit` is not sent."""
    talk = session(scope, assignment)
    try:
        text, expected = SPECS[assignment].message(1)
        talk.send(text)
        talk.delivered(expected)
        talk.send("exit")
        after, after_expected = SPECS[assignment].message(2)
        talk.send(after)
        talk.client.assert_exit(0, harness.WAIT)
        assert not re.search(after_expected, talk.client.stdout.text()), (
            "a line typed after `exit` was still sent"
        )
    finally:
        talk.close()


@pytest.mark.contract
@pytest.mark.parametrize("assignment", INTERACTIVE)
def test_client_end_of_input_waits_for_what_it_is_owed(assignment: str, scope, start_client):
    """Clients 3: the end of input ends the client with status 0, but only after the replies to
    the messages it sent have arrived (or, in a chat, after its messages went out)."""
    talk = session(scope, assignment)
    try:
        messages = [SPECS[assignment].message(n) for n in range(1, 4)]
        for text, _ in messages:
            talk.send(text)
        talk.client.close_input()  # at once, before any reply
        for _, expected in messages:
            talk.delivered(expected, harness.WAIT)
        talk.client.assert_exit(0, harness.WAIT)
    finally:
        talk.close()


@pytest.mark.contract
@pytest.mark.parametrize("assignment", INTERACTIVE)
def test_client_ctrl_c_has_no_traceback(assignment: str, scope, start_client):
    """Clients 4: Ctrl+C ends a connected client without a traceback."""
    talk = session(scope, assignment)
    try:
        text, expected = SPECS[assignment].message(1)
        talk.send(text)
        talk.delivered(expected)
        talk.client.interrupt()
        talk.client.wait(harness.WAIT)
        talk.client.assert_no_traceback()
    finally:
        talk.close()


@pytest.mark.robustness
@pytest.mark.parametrize("assignment", INTERACTIVE)
def test_client_survives_input_that_is_not_utf8(assignment: str, scope, start_client):
    """Text: a line of standard input that is not valid UTF-8 does not stop the client: no
    traceback, and the next message still goes through."""
    talk = session(scope, assignment)
    try:
        assert talk.client.popen.stdin is not None
        talk.client.popen.stdin.write(b"bad \xff\xfe bytes\n")
        text, expected = SPECS[assignment].message(1)
        talk.send(text)
        talk.delivered(expected, harness.WAIT)
        talk.client.assert_no_traceback()
    finally:
        talk.close()
