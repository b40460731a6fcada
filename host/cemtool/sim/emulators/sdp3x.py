"""Sensirion SDP3x / SDP8xx differential pressure sensor, as an I2C register-level model.

Commands (16-bit, MSB first): 0x3615 / 0x3608 / 0x361E / 0x3603 start continuous measurement,
0x3FF9 stops it, 0x367C then 0xE102 prepares the product identifier (product number and serial
number, 6 words). A read returns up to 9 bytes — Δp ticks, temperature ticks (×200 °C) and the
scale factor (ticks per Pa) — or the 18 identifier bytes, every 16-bit word followed by its CRC-8
(poly 0x31, init 0xFF). While measuring, only the stop command is acknowledged; reading before
a measurement was started (or an identifier prepared) is NAKed, as on the real part.
"""
from __future__ import annotations

from ..simbus import Nak, World, answer_or_absent

START_CMDS = {0x3615, 0x3608, 0x361E, 0x3603}
STOP = 0x3FF9
ID1, ID2 = 0x367C, 0xE102
# Product numbers (revision byte 0x01): SDP3x at 0x21-0x23, SDP8xx-500Pa at 0x25/0x26.
PRODUCTS = {0x21: 0x03010101, 0x22: 0x03010101, 0x23: 0x03010101, 0x25: 0x03020101, 0x26: 0x03020101}


def _crc_table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        out.append(c)
    return out


_T8 = _crc_table()


def crc8(word: bytes) -> int:
    """Sensirion CRC-8 (check: b"\\xbe\\xef" → 0x92)."""
    c = 0xFF
    for b in word:
        c = _T8[c ^ b]
    return c


def words(*values: int) -> bytes:
    """16-bit words, each followed by its CRC-8."""
    out = bytearray()
    for v in values:
        w = (v & 0xFFFF).to_bytes(2, "big")
        out += w + bytes((crc8(w),))
    return bytes(out)


class SDP3x:
    def __init__(self, world: World, cfg: dict | None = None, device: str = "dp",
                 scale: int = 60, temp_c: float = 25.0, serial: int = 0x0000_0001_5EA5_1DE0):
        cfg = cfg or {}
        self.world = world
        self.device = device
        self.addr = cfg.get("addr", 0x25)
        self.product = PRODUCTS.get(self.addr, 0x03020101)
        if "product" in cfg:
            self.product = cfg["product"] << 8 | 0x01
        self.scale = scale
        self.temp_c = temp_c
        self.serial = serial
        self.power_cycle()

    def power_cycle(self) -> None:
        self.measuring = False
        self._pending: bytes | None = None
        self._id1 = False

    def write(self, data: bytes) -> None:
        answer_or_absent(self.world, self.device)
        if not data:
            return  # an address probe
        if len(data) != 2:
            raise Nak
        cmd = data[0] << 8 | data[1]
        if self.measuring:
            if cmd != STOP:
                raise Nak
            self.measuring = False
            return
        if cmd == STOP:
            return
        if cmd in START_CMDS:
            self.measuring = True
            self._pending = None
        elif cmd == ID1:
            self._id1 = True
            return
        elif cmd == ID2 and self._id1:
            s = self.serial
            self._pending = words(self.product >> 16, self.product, s >> 48, s >> 32, s >> 16, s)
        else:
            raise Nak
        self._id1 = False

    def measurement(self) -> bytes:
        dp, mode = self.world.measure(self.device)
        ticks = max(-32768, min(32767, round(dp * self.scale)))
        if mode == "overrange":
            ticks = 32767 if dp >= 0 else -32768
        out = words(ticks, round(self.temp_c * 200), self.scale)
        if mode == "garble":
            out = bytes((out[0] ^ 0x04,)) + out[1:]   # a flipped bit: the word's CRC no longer fits
        return out

    def read(self, n: int) -> bytes:
        answer_or_absent(self.world, self.device)
        if self._pending is not None:
            return self._pending[:n].ljust(n, b"\xff")
        if not self.measuring:
            raise Nak
        return self.measurement()[:n].ljust(n, b"\xff")
