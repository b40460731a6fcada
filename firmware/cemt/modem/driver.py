"""The modem driver: bring-up and registration, signal, network time, one TCP socket, the ladder.

One task (the uplink) drives it; others read ``summary()``, which only returns cached state.
Nothing raises: methods return False / -1 and leave ``last_error`` = stage * 16 + result
(stages below, results in ``cemt.modem.at``). A failure of the modem itself (no answer,
garbled replies, SIM, registration, data network) climbs the escalation ladder; a refused or
closed connection on a healthy modem does not.
"""
import time

from micropython import const

from cemt.board.clock import TQ_NETWORK
from cemt.modem.at import AT, CLOSED, FAILED, OK, TIMEOUT
from cemt.modem.ladder import Ladder, act
from cemt.modem.parse import cclk_utc, csq_dbm, reg_stat, registered

# Stages: the high nibble of ``last_error``.
PROBE = const(1)
SIM = const(2)
REG = const(3)
NET = const(4)
OPEN = const(5)
SEND = const(6)
RECV = const(7)


class Modem:
    # Timeouts in real milliseconds (per instance: the tests and the simulator shorten them).
    t_cmd = 1000
    t_probe = 500
    probes = 3
    t_boot = 30000
    t_sim = 5000
    t_reg = 90000
    t_reg_poll = 2000
    t_net = 120000
    t_open = 60000
    t_send = 10000
    t_recv = 5000
    t_close = 10000
    t_power_gap = 3000

    def __init__(self, uart, family="simcom", apn=b"", pwrkey=None, pwrkey_active=1, power=None,
                 store=None, board_reset=None, clock=None, retries=3, board_holdoff_ms=3600000):
        if family == "simcom":
            from cemt.modem import simcom as fam
        elif family == "quectel":
            from cemt.modem import quectel as fam
        else:
            raise ValueError("unknown modem family")
        self.at = AT(uart)
        self.fam = fam
        self.link = fam.Adapter(self.at)
        self.apn = apn if isinstance(apn, bytes) else apn.encode()
        self.pwrkey = pwrkey
        self.key_on = pwrkey_active
        self.power = power
        self.board_reset = board_reset
        self.clock = clock
        self.ladder = Ladder(store, retries, board_holdoff_ms, board_reset is not None)
        self.t_key_on = fam.PWRKEY_ON_MS
        self.t_key_off = fam.PWRKEY_OFF_MS
        self.ready = False  # registered, data network open
        self.stat = -1      # last +CEREG/+CREG <stat>; -1 before the first answer
        self.rssi = 0       # dBm; 0 when unknown
        self.last_error = 0
        self.at.urc(b"+CEREG:", self._urc)
        self.at.urc(b"RDY", self._urc)
        if pwrkey is not None:
            pwrkey.value(0 if pwrkey_active else 1)

    def _urc(self, line):
        if line == b"RDY":  # the modem (re)booted: nothing of the old session survives
            self.ready = False
            self.link.reset()
            self.link.dirty = False
            return
        stat = reg_stat(line)
        if stat is not None:
            self.stat = stat
            if not registered(stat):
                self.ready = False

    def _rx_or_gone(self):
        return self.link.rx_ready or not self.link.connected

    # -- failures and the ladder

    async def _bad(self, stage, res):
        self.last_error = stage * 16 + res
        if res == CLOSED or (stage == OPEN and res == FAILED):
            self.link.connected = False
            return False
        self.ready = False
        self.link.reset()
        await act(self, self.ladder.failure())
        return False

    async def probe(self):
        """True once the modem answers ``AT`` (``probes`` tries)."""
        for _ in range(self.probes):
            if await self.at.cmd(b"AT", self.t_probe) == OK:
                return True
        return False

    async def _register(self):
        at = self.at
        t0 = time.ticks_ms()
        while True:
            r = await at.cmd(b"AT+CEREG?", self.t_cmd, expect=b"+CEREG:")
            if r == TIMEOUT:
                return r
            if r == OK:
                self._urc(at.info[-1])
            if not registered(self.stat):  # 2G/3G fallback
                r = await at.cmd(b"AT+CREG?", self.t_cmd, expect=b"+CREG:")
                if r == OK and registered(reg_stat(at.info[-1])):
                    self.stat = reg_stat(at.info[-1])
            if registered(self.stat):
                return OK
            if time.ticks_diff(time.ticks_ms(), t0) >= self.t_reg:
                return FAILED
            await at.wait(self.t_reg_poll, want=b"+CEREG:")  # the change URC ends the pause

    # -- the API

    async def up(self):
        """Registered with the data network open (True), after setting the clock from the network."""
        if self.ready and self.link.net:
            return True
        at = self.at
        if not await self.probe():
            return await self._bad(PROBE, TIMEOUT)
        for c in (b"ATE0", b"AT+CMEE=1", b"AT+CEREG=1", b"AT+CTZU=1"):
            await at.cmd(c, self.t_cmd)  # best effort: echo and verbose codes are parsed anyway
        r = await at.cmd(b"AT+CPIN?", self.t_sim, expect=b"+CPIN:")
        if r or at.info[0] != b"+CPIN: READY":
            return await self._bad(SIM, r or FAILED)
        r = await self._register()
        if r:
            return await self._bad(REG, r)
        await self.network_time()
        r = await self.link.net_open(self.apn, self.t_net)
        if r:
            return await self._bad(NET, r)
        self.ready = True
        return True

    async def signal(self):
        """RSSI in dBm (-113..-51), or None when unknown; also kept in ``rssi`` (0 = unknown)."""
        r = await self.at.cmd(b"AT+CSQ", self.t_cmd, expect=b"+CSQ:")
        dbm = csq_dbm(self.at.info[0]) if r == OK else None
        self.rssi = dbm or 0
        return dbm

    async def network_time(self):
        """UTC seconds from the network clock (also set on ``clock`` with quality 2), or None."""
        r = await self.at.cmd(b"AT+CCLK?", self.t_cmd, expect=b"+CCLK:")
        t = cclk_utc(self.at.info[0]) if r == OK else None
        if t is not None and self.clock is not None:
            self.clock.set(t, TQ_NETWORK)
        return t

    @property
    def connected(self):
        return self.link.connected

    async def connect(self, host, port):
        """Open the TCP socket to ``host`` (bytes or str: IP or name) and ``port``."""
        if isinstance(host, str):
            host = host.encode()
        if not await self.up():
            return False
        await self.signal()
        if self.link.connected or self.link.dirty:
            await self.link.close(self.t_close)  # after a failure the modem may still hold it
        r = await self.link.open(host, port, self.t_open)
        if r:
            return await self._bad(OPEN, r)
        self.ladder.success()
        return True

    async def send(self, data):
        """Send all of ``data`` (any bytes; split into the family's largest block)."""
        self.at.pump()  # a close notice may be waiting
        if not self.link.connected:
            self.last_error = SEND * 16 + CLOSED
            return False
        mv = memoryview(data)
        i = 0
        while i < len(mv):
            k = min(len(mv) - i, self.fam.SEND_MAX)
            r = await self.link.send(mv[i:i + k], self.t_send)
            if r:
                return await self._bad(SEND, r)
            i += k
        return True

    async def recv(self, buf, timeout=0):
        """Bytes received into ``buf``: n > 0; 0 if none came within ``timeout`` ms; -1 if closed."""
        link = self.link
        self.at.pump()
        if not link.rx_ready:
            if not link.connected:
                return -1
            await self.at.wait(timeout, self._rx_or_gone)
            if not link.rx_ready and (not link.connected or timeout == 0):
                return 0 if link.connected else -1
            # Timed out: read anyway, in case the data notice was lost to line noise.
        n = await link.recv(buf, min(len(buf), self.fam.RECV_MAX), self.t_recv)
        if n < 0:
            await self._bad(RECV, -n if link.connected else CLOSED)
            return -1
        return n

    async def close(self):
        """Close the socket (the data network stays open for the next session)."""
        if self.link.connected:
            await self.link.close(self.t_close)
        self.link.connected = False

    def poll(self):
        """Handle URCs that arrived while nothing was asked (registration changes, data notices)."""
        self.at.pump()

    def summary(self):
        """Integers for health records: see docs/modem.md."""
        c = self.ladder.counts
        return {"ready": int(self.ready), "reg": self.stat, "rssi": self.rssi,
                "err": self.last_error, "fails": c[0], "resets": c[1], "power": c[2], "board": c[3]}
