"""Quectel EC200 / EG25 family: PDP context 1 and one TCP socket (connectID 0), buffer access mode.

Sends are length-prefixed (``AT+QISEND=0,<n>``, ``>``, n bytes, ``SEND OK``): any byte value
passes. Incoming bytes stay in the modem, announced once by ``+QIURC: "recv",0``;
``AT+QIRD=0,<n>`` returns them as a length-prefixed block until it says 0.
"""
from micropython import const

from cemt.modem.at import ERROR, FAILED, OK
from cemt.modem.parse import fields, num

RESET = b"AT+CFUN=1,1"
PWRKEY_ON_MS = const(500)   # PWRKEY low >= 500 ms powers on
PWRKEY_OFF_MS = const(650)  # PWRKEY low >= 650 ms powers off
SEND_MAX = const(1460)
RECV_MAX = const(1500)


class Adapter:
    def __init__(self, at):
        self.at = at
        self.connected = False
        self.rx_ready = False
        self.dirty = False  # socket 0 may be open in the modem (opened, not closed since boot)
        self.net = False    # PDP context 1 is active
        self._want = 0
        at.urc(b"+QIURC:", self._urc)

    def _urc(self, line):
        if line.startswith(b'+QIURC: "recv"'):
            self.rx_ready = True
        else:  # "closed",<id> / "pdpdeact",<ctx>
            self.connected = False
            if line.startswith(b'+QIURC: "pdp'):
                self.net = False

    def reset(self):
        """Forget the socket (the modem failed or rebooted); ``dirty`` says it may still be open."""
        self.net = False
        self.connected = False
        self.rx_ready = False

    async def net_open(self, apn, timeout):
        at = self.at
        r = await at.cmd(b'AT+QICSGP=1,1,"%s","","",1' % apn) or await at.cmd(b"AT+QIACT?")
        if r:
            return r
        for line in at.info:
            if line.startswith(b"+QIACT: 1,1"):
                self.net = True
                return OK
        r = await at.cmd(b"AT+QIACT=1", timeout)
        self.net = not r
        return r

    async def open(self, host, port, timeout):
        at = self.at
        self.rx_ready = False
        self.dirty = True
        r = (await at.cmd(b'AT+QIOPEN=1,0,"TCP","%s",%d,0,0' % (host, port), timeout)
             or await at.wait(timeout, want=b"+QIOPEN:"))
        if r:
            return r
        if num(fields(at.info[0])[-1]) != 0:
            return FAILED
        self.connected = True
        return OK

    async def send(self, data, timeout):
        r = await self.at.cmd(b"AT+QISEND=0,%d" % len(data), timeout, data=data, ok=b"SEND OK")
        return FAILED if r == ERROR else r  # ERROR / SEND FAIL: the socket refused the bytes

    def _rx_len(self, line):
        n = num(fields(line)[0])
        if n is not None:
            self.rx_ready = n == self._want  # a full block: more may wait
        return n

    async def recv(self, buf, n, timeout):
        """Bytes read into ``buf`` (>= 0), or minus the result when the read failed."""
        at = self.at
        self._want = n
        r = await at.cmd(b"AT+QIRD=0,%d" % n, timeout, expect=b"+QIRD:", raw=self._rx_len,
                         into=buf)
        return -r if r else at.raw_len

    async def close(self, timeout):
        self.connected = self.rx_ready = self.dirty = False
        return await self.at.cmd(b"AT+QICLOSE=0", timeout)
