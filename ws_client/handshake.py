#!/usr/bin/env python3
"""The WebSocket handshake and one frame, by hand over a plain TCP socket (seed 001, lecture).

What it teaches: a WebSocket is a TCP connection that starts as an HTTP request and, after
`101 Switching Protocols`, carries frames: a byte or two of header, a length, a mask, data.

Protocol (RFC 6455): it writes the upgrade request with a fresh Sec-WebSocket-Key and checks
the server's Sec-WebSocket-Accept, base64(SHA-1(key + GUID)); then it sends one masked text
frame, decodes the reply byte by byte, and closes with code 1000.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import socket
import struct
import sys
from typing import BinaryIO
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8082
DEFAULT_PATH = "/ws"
DEFAULT_MESSAGE = "Hello, WebSocket!"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # fixed by RFC 6455, the same for every server
TIMEOUT_SECONDS = 10.0
MAX_LINE_BYTES = 8192  # an answer with longer lines, or more of them, is not a handshake
MAX_HEADER_LINES = 100
OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


class NotWebSocket(Exception):
    """The server answered, but not as a WebSocket server."""


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to `key`. It proves that the server read
    our request as a WebSocket handshake (a plain web server or a cache cannot echo the right
    value by accident); it is no security, as anyone can compute it."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("utf-8")).digest()).decode("ascii")


def upgrade_request(host: str, port: int, path: str, key: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket"]
    lines += ["Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")  # a blank line ends the request


def read_head(reader: BinaryIO) -> list[str]:
    """The status line and headers, up to the blank line that ends them. TCP is a byte stream:
    one recv() may hold half a line, or the headers and the first frame; readline() calls
    recv() as often as it takes and keeps the bytes after the blank line for the frames."""
    lines: list[str] = []
    while (line := reader.readline(MAX_LINE_BYTES)) not in (b"\r\n", b"\n"):
        if not line:
            raise NotWebSocket("it closed the connection without an answer")
        if not line.endswith(b"\n") or len(lines) >= MAX_HEADER_LINES:
            raise NotWebSocket("its answer is not HTTP")
        lines.append(line.decode("latin-1").rstrip("\r\n"))
    return lines


def xor(data: bytes, mask: bytes) -> bytes:
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One client frame. A client masks every frame with 4 fresh random bytes, so that a proxy
    that misreads the stream as HTTP cannot be fed bytes a web page chose (cache poisoning);
    a server never masks. 0x80 in the first byte is FIN (the last piece of the message), in
    the second the MASK bit."""
    n = len(payload)
    # Seven bits hold a length up to 125; 126 means "the length is in the next 2 bytes", 127
    # "in the next 8": a short message costs 2 bytes of header, a huge one 10.
    if n <= 125:
        length = bytes([0x80 | n])
    elif n <= 0xFFFF:
        length = bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return bytes([0x80 | opcode]) + length + mask + xor(payload, mask)


def decode_frame(stream: BinaryIO) -> tuple[int, bytes, list[tuple[bytes, str]]]:
    """One frame: its opcode, its payload, and each of its parts with what it means. The same
    rules read the frames we send and the frames the server sends."""

    def take_bytes(count: int) -> bytes:
        data = stream.read(count)  # a buffered read(n) waits for all n bytes, or the end
        if len(data) < count:
            raise ConnectionError("the server closed the connection in the middle of a frame")
        return data

    first, second = take_bytes(2)
    opcode, n = first & 0x0F, second & 0x7F
    more = {126: ": the next 2 bytes hold it", 127: ": the next 8 bytes hold it"}.get(n, "")
    parts = [(bytes([first]), f"FIN={first >> 7}, opcode {opcode:#x} ({OPCODES.get(opcode)})")]
    parts.append((bytes([second]), f"MASK={second >> 7}, payload length {n}{more}"))
    if more:
        extended = take_bytes(2 if n == 126 else 8)
        n = int.from_bytes(extended, "big")
        parts.append((extended, f"extended payload length {n}"))
    # A server never masks; an unmasked frame reads the same as one masked with zeros.
    mask = take_bytes(4) if second & 0x80 else bytes(4)
    raw = take_bytes(n)
    payload = xor(raw, mask)
    text = payload.decode("utf-8", "replace")
    shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({n} bytes)"
    if opcode == 0x8 and n >= 2:  # a close frame's payload: a 2-byte code, then a reason
        code, reason = int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")
        shown = f"close code {code}, reason {reason!r}"
    if second & 0x80:
        parts += [(mask, "masking key"), (raw, f"masked payload, XOR key = {shown}")]
    else:
        parts.append((raw, f"payload {shown}"))
    return opcode, payload, parts


def print_frame(title: str, parts: list[tuple]) -> None:
    print(title)
    for data, meaning in parts:
        shown = data.hex(" ") if len(data) <= 12 else f"{data[:12].hex(' ')} …"
        print(f"  {shown:<40} {meaning}")


def send_frame(sock: socket.socket, opcode: int, payload: bytes, title: str) -> None:
    frame = encode_frame(opcode, payload)
    sock.sendall(frame)
    print_frame(title, decode_frame(io.BytesIO(frame))[2])  # read back by the same rules


def talk(sock: socket.socket, host: str, port: int, path: str, message: str) -> None:
    key = base64.b64encode(os.urandom(16)).decode("ascii")  # fresh for every handshake
    with sock:
        request = upgrade_request(host, port, path, key)
        sock.sendall(request)
        print("\n".join(f"> {line}" for line in request.decode("utf-8").splitlines()))
        reader = sock.makefile("rb")
        status, *header_lines = read_head(reader)
        print("\n".join(f"< {line}" for line in [status, *header_lines]))
        if status.split()[1:2] != ["101"]:
            raise NotWebSocket(f"it answered {status!r}, not 101 Switching Protocols")
        fields = (line.partition(":") for line in header_lines)
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        got, expected = headers.get("sec-websocket-accept"), accept_for(key)
        print(f"expected Sec-WebSocket-Accept: {expected} = base64(SHA-1(key + GUID))")
        if got != expected:
            raise NotWebSocket(f"its Sec-WebSocket-Accept is {got!r}, expected {expected!r}")
        print("it matches: the server understood our WebSocket request")

        send_frame(sock, 0x1, message.encode("utf-8"), "sent a text frame:")
        opcode, payload, parts = decode_frame(reader)
        print_frame("received:", parts)
        if opcode == 0x1:
            print(f"reply: {payload.decode('utf-8', 'replace')}")
        send_frame(sock, 0x8, struct.pack("!H", 1000), "sent a close frame (normal closure):")
        while opcode != 0x8:  # frames still on their way, then the server's answering close
            opcode, payload, parts = decode_frame(reader)
            print_frame("received:", parts)


def main() -> None:
    parser = argparse.ArgumentParser(description="The WebSocket handshake and frames, by hand.")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="server address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="server port (default: %(default)s)"
    )
    parser.add_argument(
        "--path", default=DEFAULT_PATH, help="the WebSocket's path (default: %(default)s)"
    )
    parser.add_argument(
        "--url",
        help="the server's full URL, e.g. ws://127.0.0.1:PORT/PATH (overrides --host, --port "
        "and --path)",
    )
    parser.add_argument(
        "--message", default=DEFAULT_MESSAGE, help="the text to send (default: %(default)s)"
    )
    parser.add_argument("--key", help="only print the Sec-WebSocket-Accept for KEY, no network")
    args = parser.parse_args()
    if args.key is not None:
        print(f"Sec-WebSocket-Key:    {args.key}\nSec-WebSocket-Accept: {accept_for(args.key)}")
        return
    host, port, path = args.host, args.port, args.path
    if args.url:
        try:
            url = urlsplit(args.url)
            host, port = url.hostname or "", url.port or 80
            if url.scheme != "ws" or not host:
                raise ValueError(args.url)
        except ValueError:  # not ws://, no host, or a port that is not a number up to 65535
            parser.error(f"--url {args.url}: give ws://HOST:PORT/PATH (wss:// would need TLS)")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    address = f"ws://{host}:{port}{path}"
    try:
        sock = socket.create_connection((host, port), timeout=TIMEOUT_SECONDS)
    except OSError as error:  # refused, unknown host, timed out
        sys.exit(f"cannot connect to {address}: {error.strerror or error}")
    try:
        talk(sock, host, port, path, args.message)
    except NotWebSocket as error:
        sys.exit(f"{address} is not a WebSocket endpoint: {error}")
    except OSError as error:  # timed out, or closed by the server (ConnectionError)
        sys.exit(f"{address}: {error.strerror or error or type(error).__name__}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
