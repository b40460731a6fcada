"""Forwarding stored records to an HJ 212 platform over TCP, with acks, retries and back-fill.

One round (``forward_round``) sends, per (device, kind) stream, every stored record after the
stream's cursor, oldest first. Each message asks for a data ack (Flag ack bit); the client waits
``timeout`` seconds for a CN 9014 with the message's QN and sends the same frame again up to
``retries`` times. A message acked advances its stream's cursor in the state file (JSON, written
atomically after every ack), so a restart goes on from there: whatever was not acked is the
backlog, sent again (back-filled) next round. As HJ 212-2017 6.4 says, when the retries are used
up the link is taken as unusable and the round ends. docs/hj212.md, "Forwarding".
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cemtool import hj212
from cemtool.records import DAY, HOUR, KIND_NAMES, MINUTE, Record
from cemtool.store import Store

STATE_FORMAT = 1
DEFAULT_TIMEOUT_S = 5.0  # HJ 212-2017 leaves both to the operator (CN 1000 OverTime/ReCount);
DEFAULT_RETRIES = 3      # its own CN 1000 example sets OverTime=5, ReCount=3
KINDS = (MINUTE, HOUR, DAY)

MnOf = Callable[[str, int], str]


class ForwardError(Exception):
    """A state file or setting that cannot be used; one line."""


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def stream_key(device: str, kind: int) -> str:
    return f"{device}/{KIND_NAMES[kind]}"


class State:
    """The forwarding cursors of one destination: the highest seq acked per stream."""

    def __init__(self, path: Path, to: str, version: int, cursors: dict[str, int]) -> None:
        self.path, self.to, self.version, self.cursors = path, to, version, cursors

    @classmethod
    def load(cls, path: str | Path, to: str, version: int) -> State:
        path = Path(path)
        if not path.exists():
            return cls(path, to, version, {})
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != STATE_FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, not {STATE_FORMAT}")
            cursors = raw["cursors"]
            if not all(isinstance(k, str) and type(v) is int for k, v in cursors.items()):
                raise ValueError("cursors must map streams to integers")
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
            raise ForwardError(f"state file {path}: {e}") from None
        if raw.get("to") != to or raw.get("version") != version:
            raise ForwardError(f"state file {path} belongs to {raw.get('to')} HJ 212-"
                               f"{raw.get('version')}, not {to} HJ 212-{version}; "
                               "give another --state")
        return cls(path, to, version, dict(cursors))

    def cursor(self, key: str) -> int:
        return self.cursors.get(key, -1)

    def advance(self, key: str, seq: int) -> None:
        self.cursors[key] = seq
        self.save()

    def save(self) -> None:
        data = json.dumps({"format": STATE_FORMAT, "to": self.to, "version": self.version,
                           "cursors": dict(sorted(self.cursors.items()))}, indent=1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(data + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


@dataclass
class Options:
    host: str
    port: int
    version: hj212.Version = hj212.V2017
    kinds: tuple[int, ...] = KINDS
    device: str | None = None
    pw: str = hj212.DEFAULT_PW
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    utc_offset_h: int = hj212.DEFAULT_UTC_OFFSET_H

    @property
    def to(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Summary:
    to: str
    version: int
    messages: int = 0         # messages acked this round
    frames: int = 0           # frames sent, resends included
    resends: int = 0
    backfilled: int = 0       # acked messages sent as back-fill (their period long over)
    bad_frames: int = 0       # frames from the platform that did not parse
    refused: int = 0          # acks with QnRtn/ExeRtn other than 1
    skipped_unsynced: int = 0  # records with tq 0 (time never set): not sent, passed over
    backlog: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def unacked(self) -> int:
        return sum(self.backlog.values())

    @property
    def ok(self) -> bool:
        return self.error is None and self.unacked == 0

    def to_json(self) -> dict:
        return {"to": self.to, "version": self.version, "messages": self.messages,
                "frames": self.frames, "resends": self.resends, "backfilled": self.backfilled,
                "bad_frames": self.bad_frames, "refused": self.refused,
                "skipped_unsynced": self.skipped_unsynced, "unacked": self.unacked,
                "backlog": self.backlog, "error": self.error, "ok": self.ok}

    def line(self) -> str:
        text = (f"{self.to}: {self.messages} messages acked ({self.frames} frames, "
                f"{self.resends} resends, {self.backfilled} back-filled), {self.unacked} in backlog")
        if self.skipped_unsynced:
            text += f", {self.skipped_unsynced} unsynced records skipped"
        if self.bad_frames or self.refused:
            text += f", {self.bad_frames} bad frames, {self.refused} refusals"
        return text + (f"; {self.error}" if self.error else "")


def backlog(store: Store, state: State, opts: Options) -> list[tuple[str, str, list[Record]]]:
    """(stream, device, records after its cursor in seq order) of every stream with records."""
    out = []
    for kind in opts.kinds:
        streams: dict[str, list[Record]] = {}
        for device, record in store.records(opts.device, kind):
            if record.seq > state.cursor(stream_key(device, kind)):
                streams.setdefault(device, []).append(record)
        out += [(stream_key(d, kind), d, rs) for d, rs in sorted(streams.items())]
    return out


class _Link:
    """One TCP connection to the platform: send frames, wait for the ack of a message."""

    def __init__(self, sock: socket.socket, summary: Summary) -> None:
        self.sock, self.summary = sock, summary
        self.reader = hj212.FrameReader()

    def exchange(self, frame: bytes, msg: hj212.Message, timeout: float, retries: int) -> bool:
        """Send ``frame`` and wait for ``msg``'s ack, resending up to ``retries`` times."""
        for attempt in range(retries + 1):
            self.sock.sendall(frame)
            self.summary.frames += 1
            self.summary.resends += attempt > 0
            verdict = self._wait(msg, time.monotonic() + timeout)
            if verdict is not None:
                return verdict
        return False

    def _wait(self, msg: hj212.Message, deadline: float) -> bool | None:
        """True on its ack, False on a refusal, None on timeout."""
        while True:
            for data in self.reader.frames():
                try:
                    reply = hj212.parse(data)
                except hj212.Hj212Error:
                    self.summary.bad_frames += 1
                    continue
                if reply.cn == hj212.CN_DATA_ACK and reply.qn == msg.qn:
                    if hj212.is_ack_of(reply, msg):
                        return True
                    self.summary.refused += 1
                    return False
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, TimeoutError):
                return None
            if not data:
                raise ConnectionError("the platform closed the connection")
            self.reader.feed(data)


def forward_round(store: Store, state: State, opts: Options, mn_of: MnOf,
                  log: Callable[[str], None] = lambda line: None,
                  now: Callable[[], float] = time.time) -> Summary:
    """Send the backlog once; return what happened. Never raises for the link's faults: they end
    the round and are named in ``Summary.error``."""
    summary = Summary(opts.to, opts.version.year)
    work = backlog(store, state, opts)
    summary.backlog = {key: len(rs) for key, _, rs in work}
    if not work:
        return summary
    qn = hj212.QnClock(opts.utc_offset_h, now)
    try:
        sock = socket.create_connection((opts.host, opts.port), timeout=opts.timeout)
    except OSError as e:
        summary.error = f"cannot connect to {opts.to}: {e.strerror or e}"
        return summary
    link = _Link(sock, summary)
    try:
        for key, device, records in work:
            for record in records:
                if record.tq == 0:
                    summary.skipped_unsynced += 1
                    _done(state, summary, key, record.seq)
                    continue
                late = now() >= record.t + 2 * hj212.PERIOD_S[record.kind]
                msg = hj212.record_message(record, mn_of(device, record.t), qn.next(),
                                           opts.version, opts.pw, ack=True, backfill=late,
                                           utc_offset_h=opts.utc_offset_h)
                for part in hj212.split(msg):
                    if not link.exchange(hj212.encode(part)[0], part, opts.timeout, opts.retries):
                        log(f"{key} seq {record.seq} QN {msg.qn}: no ack after "
                            f"{opts.retries} resends")
                        summary.error = (f"no ack from {opts.to} for {key} seq {record.seq} "
                                         f"after {opts.retries} resends")
                        return summary
                summary.messages += 1
                summary.backfilled += late
                _done(state, summary, key, record.seq)
                log(f"{key} seq {record.seq} DataTime {msg.get('DataTime')} QN {msg.qn}: acked"
                    + (" (back-fill)" if late else ""))
    except OSError as e:  # ConnectionError included
        summary.error = f"link to {opts.to} failed: {e.strerror or e}"
    except hj212.Hj212Error as e:
        summary.error = str(e)
    finally:
        sock.close()
    return summary


def _done(state: State, summary: Summary, key: str, seq: int) -> None:
    state.advance(key, seq)
    summary.backlog[key] -= 1
    if not summary.backlog[key]:
        del summary.backlog[key]


def run(rounds: Iterable[int], one_round: Callable[[], Summary], interval: float,
        report: Callable[[Summary], None]) -> Summary:
    """Run rounds (``--follow``: until interrupted), ``interval`` seconds apart; the last summary."""
    last = None
    for i in rounds:
        if i:
            time.sleep(interval)
        last = one_round()
        report(last)
    return last
