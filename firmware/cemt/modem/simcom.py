"""SIMCom SIM7600 / A7670 family: data network and one TCP socket (link 0).

Sends are length-prefixed (``AT+CIPSEND=0,<n>``, ``>``, n bytes): any byte value passes.
Receiving is manual (``AT+CIPRXGET=1``): the modem keeps incoming bytes and says
``+CIPRXGET: 1,0``; ``AT+CIPRXGET=2,0,<n>`` returns them as a length-prefixed block.
"""
from micropython import const

from cemt.modem.at import CLOSED, FAILED, OK
from cemt.modem.parse import fields, num

RESET = b"AT+CRESET"
PWRKEY_ON_MS = const(500)    # PWRKEY low >= 500 ms powers on
PWRKEY_OFF_MS = const(2500)  # PWRKEY low >= 2.5 s powers off
SEND_MAX = const(1500)
RECV_MAX = const(1500)


def _last(at):
    return num(fields(at.info[0])[-1])


class Adapter:
    def __init__(self, at):
        self.at = at
        self.connected = False
        self.rx_ready = False
        self.dirty = False  # socket 0 may be open in the modem (opened, not closed since boot)
        self.net = False    # the data network is open
        for p in (b"+CIPRXGET: 1", b"+IPCLOSE:", b"+CIPEVENT:"):
            at.urc(p, self._urc)

    def _urc(self, line):
        if line.startswith(b"+CIPRX"):  # +CIPRXGET: 1,<link>: data waiting
            self.rx_ready = True
        else:  # +IPCLOSE: <link>,<reason> / +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY
            self.connected = False
            if line.startswith(b"+CIPEV"):
                self.net = False

    def _gone(self):
        return not self.connected

    def reset(self):
        """Forget the socket (the modem failed or rebooted); ``dirty`` says it may still be open."""
        self.net = False
        self.connected = False
        self.rx_ready = False

    async def net_open(self, apn, timeout):
        at = self.at
        r = (await at.cmd(b'AT+CGDCONT=1,"IP","%s"' % apn)
             or await at.cmd(b"AT+NETOPEN?", expect=b"+NETOPEN:"))
        if r or _last(at) == 1:
            self.net = not r
            return r
        r = (await at.cmd(b"AT+CIPRXGET=1") or await at.cmd(b"AT+NETOPEN", timeout)
             or await at.wait(timeout, want=b"+NETOPEN:"))
        self.net = not r and _last(at) == 0
        return r or (OK if self.net else FAILED)

    async def open(self, host, port, timeout):
        at = self.at
        self.rx_ready = False
        self.dirty = True
        r = (await at.cmd(b'AT+CIPOPEN=0,"TCP","%s",%d' % (host, port), timeout)
             or await at.wait(timeout, want=b"+CIPOPEN:"))
        if r:
            return r
        if _last(at) != 0:
            return FAILED
        self.connected = True
        return OK

    async def send(self, data, timeout):
        at = self.at
        r = (await at.cmd(b"AT+CIPSEND=0,%d" % len(data), timeout, data=data)
             or await at.wait(timeout, self._gone, b"+CIPSEND:"))
        if r:
            return r
        if not self.connected:
            return CLOSED
        sent = _last(at)  # +CIPSEND: 0,<asked>,<sent>; -1: the link is gone
        if sent is None or sent < 0:
            return CLOSED
        return OK if sent == len(data) else FAILED

    def _rx_len(self, line):
        f = fields(line)  # 2,<link>,<read_len>,<rest_len>
        if len(f) < 4:
            return None
        self.rx_ready = num(f[3]) != 0
        return num(f[2])

    async def recv(self, buf, n, timeout):
        """Bytes read into ``buf`` (>= 0), or minus the result when the read failed."""
        at = self.at
        r = await at.cmd(b"AT+CIPRXGET=2,0,%d" % n, timeout, expect=b"+CIPRXGET: 2",
                         raw=self._rx_len, into=buf)
        return -r if r else at.raw_len

    async def close(self, timeout):
        self.connected = self.rx_ready = self.dirty = False
        at = self.at
        return await at.cmd(b"AT+CIPCLOSE=0", timeout) or await at.wait(timeout, want=b"+CIPCLOSE:")
