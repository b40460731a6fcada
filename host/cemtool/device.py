"""The logic behind the board commands (``cemtool.cli_device``): no click here.

- units and names: live channels in human units, status letters, reset causes, warning names;
- ``Settle``: the stability wait of a calibration (the last N fresh readings within a tolerance);
- calibration and maintenance mode: ``MODES``, ``mode_of``, ``format_mode``;
- ``wait_for_app``: the app answering again after a reboot;
- ``Calibration``: what each ``cemtool calibrate`` action sends (docs/protocol.md, ``calibrate``)
  and where its coefficient is read back;
- ``DumpWriter`` and ``dump()``: records over the command protocol into a file, whole records only;
- ``parse_setting``: ``KEY=VALUE`` of ``cemtool config set``.
"""
from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from cemtool import alarmcodes
from cemtool.link import Link, LinkError, ProtocolError
from cemtool.records import FLAGS, Record, RecordError, iso_utc, scaled

# Status letters of a sample (HJ 212-2017 Table 8), as ``live`` reports them (an index).
STATUS = {"N": "normal", "F": "stopped", "M": "maintenance", "S": "manual value", "D": "fault",
          "C": "calibration", "T": "over range", "B": "communication fault"}
TQ = {0: "unsynced", 1: "set by host", 2: "from network"}
RESET = {0: "unknown", 1: "power-on", 2: "hard reset", 3: "watchdog", 4: "deep-sleep wake",
         5: "soft reset", 6: "brown-out"}
# ``cemtool maint`` argument -> the ``maint`` op's mode, and the op's mode -> its words.
MODES = {"cal": "cal", "on": "maint", "off": "off"}
MODE_NAMES = {"cal": "calibration", "maint": "maintenance"}


def mode_of(result: dict[str, Any]) -> dict[str, Any] | None:
    """The mode an ``info`` or ``live`` result reports: ``{"mode", "until", "utc"}``, or None."""
    item = result.get("maint")
    if not isinstance(item, (list, tuple)) or len(item) < 2:
        return None
    mode, until = item[0], item[1]
    return {"mode": mode, "until": until,
            "utc": iso_utc(until) if isinstance(until, int) else None}


def format_mode(mode: dict[str, Any] | None, now: object = None) -> str:
    """``calibration mode until 2026-01-01T00:30:00Z (29 min left)``, or ``mode: none``."""
    if mode is None:
        return "mode: none (normal measurement)"
    left = ""
    if isinstance(now, int) and isinstance(mode["until"], int):
        left = f" ({max(0, mode['until'] - now + 59) // 60} min left)"
    return f"{MODE_NAMES.get(mode['mode'], mode['mode'])} mode until {mode['utc']}{left}: " \
        f"samples flagged {'C' if mode['mode'] == 'cal' else 'M'}"


@dataclass(frozen=True)
class Channel:
    label: str
    unit: str
    places: int  # the live value is in units of 10**-places of ``unit``


# ``live`` channels and their units (docs/protocol.md, 2.3), in display order.
CHANNELS = {"co2": Channel("CO2", "%vol", 2), "dp": Channel("Δp", "Pa", 2),
            "vel": Channel("velocity", "m/s", 2), "temp": Channel("temp", "°C", 1),
            "ps": Channel("ps", "Pa", 0), "pa": Channel("pa", "Pa", 0)}


def decimal_text(v: int, places: int) -> str:
    """``v`` units of 10**-places as exact decimal text (``1234, 2`` → ``12.34``)."""
    return f"{Decimal(v).scaleb(-places):f}" if places else str(v)


def status_letter(index: object) -> str:
    return FLAGS[index] if isinstance(index, int) and 0 <= index < len(FLAGS) else "?"


def alarms_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The active warnings of a ``live`` or ``info`` result, named (cemtool.alarmcodes)."""
    out = []
    for item in result.get("alarms") or ():
        code, value, limit = (list(item) + [None, None, None])[:3]
        out.append({"code": code, "name": alarmcodes.name(code), "value": value, "limit": limit,
                    "description": alarmcodes.ALARMS.get(code, ("", ""))[1]})
    return out


def live_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The channels of a ``live`` result, known ones first in display order."""
    ch = result.get("ch") or {}
    names = [n for n in CHANNELS if n in ch] + sorted(n for n in ch if n not in CHANNELS)
    rows = []
    for name in names:
        value, status = (list(ch[name]) + [None, None])[:2]
        spec = CHANNELS.get(name, Channel(name, "", 0))
        letter = status_letter(status)
        rows.append({"channel": name, "label": spec.label, "value": value, "unit": spec.unit,
                     "places": spec.places, "status": letter,
                     "meaning": STATUS.get(letter, f"unknown status {status}")})
    return rows


def live_json(result: dict[str, Any]) -> dict[str, Any]:
    """A ``live`` result in real units: one JSON object of ``cemtool live --json``."""
    t = result.get("t")
    return {"t": iso_utc(t) if isinstance(t, int) else None, "tq": result.get("tq"),
            "channels": {r["channel"]: {"value": scaled(r["value"], r["places"])
                                        if isinstance(r["value"], int) else r["value"],
                                        "unit": r["unit"], "status": r["status"]}
                         for r in live_rows(result)},
            "alarms": alarms_of(result), "maint": mode_of(result)}


def format_warnings(warnings: list[dict[str, Any]]) -> list[str]:
    if not warnings:
        return ["warnings: none"]
    return ["warnings:"] + [f"  {w['name']} (code {w['code']}): value {w['value']}, "
                            f"limit {w['limit']}" for w in warnings]


def format_live(result: dict[str, Any]) -> list[str]:
    """The lines of one ``cemtool live`` table."""
    t = result.get("t")
    when = iso_utc(t) if isinstance(t, int) else "?"
    lines = [f"{when}  clock {TQ.get(result.get('tq'), '?')}"]
    rows = [("channel", "value", "unit", "status")]
    for r in live_rows(result):
        value = decimal_text(r["value"], r["places"]) if isinstance(r["value"], int) else "?"
        rows.append((r["label"], value, r["unit"], f"{r['status']} {r['meaning']}"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    mode = mode_of(result)
    if mode:
        lines.append(format_mode(mode, t))
    return lines + format_warnings(alarms_of(result))


def info_json(info: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in info.items() if k != "alarms"}
    out["alarms"] = alarms_of(info)
    out["maint"] = mode_of(info)
    return out


def format_info(info: dict[str, Any]) -> list[str]:
    def text(key: str) -> str:
        v = info.get(key)
        return "(not set)" if v in ("", None) else str(v)
    reset = info.get("reset")
    safe = info.get("safe")
    rows = [("device", text("device")), ("site", text("site")), ("point", text("point")),
            ("firmware", text("fw")), ("board", text("board")), ("config", f"version {text('cfg')}"),
            ("boots", text("boots")),
            ("reset", "?" if reset is None else f"{RESET.get(reset, 'code')} ({reset})"),
            ("safe mode", "?" if safe is None else ("YES: sampling is off" if safe else "no"))]
    mode = mode_of(info)
    if mode:
        rows.append(("mode", format_mode(mode)))
    return [f"{k:<10} {v}" for k, v in rows] + format_warnings(alarms_of(info))


# -- calibration

class Settle:
    """The last ``n`` readings lie within ``tolerance`` (channel units): the stability wait.

    Only fresh readings count (a new sample time) and only normal ones (status N, as the node
    requires of the samples it calibrates on): any other status starts the window again. The
    status is the sensor's own: while calibration mode is on, ``live`` flags every sample C and
    gives the sensors' statuses in ``sensor`` (``sensor_status``).
    """

    def __init__(self, n: int, tolerance: int) -> None:
        self.n = n
        self.tolerance = tolerance
        self.values: deque[int] = deque(maxlen=n)
        self._t: object = None

    def add(self, t: object, value: object, status: str) -> bool:
        """Count one ``live`` reading; True when settled."""
        if t is not None and t == self._t:
            return self.settled
        self._t = t
        if not isinstance(value, int) or status != "N":
            self.values.clear()
        else:
            self.values.append(value)
        return self.settled

    @property
    def spread(self) -> int | None:
        return max(self.values) - min(self.values) if self.values else None

    @property
    def settled(self) -> bool:
        return len(self.values) == self.n and self.spread <= self.tolerance


ZERO, SPAN, FACTOR, CHECK = 1, 2, 3, 4
RESULTS = {0: "applied", 1: "rejected", 2: "aborted", 3: "checked"}
ACTIONS = {ZERO: "zero", SPAN: "span", FACTOR: "factor", CHECK: "check"}
SETTLE_N = 10  # readings; the node checks the spread of its last 10 samples too


@dataclass(frozen=True)
class CalChannel:
    number: int      # the calibrate op's channel
    live: str        # the live channel that shows its reading
    unit: str        # the human unit of --ref and of the result
    places: int      # the calibrate op's unit is 10**-places of ``unit``
    live_places: int  # the live channel's unit is 10**-live_places of ``unit``
    tolerance: int   # the node's default steadiness limit, in the calibrate op's unit
    limit_keys: tuple[str, str] = ("", "")  # cal settings: full scale, spread limit in ‰ of it
    coefficients: dict[int, tuple[str, str]] = field(default_factory=dict)  # action → setting

    def live_tolerance(self, cal: dict[str, Any] | None = None) -> int:
        """The spread the stability wait allows, in live units: the node's own limit
        (``cal`` settings, else its defaults) less one live unit, as live values are rounded."""
        fs_key, spread_key = self.limit_keys
        limit = self.tolerance
        fs, spread = (cal or {}).get(fs_key), (cal or {}).get(spread_key)
        if isinstance(fs, int) and isinstance(spread, int) and fs > 0 and spread >= 0:
            limit = fs * spread // 1000
        step = 10 ** (self.places - self.live_places)
        return max(0, limit // step - 1)


CAL_CHANNELS = {
    "co2": CalChannel(1, "co2", "%vol", 3, 2, 200, ("co2_fs", "co2_spread"),
                      {ZERO: ("cal", "co2_zero"), SPAN: ("cal", "co2_gain")}),
    "dp": CalChannel(2, "dp", "Pa", 2, 2, 50, ("dp_fs", "dp_spread"),
                     {ZERO: ("cal", "dp_zero"), FACTOR: ("edge", "kp")}),
    "vel": CalChannel(6, "vel", "m/s", 2, 2, 0, coefficients={FACTOR: ("edge", "kv")}),
}


class CalError(Exception):
    """A calibration that failed or could not be verified; one line for the user."""


def to_units(text: str, places: int, what: str, minimum: Decimal | None = None,
             maximum: Decimal | None = None) -> int:
    """``text`` (a decimal number) in units of 10**-places; ValueError with one line if not."""
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{what} must be a number, not {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"{what} must be a number, not {text!r}")
    if minimum is not None and d < minimum or maximum is not None and d > maximum:
        raise ValueError(f"{what} must be within {minimum}-{maximum}, not {text}")
    units = d.scaleb(places)
    if units != units.to_integral_value():
        raise ValueError(f"{what} {text} has more than {places} decimal places")
    return int(units)


def settle(link: Link, ch: CalChannel, tolerance: int, timeout: float,
           show: Callable[[int | None, str, Settle], None] | None = None,
           interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Settle:
    """Read ``live`` every ``interval`` s until the channel's last readings lie within
    ``tolerance`` (live units); CalError at ``timeout``."""
    s = Settle(SETTLE_N, tolerance)
    deadline = clock() + timeout
    while True:
        t0 = clock()
        live = link.call("live").ok
        value, status = (list((live.get("ch") or {}).get(ch.live) or [None, None]) + [None])[:2]
        if value is None:
            raise CalError(f"the device reports no {ch.live} reading")
        letter = status_letter(sensor_status(live, ch.live, status))
        if s.add(live.get("t"), value, letter):
            if show:
                show(value, letter, s)
            return s
        if show:
            show(value, letter, s)
        if clock() >= deadline:
            spread = "no steady readings" if s.spread is None else \
                f"spread {decimal_text(s.spread, ch.live_places)} {ch.unit} over the last " \
                f"{len(s.values)} readings, limit {decimal_text(tolerance, ch.live_places)}"
            raise CalError(f"reading did not settle within {timeout:g} s ({spread})")
        sleep(max(0.0, interval - (clock() - t0)))


def sensor_status(live: dict[str, Any], channel: str, status: object) -> object:
    """The sensor's own status of ``channel`` in a ``live`` result: while a mode is on the
    sample's ``status`` is the mode's (C, M) and ``sensor`` has what the sensor said."""
    sensor = live.get("sensor")
    if isinstance(sensor, dict) and channel in sensor:
        return sensor[channel]
    return status


def cal_summary(name: str, ch: CalChannel, action: int, res: dict[str, Any]) -> list[str]:
    """The lines printed for a calibrate result."""
    def v(key: str, places: int = ch.places) -> str:
        x = res.get(key)
        return decimal_text(x, places) if isinstance(x, int) else str(x)
    result = res.get("result")
    lines = [f"{name}: {RESULTS.get(result, f'result {result}')}"]
    if action == FACTOR:
        lines.append(f"  factor before {v('before', 4)}, after {v('after', 4)}")
    else:
        lines.append(f"  reading {v('reading')} {ch.unit}")
    if action in (ZERO, SPAN):
        lines.append(f"  coefficient before {res.get('before')}, after {res.get('after')}")
    if action == CHECK:
        lines.append(f"  drift {v('drift')} {ch.unit} (limit ±{v('limit')} {ch.unit})")
    lines.append(f"  calibration version {res.get('ver')}")
    return lines


def rejection(name: str, ch: CalChannel, ref: int, res: dict[str, Any]) -> str:
    reading = res.get("reading")
    shown = decimal_text(reading, ch.places) if isinstance(reading, int) else "?"
    return (f"{name} rejected by the device: reading {shown} {ch.unit} against reference "
            f"{decimal_text(ref, ch.places)} {ch.unit} is outside its limits; nothing changed")


def read_section(link: Link, section: str) -> dict[str, Any]:
    for p in link.call("config.get", {"section": section}).parts:
        if p.get("name") == section and isinstance(p.get("values"), dict):
            return p["values"]
    return {}


def read_setting(link: Link, section: str, key: str) -> Any:
    values = read_section(link, section)
    if key not in values:
        raise CalError(f"verify: the device has no setting {section}.{key}")
    return values[key]


def samples_taken(link: Link) -> int | None:
    """The node's sample count (``stats``, group ``node``), or None if it does not say."""
    for p in link.call("stats").parts:
        if p.get("name") == "node" and isinstance((p.get("values") or {}).get("samples"), int):
            return p["values"]["samples"]
    return None


def reading_after(link: Link, channel: str, wait: float,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> int | None:
    """A ``live`` reading of ``channel`` from a sample taken after this call began: the first
    that uses a calibration just made. Waits for the node's sample count to move (``live``'s
    ``t`` is the clock's time, not the sample's), or a second and more on a node that does not
    count; CalError after ``wait`` s."""
    n0 = samples_taken(link)
    deadline = clock() + wait
    if n0 is None:
        sleep(1.2)
    else:
        while samples_taken(link) == n0:
            if clock() >= deadline:
                raise CalError(f"the node took no new sample within {wait:g} s")
            sleep(0.1)
    value = (list((link.call("live").ok.get("ch") or {}).get(channel) or [None]))[0]
    return value if isinstance(value, int) else None


def wait_for_app(connect: Callable[[], Link], timeout: float,
                 done: Callable[[dict[str, Any]], bool] = lambda info: True,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The ``info`` of the app once it answers on a link from ``connect()`` and ``done(info)``
    holds, tried again while the port is gone or silent (as during a reset); at ``timeout``
    the last LinkError, or the last ``info`` when the app answered but never was ``done``."""
    deadline = clock() + timeout
    while True:
        link = None
        try:
            link = connect()
            info = link.probe()
            if done(info) or clock() >= deadline:
                return info
        except LinkError:
            if clock() >= deadline:
                raise
        finally:
            if link is not None:
                link.close()
        sleep(0.5)


# -- dump

@dataclass
class DumpSummary:
    log: str
    records: int = 0
    first: int | None = None   # first and last seq received
    last: int | None = None
    gaps: list[list[int]] = field(default_factory=list)  # [from, to] seqs missing in between
    log_first: int | None = None  # the log's range on the device when the dump began
    log_last: int | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"log": self.log, "records": self.records, "first": self.first, "last": self.last,
                "gaps": self.gaps, "log_first": self.log_first, "log_last": self.log_last,
                "seconds": round(self.seconds, 3), "records_per_s": round(self.rate, 1)}

    def lines(self) -> list[str]:
        span = "no records" if self.first is None else f"seq {self.first}-{self.last}"
        missing = sum(b - a + 1 for a, b in self.gaps)
        gaps = "no gaps" if not self.gaps else \
            f"{len(self.gaps)} gaps ({missing} seqs missing: {gap_text(self.gaps)})"
        return [f"{self.log}: {self.records} records, {span}, {gaps}",
                f"{self.seconds:.1f} s, {self.rate:.0f} records/s"]


def gap_text(gaps: list[list[int]], most: int = 5) -> str:
    """``4-6, 11, 20-29, …``: the first ``most`` gaps."""
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in gaps[:most])
    return text + (", …" if len(gaps) > most else "")


class DumpWriter:
    """Records into an open binary file as CBOR (a ``cemtool decode`` stream) or JSON lines.

    Each batch is one write followed by a flush, so a file holds whole records only, whatever
    happens to the link afterwards.
    """

    def __init__(self, out: BinaryIO, fmt: str) -> None:
        if fmt not in ("cbor", "jsonl"):
            raise ValueError(f"unknown format {fmt}")
        self.out = out
        self.fmt = fmt

    def write(self, batch: Iterable[Record]) -> None:
        if self.fmt == "cbor":
            data = b"".join(r.encode() for r in batch)
        else:
            data = "".join(json.dumps(r.row(), ensure_ascii=False) + "\n"
                           for r in batch).encode()
        self.out.write(data)
        self.out.flush()


BATCH = 1024  # records per request: the most the node sends for one
TRIES = 3  # requests for the records of an answer that lost a frame on the way


def _batch(part: dict, log: str) -> list[Record]:
    recs = part.get("recs")
    if not isinstance(recs, list) or not recs:
        raise ProtocolError(f"records: a part of the {log} log without records")
    try:
        return [Record.from_list(v) for v in recs]
    except RecordError as e:
        raise ProtocolError(f"records: the device sent a bad record: {e}") from None


def dump(link: Link, log: str, since: int, writer: DumpWriter,
         progress: Callable[[DumpSummary], None] | None = None,
         clock: Callable[[], float] = time.monotonic) -> DumpSummary:
    """Fetch ``log`` from seq ``since`` to its end into ``writer``; the summary of what came.

    Parts are written as they arrive. When an answer's records fall short of its ``sent``
    (a frame lost on the way), the seqs it skipped are asked for again (``TRIES`` times) and
    written when they come, after the ones already written: the file is then not in seq order,
    but it holds each record once. A link error propagates; by then ``writer`` holds every
    record received, and ``summary`` (the exception's ``summary`` attribute) says up to which
    seq and which are missing.
    """
    s = DumpSummary(log)
    t0 = clock()
    high = [-1]  # the highest seq asked for so far that is received or counted as a gap

    def written(batch: list[Record]) -> None:
        writer.write(batch)
        seqs = [r.seq for r in batch]
        s.first = min(seqs) if s.first is None else min(s.first, *seqs)
        s.last = max(seqs) if s.last is None else max(s.last, *seqs)
        s.records += len(batch)
        s.seconds = clock() - t0
        if progress:
            progress(s)

    def take(part: dict) -> None:
        batch = _batch(part, log)
        for r in batch:
            if r.seq <= high[0]:
                raise ProtocolError(f"records: seq {r.seq} came after {high[0]}")
            if high[0] >= 0 and r.seq > high[0] + 1:
                s.gaps.append([high[0] + 1, r.seq - 1])
            high[0] = r.seq
        written(batch)

    try:
        # an empty request for the log's range, so progress has a total from the start
        head = link.call("records", {"log": log, "from": 0xFFFFFFFF, "max": 1}).ok
        s.log_first, s.log_last = head["first"], head["last"]
        nxt = max(since, 0)
        while True:
            before, gaps_before = s.records, len(s.gaps)
            ok = link.call("records", {"log": log, "from": nxt, "max": BATCH}, on_part=take).ok
            s.log_last = max(s.log_last or 0, ok["last"])
            lost = ok["sent"] - (s.records - before)
            if lost:
                if ok["next"] - 1 > high[0]:  # the answer's tail was lost
                    start = max(nxt, ok["first"]) if high[0] < 0 else high[0] + 1
                    s.gaps.append([start, ok["next"] - 1])
                    high[0] = ok["next"] - 1
                _refill(link, log, s, gaps_before, lost, written)
            nxt = ok["next"]
            if ok["sent"] == 0 or nxt > ok["last"]:
                break
    except Exception as e:
        s.seconds = clock() - t0
        e.summary = s  # type: ignore[attr-defined]
        raise
    s.seconds = clock() - t0
    return s


def _refill(link: Link, log: str, s: DumpSummary, since_gap: int, lost: int,
            written: Callable[[list[Record]], None]) -> None:
    """Ask again for the seqs of ``s.gaps[since_gap:]`` until ``lost`` records came."""
    for _ in range(TRIES):
        for gap in list(s.gaps[since_gap:]):
            a, b = gap
            got: set[int] = set()

            def take(part: dict) -> None:
                batch = [r for r in _batch(part, log) if a <= r.seq <= b and r.seq not in got]
                got.update(r.seq for r in batch)
                if batch:
                    written(batch)
            link.call("records", {"log": log, "from": a, "max": min(BATCH, b - a + 1)},
                      on_part=take)
            if got:
                lost -= len(got)
                i = s.gaps.index(gap)
                s.gaps[i:i + 1] = _missing(a, b, got)
        if lost <= 0:
            return
    raise ProtocolError(f"records: {lost} records of an answer did not arrive in {TRIES} tries")


def _missing(a: int, b: int, got: set[int]) -> list[list[int]]:
    """The ranges of ``a..b`` not in ``got``."""
    out: list[list[int]] = []
    for seq in range(a, b + 1):
        if seq in got:
            continue
        if out and out[-1][1] == seq - 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


# -- config

def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``: the value as JSON (``8300``, ``true``, ``"x"``), a bare word as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{text!r} is not KEY=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def format_config(sections: dict[str, dict[str, Any]], ver: Any) -> list[str]:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items()]
        lines.append("")
    return lines + [f"version {ver}"]
