"""SIMCom SIM7600 / A7670 family: data network and one TCP socket (link 0).

``AT+NETOPEN`` opens the data network, ``AT+CIPOPEN`` the socket. Sends are length-prefixed
(``AT+CIPSEND=0,<n>``, ``>`` prompt, exactly n bytes), so any byte value passes. Receiving uses
manual mode (``AT+CIPRXGET=1``): the modem keeps incoming bytes and says ``+CIPRXGET: 1,0``;
``AT+CIPRXGET=2,0,<n>`` then returns a length-prefixed block. Nothing arrives unasked, so the
AT stream stays line-structured and received data lands only in the caller's buffer.
"""
from micropython import const

from cemt.modem.at import CLOSED, FAILED, OK
from cemt.modem.parse import fields, num

RESET = b"AT+CRESET"
PWRKEY_ON_MS = const(500)    # PWRKEY low >= 500 ms powers on
PWRKEY_OFF_MS = const(2500)  # PWRKEY low >= 2.5 s powers off
SEND_MAX = const(1500)
RECV_MAX = const(1500)


class Adapter:
    def __init__(self, at):
        self.at = at
        self.connected = False
        self.rx_ready = False
        self._net = None
        self._open = None
        self._sent = None
        self._closed = None
        at.urc(b"+NETOPEN:", self._on_net)
        at.urc(b"+CIPOPEN:", self._on_open)
        at.urc(b"+CIPSEND:", self._on_sent)
        at.urc(b"+CIPRXGET: 1", self._on_rx)
        at.urc(b"+CIPCLOSE:", self._on_close)
        at.urc(b"+IPCLOSE:", self._on_lost)
        at.urc(b"+CIPEVENT:", self._on_lost)  # NETWORK CLOSED UNEXPECTEDLY

    def _on_net(self, line):
        self._net = num(fields(line)[0])

    def _on_open(self, line):
        self._open = num(fields(line)[-1])

    def _on_sent(self, line):
        self._sent = num(fields(line)[-1])

    def _on_rx(self, line):
        self.rx_ready = True

    def _on_close(self, line):
        self._closed = True
        self.connected = False

    def _on_lost(self, line):
        self.connected = False

    def reset(self):
        """Forget link state (the modem rebooted or was reset)."""
        self.connected = False
        self.rx_ready = False

    async def net_open(self, apn, timeout):
        at = self.at
        r = await at.cmd(b'AT+CGDCONT=1,"IP","%s"' % apn)
        if r:
            return r
        r = await at.cmd(b"AT+NETOPEN?", expect=b"+NETOPEN:")
        if r:
            return r
        if num(fields(at.info[0])[0]) == 1:
            return OK
        r = await at.cmd(b"AT+CIPRXGET=1")
        if r:
            return r
        self._net = None
        r = await at.cmd(b"AT+NETOPEN", timeout)
        if r:
            return r
        r = await at.wait(self._net_done, timeout)
        return r or (OK if self._net == 0 else FAILED)

    def _net_done(self):
        return self._net is not None

    async def open(self, host, port, timeout):
        at = self.at
        self.rx_ready = False
        self._open = None
        r = await at.cmd(b'AT+CIPOPEN=0,"TCP","%s",%d' % (host, port), timeout)
        if r:
            return r
        r = await at.wait(self._open_done, timeout)
        if r:
            return r
        if self._open != 0:
            return FAILED
        self.connected = True
        return OK

    def _open_done(self):
        return self._open is not None

    async def send(self, data, timeout):
        at = self.at
        self._sent = None
        r = await at.cmd(b"AT+CIPSEND=0,%d" % len(data), timeout, data=data)
        if r:
            return r
        r = await at.wait(self._sent_done, timeout)
        if r:
            return r
        if self._sent == len(data):
            return OK
        return CLOSED if self._sent is not None and self._sent < 0 else FAILED

    def _sent_done(self):
        return self._sent is not None or not self.connected

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
        at = self.at
        self._closed = None
        r = await at.cmd(b"AT+CIPCLOSE=0", timeout)
        self.connected = False
        self.rx_ready = False
        if r:
            return r
        return await at.wait(self._close_done, timeout)

    def _close_done(self):
        return self._closed is not None
