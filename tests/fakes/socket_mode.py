"""A fake Slack Socket Mode WebSocket endpoint on loopback (stdlib only).

Slack hands a Socket Mode client a ``wss://`` URL from ``apps.connections.open``; this server
stands behind the ``ws://`` URL the fake Web API returns instead (:class:`FakeSlack`'s
``socket_url``). It speaks just enough RFC 6455 for slack_sdk's built-in client: the upgrade
handshake, a ``hello`` message, ping/pong, close, and text frames both ways, so tests can push
real envelopes (``slash_commands``, ``interactive``) and read the client's acknowledgements.
Hand-written because no maintained pure-stdlib WebSocket *server* exists and the tests (and the
image check, which runs on the host's bare interpreter) must not depend on one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class FakeSocketMode:
    """Accepts Socket Mode connections; ``send`` pushes an envelope to every open one."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._cond = threading.Condition()
        self._conns: list[socket.socket] = []
        self.received: list[dict[str, Any]] = []
        self.connections_total = 0
        self._running = True
        self._thread = threading.Thread(target=self._accept_loop, name="fake-socket-mode", daemon=True)

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        self._listener.close()
        with self._cond:
            for conn in self._conns:
                try:
                    conn.close()
                except OSError:
                    pass
            self._conns.clear()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"

    @property
    def open_connections(self) -> int:
        with self._cond:
            return len(self._conns)

    def wait_connected(self, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._conns, timeout):
                raise AssertionError(f"no Socket Mode client connected within {timeout}s")

    def wait_disconnected(self, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._conns, timeout):
                raise AssertionError(f"the Socket Mode client was still connected after {timeout}s")

    def send(self, envelope: dict[str, Any]) -> None:
        frame = _frame(0x1, json.dumps(envelope).encode())
        with self._cond:
            for conn in self._conns:
                conn.sendall(frame)

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no ack for envelope {envelope_id} within {timeout}s")
            ack = found()
        assert ack is not None
        return ack

    # ------------------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if not _handshake(conn):
                conn.close()
                return
            with self._cond:
                self._conns.append(conn)
                self.connections_total += 1
                self._cond.notify_all()
            conn.sendall(_frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode()))
            while True:
                opcode, payload = _read_frame(conn)
                if opcode == 0x8:
                    try:
                        conn.sendall(_frame(0x8, payload[:2]))
                    except OSError:
                        pass
                    return
                if opcode == 0x9:
                    conn.sendall(_frame(0xA, payload))
                elif opcode == 0x1:
                    with self._cond:
                        self.received.append(json.loads(payload))
                        self._cond.notify_all()
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            with self._cond:
                if conn in self._conns:
                    self._conns.remove(conn)
                self._cond.notify_all()
            try:
                conn.close()
            except OSError:
                pass


def _handshake(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    headers = {}
    for line in data.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    key = headers.get("sec-websocket-key")
    if not key:
        return False
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    return True


def _frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionError("peer closed")
        out += chunk
    return out


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _recv_exact(conn, 2)
    opcode = b0 & 0x0F
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _recv_exact(conn, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _recv_exact(conn, 8))
    mask = _recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = _recv_exact(conn, length)
    return opcode, bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
