"""The RS485 master: fetch every node's new records into the receiver's store, then acknowledge.

For each address in turn: ``info`` names the device; for each of its logs, ``records`` from the
seq after the highest one the store holds, in requests of ``batch`` records. A request's records
are committed in one transaction (``cemtool.store``: exactly once by (device, kind, seq)) only
when its end marker came and counts as many records as arrived: a part lost to line noise must
not let the store's cursor jump over it. Once a log is drained and committed, a signed ``ack``
moves the node's cursor to what the store holds, so the node counts as dropped only records the
plant really lost. Without the device's key nothing is acknowledged (the node keeps its cursor).
A node that does not answer costs one timeout and the poll goes on with the next address.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cemtool.link import Link, LinkError, ProtocolError, Transport
from cemtool.records import Record, RecordError
from cemtool.store import LONG_LOG, MINUTE_LOG, Store, StoreError

LOGS = (("minute", MINUTE_LOG), ("long", LONG_LOG))
DEFAULT_BATCH = 256


@dataclass
class LogResult:
    stored: int = 0        # records new to the store
    duplicates: int = 0    # records the store already held
    conflicts: int = 0     # records held with other bytes (kept apart by the store)
    held: int = 0          # the highest seq the store holds for this log
    node_last: int = 0     # the newest seq on the node
    acked: int | None = None  # the node's cursor after this poll; None when not acknowledged


@dataclass
class NodeResult:
    addr: int
    device: str | None = None
    logs: dict[str, LogResult] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        who = f"node {self.addr}" + (f" {self.device}" if self.device else "")
        if self.error and not self.logs:
            return f"{who}: {self.error}"
        parts = []
        for name, r in self.logs.items():
            text = f"{name} +{r.stored}"
            if r.duplicates:
                text += f" ({r.duplicates} already held)"
            if r.conflicts:
                text += f" ({r.conflicts} CONFLICTING)"
            text += f", store at {r.held}/{r.node_last}"
            text += f", acked {r.acked}" if r.acked is not None else ", not acked"
            parts.append(text)
        line = f"{who}: " + "; ".join(parts)
        if self.note:
            line += f" ({self.note})"
        if self.error:
            line += f"; error: {self.error}"
        return line


def parse_addrs(text: str) -> list[int]:
    """``"1-4,7"`` -> [1, 2, 3, 4, 7]; ValueError with a one-line reason otherwise."""
    out: list[int] = []
    for piece in text.split(","):
        lo, sep, hi = piece.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"bad address range {piece.strip()!r} (use e.g. 1-8 or 1,3,5)") \
                from None
        if not 1 <= a <= b <= 247:
            raise ValueError(f"address range {piece.strip()!r} is not within 1-247")
        out.extend(x for x in range(a, b + 1) if x not in out)
    return out


def poll_node(link: Link, store: Store, keys: dict[str, bytes] | None,
              batch: int = DEFAULT_BATCH) -> NodeResult:
    """Fetch, store and acknowledge the new records of the node at ``link.addr``."""
    res = NodeResult(link.addr)
    try:
        res.device = str(link.call("info").ok["device"])
        if not res.device:
            res.error = "device not provisioned (no device id)"
            return res
        key = (keys or {}).get(res.device)
        if keys is not None and key is None:
            res.note = "no key for this device: nothing acknowledged"
        for name, log in LOGS:
            res.logs[name] = LogResult()
            _drain(link, store, res.device, name, log, key, batch, res.logs[name])
    except (LinkError, StoreError, RecordError) as e:
        res.error = str(e)
    return res


def _drain(link: Link, store: Store, device: str, name: str, log: int, key: bytes | None,
           batch: int, r: LogResult) -> None:
    """Fetch and commit ``name`` to the end, then acknowledge; ``r`` is kept up to date."""
    r.held = store.committed(device)[log]
    while True:
        got: list[Record] = []

        def take(part: dict) -> None:
            recs = part.get("recs")
            if not isinstance(recs, list) or not recs:
                raise ProtocolError(f"records: a part of the {name} log without records")
            got.extend(Record.from_list(v) for v in recs)
        ok = link.call("records", {"log": name, "from": r.held + 1, "max": batch},
                       on_part=take).ok
        r.node_last = ok["last"]
        if len(got) != ok["sent"]:
            raise ProtocolError(f"records: {len(got)} of {ok['sent']} {name} records arrived "
                                f"(a frame was lost); nothing of them stored")
        if got:
            c = store.commit(device, log, got)
            r.stored += c.stored
            r.duplicates += c.duplicates
            r.conflicts += c.conflicts
            r.held = store.committed(device)[log]
        if ok["sent"] == 0 or ok["next"] > ok["last"]:
            break
    if r.held > ok["last"]:
        raise ProtocolError(f"the node's {name} log ends at {ok['last']} but the store holds "
                            f"up to {r.held}: was its flash erased? not acknowledged")
    if key is None:
        return
    r.acked = ok["acked"]
    if r.acked < r.held:
        r.acked = link.signed("ack", {"log": name, "seq": r.held}, key, ok["nonce"]).ok["acked"]


def poll_bus(transport: Transport, addrs: Iterable[int], store: Store,
             keys: dict[str, bytes] | None, timeout: float, batch: int = DEFAULT_BATCH,
             report: Callable[[NodeResult], None] | None = None) -> list[NodeResult]:
    """One round over ``addrs``; ``report`` gets each node's result as soon as it is known."""
    results = []
    for addr in addrs:
        res = poll_node(Link(transport, addr, timeout), store, keys, batch)
        results.append(res)
        if report is not None:
            report(res)
    return results


def frame_timeout(baud: int) -> float:
    """How long to wait for one response frame: the longest frame at ``baud``, plus slack."""
    return 0.3 + 1036 * 11 / baud


def run_forever(round_: Callable[[], object], interval: float) -> None:
    """Call ``round_`` every ``interval`` seconds (measured start to start) until interrupted."""
    while True:
        t0 = time.monotonic()
        round_()
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
