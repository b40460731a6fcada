"""Command client of a cemt node over a serial port or any byte stream (docs/protocol.md).

An independent implementation of the command protocol's client side: requests are canonical
CBOR maps in frames (``cemtool.frame``), state-changing ones optionally signed with the device key
over the node's current nonce; responses are matched to requests by id, streamed parts are
handed over as they arrive, and every failure is a ``LinkError`` with a one-line message.

    with Link(SerialTransport("/dev/ttyACM0")) as link:   # USB: address 0
        link.probe()                                       # refuses a board sitting at the REPL
        info = link.call("info").ok
    bus = Link(SerialTransport("/dev/ttyUSB0", 9600), addr=3, timeout=1.5)  # RS485 node 3

``Transport`` is anything with ``write(bytes)``, ``read(timeout_s) -> bytes`` (empty when nothing
came in time) and ``close()``: ``SerialTransport`` (pyserial: serial ports and pty paths) and
``FdTransport`` (a pair of file descriptors, e.g. a subprocess's pipes) are provided.
"""
from __future__ import annotations

import itertools
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cbor2
import serial

from cemtool import auth
from cemtool.frame import MAX_NODE, Decoder, FrameError, encode

# Error codes of docs/protocol.md, "Errors".
ERRORS = {1: "bad_request", 2: "unknown_op", 3: "auth_required", 4: "auth_failed",
          5: "stale_nonce", 6: "forbidden", 7: "invalid", 8: "not_found", 9: "unsupported",
          10: "failed", 11: "internal"}
STALE_NONCE = 5
DOMAIN = b"cemt-cmd"  # the prefix of every command tag's message
REPL_MARKERS = (b"raw REPL; CTRL-B to exit", b"\r\n>>> ")
# Bytes that mean something to a REPL that reads our first frame: Ctrl-B..Ctrl-E.
_REPL_CONTROLS = frozenset(b"\x02\x03\x04\x05")


class LinkError(Exception):
    """The exchange with the node failed; ``str()`` is one line for the user."""


class PortError(LinkError):
    """The serial port cannot be opened or used."""


class LinkTimeout(LinkError):
    """The node did not answer in time."""


class AtRepl(LinkError):
    """The board answered as the MicroPython REPL, not as the cemt application."""


class ProtocolError(LinkError):
    """The node answered something that is not a valid response."""


class RemoteError(LinkError):
    """The node refused the request with an error code."""

    def __init__(self, op: str, code: int, msg: str) -> None:
        self.op = op
        self.code = code
        self.name = ERRORS.get(code, f"error {code}")
        self.msg = msg
        super().__init__(f"{op}: {self.name}: {msg}")


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...
    def close(self) -> None: ...


class SerialTransport:
    """A serial port (or a pty path) through pyserial."""

    def __init__(self, port: str, baud: int = 115200) -> None:
        self.port = port
        try:
            self._ser = serial.serial_for_url(port, baudrate=baud, timeout=0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PortError(f"cannot open {port}: {_reason(e)}") from None

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
            self._ser.flush()
        except (serial.SerialException, OSError) as e:
            raise PortError(f"cannot write to {self.port}: {_reason(e)}") from None

    def read(self, timeout: float) -> bytes:
        try:
            # the port stays non-blocking (timeout 0): wait with select, which costs no
            # reconfiguration of the port per read
            if not select.select([self._ser.fileno()], [], [], max(timeout, 0))[0]:
                return b""
            return self._ser.read(max(self._ser.in_waiting, 1))
        except (serial.SerialException, OSError) as e:
            raise PortError(f"cannot read from {self.port}: {_reason(e)}") from None

    def close(self) -> None:
        self._ser.close()


class FdTransport:
    """Two file descriptors (they may be one): reads wait with ``select``."""

    def __init__(self, rfd: int, wfd: int | None = None) -> None:
        self.rfd = rfd
        self.wfd = rfd if wfd is None else wfd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                select.select([], [self.wfd], [], 5)
                view = view[os.write(self.wfd, view):]
        except BlockingIOError:
            raise PortError("the stream does not take more bytes") from None
        except OSError as e:
            raise PortError(f"cannot write: {e.strerror}") from None

    def read(self, timeout: float) -> bytes:
        if not select.select([self.rfd], [], [], max(timeout, 0))[0]:
            return b""
        try:
            data = os.read(self.rfd, 65536)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise PortError(f"cannot read: {e.strerror}") from None
        if not data:
            raise PortError("the stream was closed")
        return data

    def close(self) -> None:
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)
            except OSError:
                pass


def _reason(e: BaseException) -> str:
    if getattr(e, "errno", None):
        return os.strerror(e.errno)
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.splitlines()[0]


@dataclass
class Reply:
    ok: dict[str, Any]
    parts: list[dict[str, Any]] = field(default_factory=list)


class Link:
    """Requests to one node: ``addr`` 0 over USB, 1-247 on an RS485 bus.

    ``timeout`` is how long to wait for each response frame (the first after the request, and
    each next part); over RS485 allow for the frame time at the baud rate.
    """

    def __init__(self, transport: Transport, addr: int = 0, timeout: float = 2.0) -> None:
        if not 0 <= addr <= MAX_NODE:
            raise LinkError(f"address {addr} is not 0-{MAX_NODE}")
        self.transport = transport
        self.addr = addr
        self.timeout = timeout
        self._decoder = Decoder(0 if addr == 0 else None)
        self._ids = itertools.count(int.from_bytes(os.urandom(2), "big"))
        self._tail = b""  # the newest bytes received, to recognise a REPL

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_id(self) -> int:
        return next(self._ids) & 0xFFFFFFFF

    def _frame(self, req: dict[str, Any], key: bytes | None) -> bytes:
        body = cbor2.dumps(req, canonical=True)
        if key is not None:
            tag = auth.sign(key, DOMAIN + bytes([self.addr]) + body)
            body += cbor2.dumps(tag)
        try:
            return encode(self.addr, body)
        except FrameError as e:
            raise LinkError(f"{req['op']}: {e}") from None

    def probe(self) -> dict[str, Any]:
        """Check that the cemt application (not the REPL) answers on USB; returns ``info``.

        The first frame a REPL might read must not make it act: its id is chosen so that the
        frame holds no Ctrl-B..Ctrl-E (docs/framing.md, "USB"). A REPL that switched to raw
        mode on the frame's leading Ctrl-A is sent back to the friendly REPL (Ctrl-B).
        """
        while True:
            rid = self._next_id()
            wire = self._frame({"id": rid, "op": "info"}, None)
            if not _REPL_CONTROLS.intersection(wire[2:]):
                break
        return self._exchange("info", rid, wire, None).ok

    def call(self, op: str, args: dict[str, Any] | None = None, *, key: bytes | None = None,
             nonce: bytes | None = None,
             on_part: Callable[[dict[str, Any]], None] | None = None) -> Reply:
        """Send ``op`` with ``args`` and wait for its whole response.

        With ``key`` the request is signed over ``nonce`` (fetched first when not given).
        ``on_part`` receives each streamed part as it arrives; without it they are collected in
        ``Reply.parts``. A node's error reply raises ``RemoteError``.
        """
        req = dict(args or {})
        if key is not None:
            req["nonce"] = nonce if nonce is not None else self.call("nonce").ok["nonce"]
        rid = self._next_id()
        req["id"] = rid
        req["op"] = op
        return self._exchange(op, rid, self._frame(req, key), on_part)

    def signed(self, op: str, args: dict[str, Any] | None, key: bytes,
               nonce: bytes | None = None) -> Reply:
        """A signed request, retried once with a fresh nonce if ``nonce`` was stale."""
        try:
            return self.call(op, args, key=key, nonce=nonce)
        except RemoteError as e:
            if e.code != STALE_NONCE or nonce is None:
                raise
        return self.call(op, args, key=key)

    def _exchange(self, op: str, rid: int, wire: bytes,
                  on_part: Callable[[dict[str, Any]], None] | None) -> Reply:
        self._decoder.reset()
        self.transport.write(wire)
        parts: list[dict[str, Any]] = []
        answered = False
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            data = self.transport.read(left) if left > 0 else b""
            if not data:
                self._no_answer(op, answered)
            self._tail = (self._tail + data)[-256:]
            for fr in self._decoder.feed(data):
                msg = self._message(fr)
                if msg is None or msg.get("id") != rid:
                    continue  # an echo, another node's traffic, or a late reply to an old request
                answered = True
                deadline = time.monotonic() + self.timeout
                if "ok" in msg:
                    if not isinstance(msg["ok"], dict):
                        raise ProtocolError(f"{op}: the result is not a map")
                    return Reply(msg["ok"], parts)
                if "err" in msg:
                    raise RemoteError(op, msg["err"], str(msg.get("msg", "")))
                if on_part is None:
                    parts.append(msg)
                else:
                    on_part(msg)
            if not answered and self.addr == 0 and any(m in self._tail for m in REPL_MARKERS):
                self._left_at_repl()

    def _message(self, fr) -> dict[str, Any] | None:
        if self.addr != 0 and fr.addr != self.addr:
            return None
        try:
            msg = cbor2.loads(fr.payload)
        except Exception:  # cbor2 raises several types for bad input
            raise ProtocolError(f"node {self.addr} sent a frame that is not CBOR") from None
        if not isinstance(msg, dict) or "op" in msg:
            return None
        return msg

    def _no_answer(self, op: str, answered: bool):
        if not answered and self.addr == 0 and any(m in self._tail for m in REPL_MARKERS):
            self._left_at_repl()
        where = "the device" if self.addr == 0 else f"node {self.addr}"
        raise LinkTimeout(f"{op}: no answer from {where} within {self.timeout:g} s"
                          if not answered else
                          f"{op}: {where} stopped answering for {self.timeout:g} s")

    def _left_at_repl(self):
        if b"raw REPL" in self._tail:
            self.transport.write(b"\x02")  # back to the friendly REPL, the state we found
        self._tail = b""
        raise AtRepl("the board is at the MicroPython REPL, not running cemt "
                     "(start the app, e.g. import main, or reset the board)")
