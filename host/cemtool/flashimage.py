"""Reading ring logs out of a flash image (the simulator's ``flash.img`` or a dump of a board).

An independent implementation of docs/storage.md: logs are found by their sector headers, without
knowing the layout; every log's records are unpacked to canonical value lists and checked by
``Record.from_list``. A damaged image is read as far as it is good: what cannot be read is named
in ``problems`` (block, offset, seqs lost), never returned altered.

    image = flashimage.load("out/flash.img")     # also reads out/flash.img.erases if present
    for log in image.logs:
        log.records, log.problems, log.stats()
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from cemtool.records import FIELDS, HEADER, Record, RecordError, decode

MAGIC = b"CEML"
VERSION = 1
DATA, STATE = 1, 2
HDR, FOOT, SEAL = 32, 8, 0x5A
HFMT = struct.Struct("<4sBBBBHHIIIII")
MASK = 0xFFFFFFFF
CODES = bytes(b for b in range(256) if bin(b).count("1") == 4)  # 70 header bytes, in order
INDEX = {c: i for i, c in enumerate(CODES)}
SHORT, LONG_DELTA, ABSOLUTE, EVENT = 56, 64, 65, 66
STEP = {1: 60, 2: 3600, 3: 86400}
UNARY = 12
MEAN0 = 64
MIN_BLOCK = 512


class ImageError(ValueError):
    """Bytes that hold no ring log at all."""


def crc8(data: bytes) -> int:
    c = 0xFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


def newer(a: int, b: int) -> bool:
    return 0 < ((a - b) & MASK) < 0x80000000


def unzigzag(z: int) -> int:
    return -(z >> 1) - 1 if z & 1 else z >> 1


@dataclass(frozen=True)
class Header:
    kind: int
    log_id: int
    block_size: int
    blocks: int
    index: int
    seq: int
    a: int
    b: int
    c: int


def parse_header(raw: bytes) -> Header | None:
    """The header (or state slot) in ``raw[:32]``, or None unless magic, version and CRC hold."""
    if len(raw) < HDR:
        return None
    f = HFMT.unpack(raw[:HDR])
    if f[0] != MAGIC or f[1] != VERSION or f[11] != zlib.crc32(raw[:HDR - 4]) or not 9 <= f[4] <= 16:
        return None
    return Header(f[2], f[3], 1 << f[4], f[5], f[6], f[7], f[8], f[9], f[10])


class _Kind:
    """Delta-coding state of one period kind within a sector (docs/storage.md, "Deltas")."""

    def __init__(self, kind: int):
        names = FIELDS[kind]
        self.kind = kind
        self.n = len(HEADER) + len(names)
        self.plan: list[tuple[int, int]] = [(0, 0)] * self.n  # (sign, base slot)
        for i, name in enumerate(names):
            if name.endswith(("_min", "_max")):
                base = len(HEADER) + names.index(name[:-4])
                self.plan[len(HEADER) + i] = (-1 if name.endswith("_min") else 1, base)
        self.v = [0] * self.n
        self.k = [MEAN0] * self.n
        self.have = False

    def absolute(self, values: list[int]) -> None:
        for i in range(2, self.n):
            sign, base = self.plan[i]
            self.v[i] = values[i] if not sign else sign * (values[i] - values[base])
            self.k[i] = MEAN0
        self.have = True


class _Bits:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.end = len(data) * 8

    def get(self, n: int) -> int:
        if self.pos + n > self.end:
            raise ValueError("entry body ends inside a value")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def rice(self, mean: int) -> int:
        q = 0
        while q < UNARY and self.get(1):
            q += 1
        if q == UNARY:
            return self.get(self.get(6))
        m, r = mean >> 3, 0
        while m > 1 and r < 16:
            m >>= 1
            r += 1
        return (q << r) | self.get(r)


def _adapt(mean: int, z: int) -> int:
    return mean + min(z, 0x10000) - (mean >> 3)


def _varints(data: bytes) -> list[int]:
    out, z, shift = [], 0, 0
    for b in data:
        z |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            out.append(z)
            z = shift = 0
    if shift:
        raise ValueError("entry body ends inside a value")
    return out


class _Sector:
    """Unpacks the entries of one sector, keeping the coding state of each period kind."""

    def __init__(self) -> None:
        self.kinds: dict[int, _Kind] = {}

    def kind(self, k: int) -> _Kind:
        if k not in STEP:
            raise ValueError(f"unknown kind {k} in an entry")
        return self.kinds.setdefault(k, _Kind(k))

    def entry(self, raw: bytes, seq: int) -> Record:
        code = INDEX[raw[0]]
        if crc8(raw[:-1]) != raw[-1]:
            raise ValueError("entry CRC mismatch")
        if code == EVENT:
            rec = decode(raw[2:-1])  # canonical CBOR, with seq 0
            return replace(rec, seq=seq)
        if code == ABSOLUTE:
            z = _varints(raw[2:-1])
            st = self.kind(z[0])
            if len(z) != st.n - 1:
                raise ValueError("entry length disagrees with its record")
            values = [st.kind, seq] + [unzigzag(x) for x in z[1:]]
            st.absolute(values)
        else:
            st = self.kind(1 if code < SHORT else raw[2])
            if not st.have:
                raise ValueError("delta entry without a base record")
            values = self.delta(st, _Bits(raw[1 if code < SHORT else 3:-1]), seq)
        try:
            return Record.from_list(values)
        except RecordError as e:
            raise ValueError(f"not a valid record: {e}") from None

    @staticmethod
    def delta(st: _Kind, bits: _Bits, seq: int) -> list[int]:
        v = st.v
        v[2] += STEP[st.kind]
        if not bits.get(1):
            for i in (2, 3, 4):
                v[i] += unzigzag(bits.rice(0))
        if not bits.get(1):
            for i in (5, 6, 7):
                v[i] += unzigzag(bits.rice(0))
        out = [st.kind, seq] + v[2:8] + [0] * (st.n - 8)
        for i in range(8, st.n):
            z = bits.rice(st.k[i])
            st.k[i] = _adapt(st.k[i], z)
            v[i] += unzigzag(z)
            sign, base = st.plan[i]
            out[i] = v[i] if not sign else out[base] + sign * v[i]
        if bits.end - bits.pos >= 8 or bits.get(bits.end - bits.pos):
            raise ValueError("entry length disagrees with its record")
        return out


def entry_size(data: bytes, pos: int) -> int:
    """Bytes of the entry at ``pos``: 0 if erased, -1 if not a header byte."""
    h = data[pos]
    if h == 0xFF:
        return 0
    i = INDEX.get(h, -1)
    if 0 <= i < SHORT:
        return i + 3
    if LONG_DELTA <= i <= EVENT and pos + 1 < len(data):
        return data[pos + 1] + 3
    return -1


@dataclass
class LogImage:
    """One ring log found in an image."""

    log_id: int
    offset: int          # byte offset of the region in the image
    block_size: int
    blocks: int          # region blocks: 2 state blocks + the ring
    acked: int = 0
    dropped: int = 0
    base: int = 0
    oldest: int = 1
    newest: int = 0
    used: int = 0        # sectors holding records
    fill_pct: int = 0
    cycles: int = 0      # sectors opened / ring size: erase cycles per sector so far
    erases: list[int] | None = None
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, object]:
        s: dict[str, object] = {
            "log": self.log_id, "offset": self.offset, "block_size": self.block_size,
            "blocks": self.blocks, "sectors": self.blocks - 2, "used": self.used,
            "fill_pct": self.fill_pct, "oldest": self.oldest, "newest": self.newest,
            "records": len(self.records), "acked": self.acked, "dropped": self.dropped,
            "cycles": self.cycles, "problems": len(self.problems)}
        if self.erases is not None:
            s["erases_min"] = min(self.erases)
            s["erases_max"] = max(self.erases)
            s["erases_total"] = sum(self.erases)
        return s


@dataclass
class FlashImage:
    logs: list[LogImage]

    def records(self) -> Iterator[Record]:
        for log in self.logs:
            yield from log.records

    @property
    def problems(self) -> list[str]:
        return [p for log in self.logs for p in log.problems]


def _lost(first: int, nxt: int | None) -> str:
    return f"records from {first} on" if nxt is None else f"records {first}..{nxt - 1}"


def _read_log(data: bytes, log: LogImage) -> None:
    bs, base = log.block_size, log.offset
    end = base + log.blocks * bs
    if end > len(data):  # a dump that stopped early: read what is there as if the rest were erased
        log.problems.append(f"log {log.log_id}: the image ends in block {(len(data) - base) // bs} "
                            f"of its {log.blocks}; the rest is read as erased")
        data = data[base:] + b"\xff" * (end - len(data))
        base = 0

    def block(i: int) -> bytes:
        return data[base + i * bs: base + (i + 1) * bs]

    def where(i: int, off: int = 0) -> str:
        return f"log {log.log_id}, block {i} (image offset {log.offset + i * bs + off:#x})"
    # state slots: the newest valid one is the state
    state = None
    for i in (0, 1):
        raw = block(i)
        for off in range(0, bs, HDR):
            h = parse_header(raw[off:off + HDR])
            if h and h.kind == STATE and h.log_id == log.log_id and h.index == i and (
                    state is None or newer(h.seq, state.seq)):
                state = h
    if state is None:
        if block(0).strip(b"\xff") or block(1).strip(b"\xff"):  # blank while nothing was acked
            log.problems.append(f"log {log.log_id}: no valid state slot; cursor and drop count "
                                f"unknown (read as 0)")
    else:
        log.acked, log.dropped, log.base = state.a, state.b, state.c
    # data sectors: headers, head (newest), oldest, ring order
    ring = log.blocks - 2
    heads: dict[int, Header] = {}
    for i in range(2, log.blocks):
        h = parse_header(block(i)[:HDR])
        if h and h.kind == DATA and h.log_id == log.log_id and h.index == i and h.blocks == log.blocks:
            heads[i] = h
    if not heads:
        log.newest = max(log.base - 1, log.acked, 0)
        log.oldest = log.newest + 1
        return
    head = next(iter(heads))
    for i, h in heads.items():
        if newer(h.seq, heads[head].seq):
            head = i
    hseq = heads[head].seq
    order = []
    for back in range(ring - 1, -1, -1):
        i = 2 + (head - 2 - back) % ring
        h = heads.get(i)
        if h and (hseq - h.seq) & MASK == back:
            order.append(i)
    log.used = len(order)
    log.cycles = (hseq + 1) // ring
    seq = None
    last_end = HDR
    for pos_in_ring, i in enumerate(order):
        h = heads[i]
        if seq is not None and h.a > seq:
            log.problems.append(f"{where(i)}: records {seq}..{h.a - 1} missing before this sector")
        seq = h.a
        raw = block(i)
        stop = bs - FOOT
        used, crc = struct.unpack_from("<HI", raw, bs - FOOT)
        if raw[-1] == SEAL and HDR <= used <= bs - FOOT:
            stop = used
            if zlib.crc32(raw[:used]) != crc:
                nxt = heads[order[pos_in_ring + 1]].a if pos_in_ring + 1 < len(order) else None
                log.problems.append(f"{where(i)}: sector CRC mismatch; {_lost(seq, nxt)} unreadable")
                seq = nxt
                continue
        sector = _Sector()
        pos = HDR
        while pos + 3 <= stop:
            size = entry_size(raw, pos)
            if size == 0:
                break
            try:
                if size < 0 or pos + size > stop:
                    raise ValueError("bad entry header")
                rec = sector.entry(raw[pos:pos + size], seq)
            except ValueError as e:
                nxt = heads[order[pos_in_ring + 1]].a if pos_in_ring + 1 < len(order) else None
                log.problems.append(f"{where(i, pos)}: {e}; {_lost(seq, nxt)} unreadable")
                break
            if seq >= log.base:
                log.records.append(rec)
            pos += size
            seq += 1
        last_end = pos
    log.newest = max(seq - 1, log.acked) if seq is not None else 0
    log.oldest = max(log.base, heads[order[0]].a) if order else log.newest + 1
    data_bytes = bs - FOOT - HDR
    log.fill_pct = max(0, (log.used - 1) * data_bytes + last_end - HDR) * 100 // (ring * data_bytes)


def read(data: bytes, erases: list[int] | None = None) -> FlashImage:
    """The ring logs of an image. ``erases``: erase counts per block of the image, if known.

    Raises ImageError if no log header is found at all.
    """
    found: dict[tuple[int, int, int, int], LogImage] = {}
    for off in range(0, len(data) - HDR + 1, MIN_BLOCK):
        if data[off:off + 4] != MAGIC:
            continue
        h = parse_header(data[off:off + HDR])
        if not h or off % h.block_size or h.index >= h.blocks:
            continue
        start = off - h.index * h.block_size
        if start < 0:
            continue
        key = (start, h.log_id, h.block_size, h.blocks)
        found.setdefault(key, LogImage(h.log_id, start, h.block_size, h.blocks))
    if not found:
        raise ImageError("no ring log found in the image (no valid sector header)")
    logs = sorted(found.values(), key=lambda g: (g.offset, g.log_id))
    for log in logs:
        if erases is not None:
            first = log.offset // log.block_size
            log.erases = erases[first:first + log.blocks] if len(erases) >= first + log.blocks else None
        _read_log(data, log)
    return FlashImage(logs)


def read_erases(path: Path) -> list[int] | None:
    """Erase counts of the simulator's side file ``IMAGE.erases`` (uint32 LE per block)."""
    side = Path(str(path) + ".erases")
    if not side.exists():
        return None
    raw = side.read_bytes()
    return list(struct.unpack(f"<{len(raw) // 4}I", raw[:len(raw) // 4 * 4]))


def load(path: str | Path) -> FlashImage:
    path = Path(path)
    return read(path.read_bytes(), read_erases(path))


def is_image(data: bytes) -> bool:
    """Whether ``data`` holds at least one ring-log header (as opposed to a CBOR stream)."""
    return any(parse_header(data[off:off + HDR])
               for off in range(0, len(data) - HDR + 1, MIN_BLOCK) if data[off:off + 4] == MAGIC)


def format_stats(image: FlashImage) -> str:
    """The text of ``cemtool decode --stats IMAGE``: one block of lines per log."""
    lines = []
    for log in image.logs:
        s = log.stats()
        lines.append(f"log {log.log_id} at offset {log.offset:#x}: {log.blocks} blocks of "
                     f"{log.block_size} bytes ({log.blocks - 2} sectors)")
        lines.append(f"  fill            {s['fill_pct']}% ({s['used']} sectors in use)")
        lines.append(f"  seq             oldest {s['oldest']}, newest {s['newest']} "
                     f"({s['records']} records readable)")
        lines.append(f"  acked           {s['acked']}")
        lines.append(f"  dropped         {s['dropped']} (overwritten before they were acked)")
        lines.append(f"  cycles          {s['cycles']} (ring laps: erase cycles per sector so far)")
        if log.erases is not None:
            lines.append(f"  erase counts    min {s['erases_min']}, max {s['erases_max']}, "
                         f"total {s['erases_total']} (simulator side file)")
        for p in log.problems:
            lines.append(f"  problem         {p}")
    return "\n".join(lines)
