"""HJ 212 messages of cemt records: CRC, framing, packet split, parsing, codes (docs/hj212.md).

An HJ 212 frame is ``##`` + 4-digit length + data segment + 4 hex CRC + CRLF. The data segment is
``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;[PNUM=…;PNO=…;][RF=1;]CP=&&…&&``. ``record_message`` turns a
minute/hour/day record into a data message (CN 2051/2061/2031), ``encode`` frames a message
(split into PNUM/PNO packets when its segment exceeds 1024 characters), ``parse`` checks and
reads one frame and ``period_values`` reads a data message back into record units. The protocol
version (2017 or 2025) is a ``Version``: the Flag version bits, the ST/CN tables and the
back-fill mark differ; the factor codes and data flags are the same in both (docs/hj212.md says
what is assumed).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

from cemtool.records import DAY, FLAGS, HOUR, MINUTE, Record

MAX_SEGMENT = 1024  # characters of one data segment (HJ 212-2017 6.3.2)
MAX_CP = 950        # characters of "CP=&&…&&" (HJ 212-2017 6.3.3, table 3)
CN_OF_KIND = {MINUTE: "2051", HOUR: "2061", DAY: "2031"}
KIND_OF_CN = {cn: kind for kind, cn in CN_OF_KIND.items()}
PERIOD_S = {MINUTE: 60, HOUR: 3600, DAY: 86400}
CN_DATA_ACK = "9014"
ST_SYSTEM = "91"    # system interaction: acks and notices
ST_AIR_SOURCE = "31"  # air pollution source (flue gas)
DEFAULT_PW = "123456"  # the password of the standard's own examples; platforms assign their own
DEFAULT_UTC_OFFSET_H = 8  # HJ 212 times are the platform's local clock: China Standard Time

# Flag: bits 7..2 the standard version, bit 1 "packet split" (PNUM/PNO present), bit 0 "ack".
FLAG_ACK = 0x01
FLAG_SPLIT = 0x02

# HJ 212-2017 table 5 (system codes) and table 9 (command codes).
ST_2017 = frozenset({"21", "22", "23", "24", "25", "26", "27", "31", "32", "33", "34", "35",
                     "36", "37", "38", "39", "41", "51", "52", "91"})
CN_2017 = frozenset({"1000", "1001", "1011", "1012", "1013", "1061", "1062", "1063", "1064",
                     "1072", "2011", "2012", "2021", "2022", "2031", "2041", "2051", "2061",
                     "2081", "3011", "3012", "3013", "3014", "3015", "3016", "3017", "3018",
                     "3019", "3020", "3021", "9011", "9012", "9013", "9014"})
# Additions of HJ 212-2025 as known from public transcriptions (docs/hj212.md, "2025").
ST_2025 = ST_2017 | {"44", "45"}
CN_2025 = CN_2017 | {"1002", "1014", "2013", "2052", "2062", "2111", "3022", "3024", "9015"}


@dataclass(frozen=True)
class Version:
    year: int
    flag_version: int           # Flag bits 7..2
    st_codes: frozenset[str]
    cn_codes: frozenset[str]
    backfill_mark: bool         # RF=1 marks a back-filled (补传) data message

    def flag(self, ack: bool, split: bool = False) -> int:
        return self.flag_version << 2 | (FLAG_SPLIT if split else 0) | (FLAG_ACK if ack else 0)


V2017 = Version(2017, 1, ST_2017, CN_2017, backfill_mark=False)
V2025 = Version(2025, 2, ST_2025, CN_2025, backfill_mark=True)
VERSIONS = {2017: V2017, 2025: V2025}
_FLAG_VERSIONS = {v.flag_version: v for v in VERSIONS.values()}


class Hj212Error(ValueError):
    """A frame or message that breaks HJ 212, or one that cannot be made; one line."""


# -- CRC -----------------------------------------------------------------------------------------

def crc16(data: bytes) -> int:
    """HJ 212 CRC (Appendix A): init 0xFFFF; per byte crc = (crc >> 8) ^ b, then 8 rounds of
    shift right, xor 0xA001 when the bit shifted out was 1. Not the Modbus CRC (that xors the
    byte into the low byte without the shift)."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


# -- messages ------------------------------------------------------------------------------------

Group = tuple[tuple[str, str], ...]  # one ";"-separated group of "key=value" items


@dataclass(frozen=True)
class Message:
    """One data segment. ``cp`` holds the groups of the data area in order."""
    qn: str
    st: str
    cn: str
    pw: str
    mn: str
    flag: int
    cp: tuple[Group, ...] = ()
    pnum: int | None = None
    pno: int | None = None
    rf: bool = False   # "RF=1": a back-filled message (HJ 212-2025 only)

    @property
    def version(self) -> Version:
        return _FLAG_VERSIONS[self.flag >> 2]

    @property
    def wants_ack(self) -> bool:
        return bool(self.flag & FLAG_ACK)

    def cp_text(self) -> str:
        return ";".join(",".join(f"{k}={v}" for k, v in group) for group in self.cp)

    def segment(self) -> str:
        head = [f"QN={self.qn}", f"ST={self.st}", f"CN={self.cn}", f"PW={self.pw}",
                f"MN={self.mn}", f"Flag={self.flag}"]
        if self.pnum is not None:
            head += [f"PNUM={self.pnum}", f"PNO={self.pno}"]
        if self.rf:
            head.append("RF=1")
        return ";".join(head) + ";CP=&&" + self.cp_text() + "&&"

    def get(self, key: str) -> str | None:
        for group in self.cp:
            for k, v in group:
                if k == key:
                    return v
        return None

    def to_json(self) -> dict:
        out: dict = {"qn": self.qn, "st": self.st, "cn": self.cn, "pw": self.pw, "mn": self.mn,
                     "flag": self.flag, "version": self.version.year, "ack": self.wants_ack}
        if self.pnum is not None:
            out.update(pnum=self.pnum, pno=self.pno)
        if self.rf:
            out["rf"] = True
        out["cp"] = [dict(group) for group in self.cp]
        return out


def frame(segment: str) -> bytes:
    """``##`` + length + segment + CRC + CRLF; the segment must be ASCII and ≤ 1024 characters."""
    if not segment.isascii():
        raise Hj212Error("data segment must be ASCII")
    if len(segment) > MAX_SEGMENT:
        raise Hj212Error(f"data segment of {len(segment)} characters exceeds {MAX_SEGMENT}")
    data = segment.encode("ascii")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


def encode(msg: Message, max_segment: int = MAX_SEGMENT) -> list[bytes]:
    """The frames of ``msg``: one, or its PNUM/PNO packets when it does not fit one segment."""
    check(msg)
    return [frame(m.segment()) for m in split(msg, max_segment)]


def split(msg: Message, max_segment: int = MAX_SEGMENT) -> list[Message]:
    """``msg`` cut into packets that each fit ``max_segment`` (HJ 212-2017 6.3.3: PNUM total,
    PNO 1…PNUM, Flag split bit set, same QN). Every packet repeats the DataTime group and carries
    whole factor groups; a group that cannot fit a packet on its own is refused."""
    if _fits(msg, max_segment):
        return [msg]
    lead = msg.cp[:1] if msg.cp and msg.cp[0][0][0] == "DataTime" else ()
    groups = msg.cp[len(lead):]
    # Size packets with the widest PNUM/PNO (4 digits) so that the final numbers always fit.
    probe = replace(msg, flag=msg.flag | FLAG_SPLIT, pnum=9999, pno=9999)
    packets: list[tuple[Group, ...]] = []
    current: list[Group] = []
    for group in groups:
        trial = replace(probe, cp=lead + tuple(current) + (group,))
        if _fits(trial, max_segment):
            current.append(group)
            continue
        if not current:
            raise Hj212Error(f"CP group {group[0][0].split('-')[0]} does not fit one packet "
                             f"of {max_segment} characters")
        packets.append(lead + tuple(current))
        current = [group]
        if not _fits(replace(probe, cp=lead + (group,)), max_segment):
            raise Hj212Error(f"CP group {group[0][0].split('-')[0]} does not fit one packet "
                             f"of {max_segment} characters")
    if current or not packets:
        packets.append(lead + tuple(current))
    return [replace(msg, flag=msg.flag | FLAG_SPLIT, pnum=len(packets), pno=i, cp=cp)
            for i, cp in enumerate(packets, 1)]


def _fits(msg: Message, max_segment: int) -> bool:
    return len(msg.segment()) <= max_segment and len(msg.cp_text()) + 7 <= MAX_CP


# -- syntax --------------------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_VALUE = re.compile(r"[\x20-\x7e]*\Z")
_MN = re.compile(r"[A-Za-z0-9_-]{1,24}\Z")
_PW = re.compile(r"[A-Za-z0-9]{1,6}\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


def check(msg: Message) -> None:
    """Hj212Error unless ``msg`` is a well-formed message of its version."""
    _qn_time(msg.qn)
    version = _FLAG_VERSIONS.get(msg.flag >> 2) if 0 <= msg.flag <= 255 else None
    if version is None:
        raise Hj212Error(f"Flag={msg.flag} names no supported version (2017: 4-7, 2025: 8-11)")
    if msg.st not in version.st_codes:
        raise Hj212Error(f"unknown ST={msg.st} for HJ 212-{version.year}")
    if msg.cn not in version.cn_codes:
        raise Hj212Error(f"unknown CN={msg.cn} for HJ 212-{version.year}")
    if not _PW.match(msg.pw):
        raise Hj212Error(f"PW={msg.pw!r} must be 1-6 letters or digits")
    if not _MN.match(msg.mn):
        raise Hj212Error(f"MN={msg.mn!r} must be 1-24 letters, digits, '-' or '_'")
    split_bit = bool(msg.flag & FLAG_SPLIT)
    if split_bit != (msg.pnum is not None) or (msg.pnum is None) != (msg.pno is None):
        raise Hj212Error(f"Flag={msg.flag} and PNUM/PNO disagree "
                         "(the split bit 2 is set exactly when PNUM and PNO are present)")
    if msg.pnum is not None and not 1 <= msg.pno <= msg.pnum <= 9999:
        raise Hj212Error(f"PNO={msg.pno} of PNUM={msg.pnum}: need 1 <= PNO <= PNUM <= 9999")
    if msg.rf and not version.backfill_mark:
        raise Hj212Error(f"RF=1 (back-fill mark) does not exist in HJ 212-{version.year}")
    keys = set()
    for group in msg.cp:
        if not group:
            raise Hj212Error("empty group in CP")
        for k, v in group:
            if not _KEY.match(k):
                raise Hj212Error(f"bad CP key {k!r}")
            if not _VALUE.match(v) or any(c in v for c in ";,&="):
                raise Hj212Error(f"bad value of CP key {k}: {v!r}")
            if k in keys:
                raise Hj212Error(f"CP key {k} appears twice")
            keys.add(k)
    if msg.cn in KIND_OF_CN:
        time = msg.get("DataTime")
        if time is None or msg.cp[0][0][0] != "DataTime":
            raise Hj212Error(f"CN={msg.cn} data message without a leading DataTime")
        data_time(time)


def _qn_time(qn: str) -> dt.datetime:
    if len(qn) != 17 or not _DIGITS.match(qn):
        raise Hj212Error(f"QN={qn!r} must be 17 digits YYYYMMDDhhmmsszzz")
    try:
        return dt.datetime.strptime(qn[:14], "%Y%m%d%H%M%S").replace(microsecond=int(qn[14:]) * 1000)
    except ValueError:
        raise Hj212Error(f"QN={qn} is not a valid time") from None


def data_time(text: str) -> dt.datetime:
    """The naive local time of a ``DataTime`` value (14 digits)."""
    if len(text) != 14 or not _DIGITS.match(text):
        raise Hj212Error(f"DataTime={text!r} must be 14 digits YYYYMMDDhhmmss")
    try:
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise Hj212Error(f"DataTime={text} is not a valid time") from None


# -- parsing -------------------------------------------------------------------------------------

_HEAD = ("QN", "ST", "CN", "PW", "MN", "Flag")


def parse(data: bytes, version: Version | None = None) -> Message:
    """The message of one whole frame (CRLF included). Checks the header, the length, the CRC,
    the line end, the field syntax and the ST/CN tables; ``version`` also requires that version.
    Raises Hj212Error with one line."""
    data = bytes(data)
    if not data.startswith(b"##"):
        raise Hj212Error("frame does not start with ##")
    digits = data[2:6]
    if len(digits) < 4 or not digits.isdigit():
        raise Hj212Error(f"length field {digits!r} is not 4 digits")
    n = int(digits)
    if n > MAX_SEGMENT:
        raise Hj212Error(f"length {n} exceeds {MAX_SEGMENT}")
    want = 6 + n + 4 + 2
    if len(data) != want:
        raise Hj212Error(f"frame of {len(data)} bytes, its length field {n} needs {want}")
    if data[-2:] != b"\r\n":
        raise Hj212Error("frame does not end with CR LF")
    segment = data[6:6 + n]
    crc_text = data[6 + n:6 + n + 4]
    if not re.fullmatch(rb"[0-9A-Fa-f]{4}", crc_text):
        raise Hj212Error(f"CRC field {crc_text!r} is not 4 hex digits")
    crc = crc16(segment)
    if int(crc_text, 16) != crc:
        raise Hj212Error(f"CRC mismatch: frame says {crc_text.decode()}, data gives {crc:04X}")
    try:
        text = segment.decode("ascii")
    except UnicodeDecodeError:
        raise Hj212Error("data segment is not ASCII") from None
    msg = parse_segment(text)
    if version is not None and msg.version is not version:
        raise Hj212Error(f"HJ 212-{msg.version.year} message (Flag={msg.flag}), "
                         f"expected HJ 212-{version.year}")
    return msg


def parse_segment(text: str) -> Message:
    """The message of one data segment (no length, CRC or line end)."""
    start = text.find("CP=&&")
    if start < 0:
        raise Hj212Error("no CP=&& in data segment")
    if not text.endswith("&&") or len(text) < start + 7:
        raise Hj212Error("CP is not closed by && at the end of the data segment")
    head_text, cp_text = text[:start], text[start + 5:-2]
    if len(cp_text) + 7 > MAX_CP:
        raise Hj212Error(f"CP of {len(cp_text) + 7} characters exceeds {MAX_CP}")
    if not head_text.endswith(";"):
        raise Hj212Error("no ; before CP")
    fields: list[tuple[str, str]] = []
    for item in head_text[:-1].split(";"):
        k, eq, v = item.partition("=")
        if not eq:
            raise Hj212Error(f"header field {item!r} has no =")
        fields.append((k, v))
    names = [k for k, _ in fields]
    want = list(_HEAD)
    if "PNUM" in names or "PNO" in names:
        want += ["PNUM", "PNO"]
    if "RF" in names:
        want.append("RF")
    if names != want:
        raise Hj212Error(f"header fields {';'.join(names)} are not {';'.join(want)}")
    f = dict(fields)
    if not _DIGITS.match(f["ST"]) or len(f["ST"]) != 2:
        raise Hj212Error(f"ST={f['ST']!r} must be 2 digits")
    if not _DIGITS.match(f["CN"]) or len(f["CN"]) != 4:
        raise Hj212Error(f"CN={f['CN']!r} must be 4 digits")
    if not _DIGITS.match(f["Flag"]) or len(f["Flag"]) > 3:
        raise Hj212Error(f"Flag={f['Flag']!r} must be a number 0-255")
    pnum = pno = None
    if "PNUM" in f:
        for k in ("PNUM", "PNO"):
            if not _DIGITS.match(f[k]) or len(f[k]) > 4:
                raise Hj212Error(f"{k}={f[k]!r} must be 1-4 digits")
        pnum, pno = int(f["PNUM"]), int(f["PNO"])
    if "RF" in f and f["RF"] != "1":
        raise Hj212Error(f"RF={f['RF']!r}: RF=1 is its only value")
    msg = Message(f["QN"], f["ST"], f["CN"], f["PW"], f["MN"], int(f["Flag"]),
                  _parse_cp(cp_text), pnum, pno, "RF" in f)
    check(msg)
    return msg


def _parse_cp(text: str) -> tuple[Group, ...]:
    if not text:
        return ()
    groups = []
    for group_text in text.split(";"):
        group = []
        for item in group_text.split(","):
            k, eq, v = item.partition("=")
            if not eq:
                raise Hj212Error(f"CP item {item!r} has no =")
            group.append((k, v))
        groups.append(tuple(group))
    return tuple(groups)


class FrameReader:
    """Cuts frames out of a byte stream (a TCP connection): ``feed`` bytes, then take
    ``frames()``. A frame holds no CR or LF before its CRLF end, so each CRLF ends one; what
    precedes it is returned whole for ``parse`` to accept or refuse."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def frames(self) -> Iterator[bytes]:
        while (i := self._buf.find(b"\r\n")) >= 0:
            out = bytes(self._buf[:i + 2])
            del self._buf[:i + 2]
            yield out

    def pending(self) -> int:
        return len(self._buf)


def split_frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, frame) of each line of a file of frames, CRLF kept; blank lines are skipped and
    a last line without its line end is yielded as it is, for ``parse`` to refuse."""
    pos = 0
    while pos < len(data):
        i = data.find(b"\n", pos)
        end = len(data) if i < 0 else i + 1
        if data[pos:end].strip():
            yield pos, data[pos:end]
        pos = end


# -- records -------------------------------------------------------------------------------------

# Concentration of CO2: 1 %vol = 44.01 / 22.414 × 10⁴ mg/m³ (≈ 19 635.05), the molar volume at
# 273.15 K and 101 325 Pa that the firmware uses for its mass (docs/edge.md). A record's co2 is in
# 0.01 %vol, so mg/m³ = co2 × 2 200 500 / 11 207; sent rounded to 0.001 mg/m³.
CO2_MG_NUM, CO2_MG_DEN = 2_200_500, 11_207

CO2 = "a05001"       # carbon dioxide: mg/m³, -Cou kg
FLOW = "a00000"      # flue gas flow (dry, standard state): m³/s, -Cou m³
VELOCITY = "a01011"  # flue gas velocity, m/s
TEMP = "a01012"      # flue gas temperature, °C
PRESSURE = "a01013"  # flue gas static pressure (gauge), kPa
MOISTURE = "a01014"  # flue gas moisture, % by volume
AMBIENT = "a01006"   # atmospheric pressure, kPa


def _div(n: int, d: int) -> int:
    """n / d rounded half away from zero (d > 0)."""
    q, r = divmod(abs(n), d)
    q += 2 * r >= d
    return q if n >= 0 else -q


def _fixed(units: int, places: int) -> str:
    """``units`` × 10^-places as exact decimal text with ``places`` decimals."""
    return f"{Decimal(units).scaleb(-places):.{places}f}"


def _scaled(record: Record, name: str, num: int, den: int, places: int) -> str:
    return _fixed(_div(record.fields[name] * num * 10**places, den), places)


def period_groups(record: Record) -> tuple[Group, ...]:
    """The factor groups of a minute, hour or day record (docs/hj212.md, "Factors")."""
    f = record.fields
    flag = FLAGS[f["flag"]]
    full = record.kind != MINUTE
    co2 = lambda name: _scaled(record, name, CO2_MG_NUM, CO2_MG_DEN, 3)  # noqa: E731
    flow = lambda name: _scaled(record, name, 1, 3600, 4)  # noqa: E731
    groups: list[Group] = []
    groups.append(((f"{CO2}-Avg", co2("co2")), (f"{CO2}-Min", co2("co2_min")),
                   (f"{CO2}-Max", co2("co2_max")), (f"{CO2}-Cou", _fixed(f["mass"], 2)),
                   (f"{CO2}-Flag", flag)))
    g = [(f"{FLOW}-Avg", flow("qsn"))]
    if full:
        g += [(f"{FLOW}-Min", flow("qsn_min")), (f"{FLOW}-Max", flow("qsn_max"))]
    groups.append((*g, (f"{FLOW}-Cou", _fixed(flow_volume_milli(record), 3)),
                   (f"{FLOW}-Flag", flag)))
    for code, name, places in ((VELOCITY, "vel", 2), (TEMP, "temp", 1)):
        g = [(f"{code}-Avg", _fixed(f[name], places))]
        if full:
            g += [(f"{code}-Min", _fixed(f[name + "_min"], places)),
                  (f"{code}-Max", _fixed(f[name + "_max"], places))]
        groups.append((*g, (f"{code}-Flag", flag)))
    groups.append(((f"{PRESSURE}-Avg", _fixed(f["ps"], 3)), (f"{PRESSURE}-Flag", flag)))
    if full:
        groups.append(((f"{MOISTURE}-Avg", _fixed(f["xsw"], 2)), (f"{MOISTURE}-Flag", flag)))
        groups.append(((f"{AMBIENT}-Avg", _fixed(f["pa"], 3)), (f"{AMBIENT}-Flag", flag)))
    return tuple(groups)


def flow_volume_milli(record: Record) -> int:
    """Dry standard gas volume of the period in 0.001 m³: the mean flow over the period's valid
    time (minute: 60 s × nv/n; hour: nv minutes; day: nv hours)."""
    f = record.fields
    qsn, n, nv = f["qsn"], f["n"], f["nv"]
    if record.kind == MINUTE:
        return _div(qsn * nv * 1000, 60 * n) if n else 0
    if record.kind == HOUR:
        return _div(qsn * nv * 1000, 60)
    return qsn * nv * 1000


def local_time(t: int, utc_offset_h: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t, hours=utc_offset_h)).strftime(
        "%Y%m%d%H%M%S")


def record_message(record: Record, mn: str, qn: str, version: Version = V2017,
                   pw: str = DEFAULT_PW, ack: bool = True, backfill: bool = False,
                   utc_offset_h: int = DEFAULT_UTC_OFFSET_H) -> Message:
    """The data message (CN 2051/2061/2031, ST 31) of a minute, hour or day record. ``backfill``
    marks it RF=1 where the version has that mark (2025); 2017 has none and sends it as is."""
    cn = CN_OF_KIND.get(record.kind)
    if cn is None:
        raise Hj212Error(f"a {record.kind_name} record has no HJ 212 data message")
    cp = ((("DataTime", local_time(record.t, utc_offset_h)),),) + period_groups(record)
    msg = Message(qn, ST_AIR_SOURCE, cn, pw, mn, version.flag(ack), cp,
                  rf=backfill and version.backfill_mark)
    check(msg)
    return msg


def period_values(msg: Message, utc_offset_h: int = DEFAULT_UTC_OFFSET_H) -> dict[str, int]:
    """Read a data message back into record units (the inverse of ``record_message`` for every
    value it carries exactly): t, flag, co2…, vel…, temp…, ps, pa, xsw, qsn…, mass."""
    kind = KIND_OF_CN.get(msg.cn)
    if kind is None:
        raise Hj212Error(f"CN={msg.cn} is not a minute, hour or day data message")
    local = data_time(msg.get("DataTime") or "")
    out: dict[str, int] = {"kind": kind, "t": int((local - dt.datetime(1970, 1, 1)).total_seconds())
                           - utc_offset_h * 3600}

    def number(key: str, places: int) -> int:
        text = msg.get(key)
        if text is None:
            raise Hj212Error(f"data message without {key}")
        try:
            d = Decimal(text)
        except ArithmeticError:
            raise Hj212Error(f"{key}={text!r} is not a number") from None
        if not d.is_finite() or d != round(d, places):
            raise Hj212Error(f"{key}={text!r} has more than {places} decimals")
        return int(d.scaleb(places))

    flag = msg.get(f"{CO2}-Flag")
    if flag is None or len(flag) != 1 or flag not in FLAGS:
        raise Hj212Error(f"{CO2}-Flag={flag!r} is not one of {FLAGS}")
    out["flag"] = FLAGS.index(flag)
    suffixes = (("", "Avg"), ("_min", "Min"), ("_max", "Max"))
    for name, sfx in suffixes:
        out["co2" + name] = _div(number(f"{CO2}-{sfx}", 3) * CO2_MG_DEN, CO2_MG_NUM * 1000)
    out["mass"] = number(f"{CO2}-Cou", 2)
    full = kind != MINUTE
    for name, sfx in suffixes if full else suffixes[:1]:
        out["qsn" + name] = _div(number(f"{FLOW}-{sfx}", 4) * 3600, 10**4)
        out["vel" + name] = number(f"{VELOCITY}-{sfx}", 2)
        out["temp" + name] = number(f"{TEMP}-{sfx}", 1)
    out["ps"] = number(f"{PRESSURE}-Avg", 3)
    if full:
        out["xsw"] = number(f"{MOISTURE}-Avg", 2)
        out["pa"] = number(f"{AMBIENT}-Avg", 3)
    return out


class QnClock:
    """QN values: the local send time in milliseconds, strictly increasing so that no two
    messages of one sender share a QN (a QN names one exchange)."""

    def __init__(self, utc_offset_h: int = DEFAULT_UTC_OFFSET_H, now=None) -> None:
        import time
        self._now = now or time.time
        self._offset_ms = utc_offset_h * 3_600_000
        self._last = 0

    def next(self) -> str:
        ms = max(int(self._now() * 1000), self._last + 1)
        self._last = ms
        t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms + self._offset_ms)
        return t.strftime("%Y%m%d%H%M%S") + f"{ms % 1000:03d}"


def data_ack(msg: Message, version: Version | None = None) -> Message:
    """The platform's data ack (CN 9014) of ``msg``: same QN, PW and MN, ST 91, no ack asked."""
    version = version or msg.version
    return Message(msg.qn, ST_SYSTEM, CN_DATA_ACK, msg.pw, msg.mn, version.flag(False))


def is_ack_of(ack: Message, msg: Message) -> bool:
    """``ack`` is a positive data ack (9014, same QN) of ``msg``. A QnRtn or ExeRtn other than 1
    in its CP is a refusal."""
    if ack.cn != CN_DATA_ACK or ack.qn != msg.qn:
        return False
    return all(ack.get(k) in (None, "1") for k in ("QnRtn", "ExeRtn"))
