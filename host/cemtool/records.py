"""Records of the cemt terminal on the host: decoding canonical CBOR, rows for JSON and CSV.

An independent implementation of docs/records.md (it shares no code with the firmware; the shared
vectors in docs/vectors/records.json prove the two agree). A record on the wire is one CBOR array
``[kind, seq, t, tq, ver, *fields]`` of integers (and, in some event fields, text).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TextIO

import cbor2

MINUTE, HOUR, DAY = 1, 2, 3
BOOT, CALIBRATION, ALARM, CONFIG, HEALTH = 16, 17, 18, 19, 20
KIND_NAMES = {MINUTE: "minute", HOUR: "hour", DAY: "day", BOOT: "boot",
              CALIBRATION: "calibration", ALARM: "alarm", CONFIG: "config", HEALTH: "health"}
FLAGS = "NFMSDCTB"
HEADER = ("kind", "seq", "t", "tq", "ver")

MINUTE_FIELDS = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "temp", "ps", "qsn", "mass")
PERIOD_FIELDS = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "vel_min", "vel_max",
                 "temp", "temp_min", "temp_max", "ps", "pa", "xsw", "qsn", "qsn_min", "qsn_max",
                 "mass")
EVENT_FIELDS = {
    BOOT: ("boots", "reset", "safe", "fw"),
    CALIBRATION: ("channel", "action", "ref", "reading", "before", "after", "result"),
    ALARM: ("code", "state", "value", "limit"),
    CONFIG: ("key", "old", "new", "source"),
    HEALTH: ("boots", "uptime", "heap_free", "log_fill", "dropped", "acked", "csq",
             "err_co2", "err_dp", "err_temp", "err_ps", "err_pa"),
}
FIELDS = {MINUTE: MINUTE_FIELDS, HOUR: PERIOD_FIELDS, DAY: PERIOD_FIELDS, **EVENT_FIELDS}
# Fields that hold text (str) or either text or an integer; every other value is an integer.
TEXT_FIELDS = {(BOOT, "fw"), (CONFIG, "key")}
TEXT_OR_INT_FIELDS = {(CONFIG, "old"), (CONFIG, "new")}
MIN_VALID = {MINUTE: 12, HOUR: 45, DAY: 20}
T_MAX = 253402300799  # 9999-12-31T23:59:59Z, the last second ISO-8601 can name

# Period fields in real units: field -> (row key, decimal places of its fixed-point scale).
UNITS = {
    "co2": ("co2_pct", 2), "co2_min": ("co2_min_pct", 2), "co2_max": ("co2_max_pct", 2),
    "vel": ("velocity_ms", 2), "vel_min": ("velocity_min_ms", 2), "vel_max": ("velocity_max_ms", 2),
    "temp": ("temp_c", 1), "temp_min": ("temp_min_c", 1), "temp_max": ("temp_max_c", 1),
    "ps": ("ps_pa", 0), "pa": ("pa_pa", 0), "xsw": ("xsw", 4),
    "qsn": ("qsn_m3h", 0), "qsn_min": ("qsn_min_m3h", 0), "qsn_max": ("qsn_max_m3h", 0),
    "mass": ("co2_kg", 2),
}
CSV_COLUMNS = ("kind", "seq", "t", "tq", "ver", "valid", "flag", "n", "n_total",
               *(UNITS[f][0] for f in PERIOD_FIELDS if f in UNITS), "event")
# Scaled values are floats, exact in their shortest form below this many units.
EXACT_FLOAT = 10**15


class RecordError(ValueError):
    """A list of values that is not a valid record."""


class DecodeError(ValueError):
    """Bytes that are not a valid record, at ``offset`` in the input."""

    def __init__(self, offset: int, reason: str):
        super().__init__(f"corrupt record at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def _is_int(v: object) -> bool:
    return type(v) is int  # bool is an int subclass but never a record value


def _check_type(kind: int, name: str, v: object) -> None:
    if (kind, name) in TEXT_FIELDS:
        ok, want = type(v) is str, "text"
    elif (kind, name) in TEXT_OR_INT_FIELDS:
        ok, want = type(v) is str or _is_int(v), "an integer or text"
    else:
        ok, want = _is_int(v), "an integer"
    if not ok:
        raise RecordError(f"{name} must be {want}, not {type(v).__name__}")


def scaled(v: int, places: int) -> int | float | str:
    """``v`` units of 10**-places in real units: int, exact float, or exact decimal text."""
    if places == 0:
        return v
    if abs(v) < EXACT_FLOAT:
        return v / 10**places
    return str(Decimal(v).scaleb(-places))  # beyond any physical value, but never rounded


def iso_utc(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Record:
    kind: int
    seq: int
    t: int
    tq: int
    ver: int
    fields: dict[str, int | str]

    @classmethod
    def from_list(cls, values: Sequence[object]) -> Record:
        """The record of ``values`` in canonical order; RecordError if they are not one."""
        if not isinstance(values, (list, tuple)):
            raise RecordError(f"a record is an array, not {type(values).__name__}")
        if len(values) < len(HEADER):
            raise RecordError(f"a record has at least {len(HEADER)} values, not {len(values)}")
        for name, v in zip(HEADER, values):
            _check_type(0, name, v)
        kind, seq, t, tq, ver = values[:len(HEADER)]
        names = FIELDS.get(kind)
        if names is None:
            raise RecordError(f"unknown record kind {kind}")
        if len(values) != len(HEADER) + len(names):
            raise RecordError(f"a {KIND_NAMES[kind]} record has {len(HEADER) + len(names)} "
                              f"values, not {len(values)}")
        fields = dict(zip(names, values[len(HEADER):]))
        for name, v in fields.items():
            _check_type(kind, name, v)
        if seq < 0:
            raise RecordError(f"negative seq {seq}")
        if not 0 <= t <= T_MAX:
            raise RecordError(f"time {t} out of range")
        if kind in MIN_VALID and not 0 <= fields["flag"] < len(FLAGS):
            raise RecordError(f"unknown flag {fields['flag']}")
        return cls(kind, seq, t, tq, ver, fields)

    def to_list(self) -> list[int | str]:
        return [self.kind, self.seq, self.t, self.tq, self.ver, *self.fields.values()]

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_list(), canonical=True)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    @property
    def is_period(self) -> bool:
        return self.kind in MIN_VALID

    @property
    def valid(self) -> bool | None:
        """Enough valid inputs for a valid period (None for events)."""
        return self.fields["nv"] >= MIN_VALID[self.kind] if self.is_period else None

    def row(self) -> dict[str, object]:
        """The record in real units, for JSON (docs/records.md, "Rows")."""
        row: dict[str, object] = {"kind": self.kind_name, "seq": self.seq, "t": iso_utc(self.t),
                                  "tq": self.tq, "ver": self.ver}
        if not self.is_period:
            row.update(self.fields)
            return row
        f = self.fields
        row.update(valid=self.valid, flag=FLAGS[f["flag"]], n=f["nv"], n_total=f["n"])
        for name, v in f.items():
            if name in UNITS:
                key, places = UNITS[name]
                row[key] = scaled(v, places)
        return row

    def csv_row(self) -> dict[str, str]:
        """The row of CSV_COLUMNS: period columns empty for events, ``event`` JSON for events."""
        row = self.row()
        out = {column: "" for column in CSV_COLUMNS}
        if self.is_period:
            for key, value in row.items():
                out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        else:
            for key in HEADER:
                out[key] = str(row[key])
            out["event"] = json.dumps(self.fields, ensure_ascii=False, separators=(",", ":"))
        return out


def decode_stream(data: bytes) -> Iterator[Record]:
    """Yield the records of ``data`` in order.

    On bytes that are not a valid record, raises DecodeError with the offset of that record after
    the good records before it have been yielded. A valid record is a canonical encoding: the same
    values encoded any other way (longer heads, indefinite lengths, tags) are refused, as the
    firmware refuses them.
    """
    data = bytes(data)
    fp = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(fp, allow_indefinite=False, max_depth=1)
    pos = 0
    while pos < len(data):
        try:
            values = decoder.decode()
        except cbor2.CBORDecodeEOF:
            raise DecodeError(pos, "truncated") from None
        except cbor2.CBORDecodeError as e:
            raise DecodeError(pos, str(e)) from None
        end = fp.tell()
        try:
            record = Record.from_list(values)
        except RecordError as e:
            raise DecodeError(pos, str(e)) from None
        if record.encode() != data[pos:end]:
            raise DecodeError(pos, "not in canonical form")
        yield record
        pos = end


def decode(data: bytes) -> Record:
    """The one record ``data`` holds."""
    found = list(decode_stream(data))
    if len(found) != 1:
        raise DecodeError(0, f"expected one record, found {len(found)}")
    return found[0]


def write_jsonl(records: Iterable[Record], out: TextIO) -> None:
    for record in records:
        out.write(json.dumps(record.row(), ensure_ascii=False) + "\n")


def write_csv(records: Iterable[Record], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(record.csv_row())
