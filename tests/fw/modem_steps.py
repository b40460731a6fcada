"""Driver-level helpers for the modem tests: fast timeouts, common bring-up steps, pins, a store."""
import time

from modem_models import ok


class RecPin:
    """A pin that records (level, ms since creation) for each change."""

    def __init__(self, value=0):
        self._v = value
        self._t0 = time.ticks_ms()
        self.log = []

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        self.log.append((self._v, time.ticks_diff(time.ticks_ms(), self._t0)))


class DictStore:
    def __init__(self, d=None):
        self.d = {} if d is None else d
        self.writes = 0

    def get(self, key, default=None):
        return self.d.get(key, default)

    def set(self, key, value):
        self.d[key] = value
        self.writes += 1


class KeyPin(RecPin):
    """A PWRKEY whose ``presses``-th release makes the modem on ``uart`` boot (sends RDY)."""

    def __init__(self, uart, presses=2):
        super().__init__(0)
        self.uart = uart
        self.presses = presses

    def value(self, v=None):
        if v is None or (1 if v else 0) == self._v:
            return super().value(v)
        super().value(v)
        if not v and sum(1 for lv, _ in self.log if lv) == self.presses:
            self.uart.feed(b"\r\nRDY\r\n")


def fast(modem):
    """Shrink the driver's timeouts so the scripted tests take milliseconds."""
    modem.at.poll_ms = 1
    modem.t_cmd = modem.t_sim = modem.t_open = modem.t_send = modem.t_recv = 100
    modem.t_close = modem.t_net = 100
    modem.t_probe = 20
    modem.probes = 1
    modem.t_boot = 30
    modem.t_reg = 200
    modem.t_reg_poll = 20
    modem.t_power_gap = 10
    modem.t_key_on = 5
    modem.t_key_off = 10
    return modem


def bring_up(reg=b"+CEREG: 0,1"):
    """Probe, settings, SIM and registration steps common to both families."""
    return [
        ok(b"AT"),
        (b"ATE0\r", b"ATE0\r\r\nOK\r\n"),  # the modem still echoes this one
        ok(b"AT+CMEE=1"),
        ok(b"AT+CEREG=1"),
        ok(b"AT+CTZU=1"),
        ok(b"AT+CPIN?", b"+CPIN: READY"),
        ok(b"AT+CEREG?", reg),
    ]


CCLK = ok(b"AT+CCLK?", b'+CCLK: "24/03/15,13:45:10+32"')
CCLK_UTC = 1710481510



HOST = b"198.51.100.7"
SIMCOM_NET = [
    ok(b'AT+CGDCONT=1,"IP","cmnet"'),
    ok(b"AT+NETOPEN?", b"+NETOPEN: 0"),
    ok(b"AT+CIPRXGET=1"),
    (b"AT+NETOPEN\r", [b"\r\nOK\r\n", 20, b"\r\n+NETOPEN: 0\r\n"]),
]
SIMCOM_OPEN = (b'AT+CIPOPEN=0,"TCP","198.51.100.7",5000\r',
               [b"\r\nOK\r\n", 20, b"\r\n+CIPOPEN: 0,0\r\n"])


def simcom_connected(extra):
    """Steps from power-on to an open SIMCom socket, then ``extra``."""
    return bring_up() + [CCLK] + SIMCOM_NET + [ok(b"AT+CSQ", b"+CSQ: 20,99"), SIMCOM_OPEN] + extra


def modem(script, family="simcom", **kw):
    from cemt.modem.driver import Modem
    from modem_models import ScriptUART
    u = ScriptUART(script)
    return u, fast(Modem(u, family, apn="cmnet", **kw))
