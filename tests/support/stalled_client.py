"""A websocket Socket.IO client on a raw TCP socket that reads only when told."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from typing import Any


class StalledClient:
    """A websocket Socket.IO client on a raw TCP socket with a small receive buffer,
    which reads only when told (Engine.IO 4, namespace ``/``, auth ``rooms``)."""

    def __init__(self, port: int, rooms: list[str]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert self.next_text().startswith("0{")  # Engine.IO open
        self.send_text("40" + json.dumps({"rooms": rooms}))
        assert self.next_text().startswith("40{")  # Socket.IO connect

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        return data

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)

    def next_frame(self) -> tuple[int, bytes]:
        """The next whole frame (opcode, payload); Engine.IO pings are answered."""
        while True:
            while len(self.buffer) < 2:
                self.buffer += self._recv()
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                start, length = 4, int.from_bytes(self.buffer[2:4], "big") if len(
                    self.buffer) >= 4 else -1
            elif length == 127:
                start, length = 10, int.from_bytes(self.buffer[2:10], "big") if len(
                    self.buffer) >= 10 else -1
            if length < 0 or len(self.buffer) < start + length:
                self.buffer += self._recv()
                continue
            assert self.buffer[0] & 0x80, "a fragmented frame"
            payload, self.buffer = self.buffer[start:start + length], self.buffer[start + length:]
            if opcode == 1 and payload == b"2":
                self.send_text("3")
                continue
            return opcode, payload

    def next_text(self) -> str:
        opcode, payload = self.next_frame()
        assert opcode == 1, opcode
        return payload.decode()

    def read_events(self, count: int, timeout: float = 30.0) -> list[tuple[str, Any]]:
        """The next ``count`` Socket.IO events (``42["event", data]`` text frames) as
        ``(event, data)``; fewer if ``timeout`` seconds pass first."""
        events = []
        deadline = time.monotonic() + timeout
        while len(events) < count and time.monotonic() < deadline:
            text = self.next_text()
            assert text.startswith("42"), text[:40]
            event, data = json.loads(text[2:])
            events.append((event, data))
        return events

    def close(self) -> None:
        self.sock.close()
