"""A 4G modem emulator on a pseudo-terminal: the AT subset cemt.modem uses, for both families.

The device opens the pty's slave as its modem UART; the emulator owns the master. It answers as
a SIMCom SIM7600/A7670 (``family="simcom"``) or a Quectel EC200/EG25 (``family="quectel"``),
registers after ``reg_delay`` seconds of ``timer()`` (real monotonic time by default; pass the
simulator's clock to count simulated time), reports signal and the network clock (``clock()``
gives UTC seconds; the modem answers local time in zone ``tz_q`` quarter hours), and bridges its
one TCP socket to a real TCP server: ``AT+CIPOPEN``/``AT+QIOPEN`` connect to the address asked
(or to ``redirect``), bytes sent with ``CIPSEND``/``QISEND`` go to the socket, bytes from the
socket wait in the modem behind a ``+CIPRXGET: 1,0`` / ``+QIURC: "recv",0`` notice.

Faults: ``outage(True/False)`` (registration lost, data network and socket closed, sends fail),
``hang(until="power"|"reset")`` (stops answering until a power-cycle, or also a reset command),
``garble(n)`` (the next n reply lines carry line noise). ``pwrkey(pressed)`` and
``power(on)`` are the modem's PWRKEY input and supply switch.

Run it from a thread: ``emu.start()`` ... ``emu.stop()``; or drive it yourself by calling
``emu.step(timeout)`` from any loop (it waits at most ``timeout`` seconds for the pty or the
socket). Every public method is safe to call from another thread.
"""
from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from cemtool.sim.pty import Pty

FAMILIES = ("simcom", "quectel")
BOOT_URCS = {
    "simcom": (b"RDY", b"+CPIN: READY", b"SMS DONE", b"PB DONE"),
    "quectel": (b"RDY", b"+CFUN: 1", b"+CPIN: READY", b"+QUSIM: 1", b"+QIND: SMS DONE"),
}
RESET_CMD = {"simcom": b"AT+CRESET", "quectel": b"AT+CFUN=1,1"}
UNSYNCED_CCLK = b'+CCLK: "80/01/06,00:00:00+00"'


class ModemEmulator:
    def __init__(self, family: str = "simcom", *, pty: Pty | None = None,
                 clock: Callable[[], float] = time.time, timer: Callable[[], float] = time.monotonic,
                 reg_delay: float = 2.0, boot_delay: float = 0.3, rssi: int = 20, tz_q: int = 32,
                 roaming: bool = False, redirect: tuple[str, int] | None = None,
                 pwrkey_on_s: float = 0.5, pwrkey_off_s: float = 2.5, powered: bool = True):
        if family not in FAMILIES:
            raise ValueError(f"unknown modem family {family!r} (expected one of {FAMILIES})")
        self.family = family
        self.pty = pty or Pty()
        self.clock = clock
        self.timer = timer
        self.reg_delay = reg_delay
        self.boot_delay = boot_delay
        self.rssi = rssi
        self.tz_q = tz_q
        self.roaming = roaming
        self.redirect = redirect
        self.pwrkey_on_s = pwrkey_on_s
        self.pwrkey_off_s = pwrkey_off_s
        self.log: list[bytes] = []          # every command line received, for tests and traces
        self.counts = {"resets": 0, "power_ons": 0, "sent": 0, "received": 0}
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._sock: socket.socket | None = None
        self._on = False
        self._hung: str | None = None
        self._garble = 0
        self._outage = False
        self._key_down: float | None = None
        self._reboot()
        self._boot_at: float | None = None
        if powered:
            self._power_on()

    @property
    def path(self) -> str:
        """The pty slave the device opens."""
        return self.pty.path

    # -- faults and pins (any thread)

    def outage(self, on: bool = True) -> None:
        with self._lock:
            was = self._outage
            self._outage = on
            if on and not was and self._on and self._ready:
                self._net_lost()
            if not on and was:
                self._reg_from = self.timer()

    def hang(self, until: str = "power") -> None:
        """Stop answering until a power-cycle (``until="power"``) or also a reset command."""
        if until not in ("power", "reset"):
            raise ValueError("hang until 'power' or 'reset'")
        with self._lock:
            self._hung = until

    def garble(self, lines: int = 1) -> None:
        with self._lock:
            self._garble += lines

    def pwrkey(self, pressed: bool) -> None:
        with self._lock:
            now = time.monotonic()
            if pressed:
                self._key_down = self._key_down or now
                return
            if self._key_down is None:
                return
            held, self._key_down = now - self._key_down, None
            if self._on and held >= self.pwrkey_off_s:
                self._power_off()
            elif not self._on and held >= self.pwrkey_on_s:
                self._power_on()

    def power(self, on: bool) -> None:
        """The supply switch: off cuts the modem; on powers it up (auto power-on)."""
        with self._lock:
            if on and not self._on:
                self._power_on()
            elif not on and self._on:
                self._power_off()

    @property
    def powered(self) -> bool:
        return self._on

    # -- running

    def start(self) -> "ModemEmulator":
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="modem-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            self._close_sock()

    def close(self) -> None:
        self.stop()
        self.pty.close()

    def _serve(self) -> None:
        while self._running:
            self.step(0.02)

    def step(self, timeout: float = 0.0) -> None:
        """Serve whatever is waiting (device bytes, socket bytes, timers), waiting up to ``timeout`` s."""
        fds = [self.pty.master]
        sock = self._sock
        if sock is not None:
            fds.append(sock.fileno())
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            readable = []
        with self._lock:
            if self.pty.master in readable:
                data = self.pty.read()
                if data:
                    self._feed(data)
            if self._sock is not None and self._sock is sock and sock.fileno() in readable:
                self._from_socket()
            self._tick()

    # -- power and state

    def _power_on(self) -> None:
        self._on = True
        self.counts["power_ons"] += 1
        self._reboot()

    def _power_off(self) -> None:
        self._on = False
        self._boot_at = None
        self._hung = None
        self._close_sock()

    def _reboot(self) -> None:
        self._close_sock()
        self._boot_at = time.monotonic() + self.boot_delay
        self._booted = False
        self._echo = True
        self._cereg_n = 0
        self._ready = False        # data network open (NETOPEN / QIACT)
        self._rxget = False
        self._line = bytearray()
        self._data_left = 0
        self._data = bytearray()
        self._rx = bytearray()
        self._notified = False
        self._linked = False       # socket 0 is open
        self._was_reg = False
        self._reg_from = self.timer()

    def _registered(self) -> bool:
        return (self._on and self._booted and not self._outage
                and self.timer() - self._reg_from >= self.reg_delay)

    def _stat(self) -> int:
        if self._registered():
            return 5 if self.roaming else 1
        return 2

    def _tick(self) -> None:
        if not self._on:
            return
        if not self._booted:
            if self._boot_at is not None and time.monotonic() >= self._boot_at:
                self._booted = True
                self._reg_from = self.timer()
                for urc in BOOT_URCS[self.family]:
                    self._urc(urc)
            return
        reg = self._registered()
        if reg != self._was_reg:
            self._was_reg = reg
            if self._cereg_n:
                self._urc(b"+CEREG: %d" % self._stat())

    def _net_lost(self) -> None:
        """The network went away: the data network and the socket close."""
        if self.family == "simcom":
            if self._linked:
                self._urc(b"+IPCLOSE: 0,2")
            self._urc(b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
        else:
            if self._linked:
                self._urc(b'+QIURC: "closed",0')
            self._urc(b'+QIURC: "pdpdeact",1')
        self._ready = False
        self._linked = False
        self._close_sock()

    # -- output

    def _write(self, data: bytes) -> None:
        if self._on and self._hung is None:
            self.pty.write(data)

    def _urc(self, line: bytes) -> None:
        self._write(b"\r\n" + self._noisy(line) + b"\r\n")

    def _noisy(self, line: bytes) -> bytes:
        if self._garble and line:
            self._garble -= 1
            mid = len(line) // 2
            return line[:mid] + b"\xff\x00" + line[mid + 1:]
        return line

    def _reply(self, *lines: bytes, final: bytes = b"OK") -> None:
        out = b"".join(b"\r\n" + self._noisy(line) + b"\r\n" for line in lines)
        self._write(out + b"\r\n" + self._noisy(final) + b"\r\n")

    # -- input

    def _feed(self, data: bytes) -> None:
        if not self._on or not self._booted:
            return  # a modem that is off or booting drops what it is sent
        view = memoryview(data)
        while view:
            if self._data_left:
                take = bytes(view[:self._data_left])
                view = view[len(take):]
                self._data += take
                self._data_left -= len(take)
                if not self._data_left:
                    self._send_data(bytes(self._data))
                continue
            b = view[0]
            view = view[1:]
            if self._echo and self._hung is None:
                self.pty.write(bytes([b]))
            if b == 13:
                line = bytes(self._line).strip()
                self._line.clear()
                if line:
                    self.log.append(line)
                    self._command(line)
            elif b != 10:
                self._line.append(b)

    def _command(self, line: bytes) -> None:
        up = line.upper()
        if self._hung is not None:
            if self._hung == "reset" and up == RESET_CMD[self.family]:
                self._hung = None
                self._reset()
            return
        if up == RESET_CMD[self.family]:
            return self._reset()
        handler = getattr(self, "_at_" + self.family)
        if not self._common(up, line) and not handler(up, line):
            self._reply(final=b"ERROR")

    def _reset(self) -> None:
        self._reply()
        self.counts["resets"] += 1
        self._reboot()

    def _common(self, up: bytes, line: bytes) -> bool:
        if up == b"AT":
            self._reply()
        elif up in (b"ATE0", b"ATE1"):
            self._echo = up == b"ATE1"
            self._reply()
        elif up.startswith(b"AT+CMEE=") or up.startswith(b"AT+CTZU=") \
                or up.startswith(b"AT+CGDCONT=") or up.startswith(b"AT+CREG="):
            self._reply()
        elif up.startswith(b"AT+CEREG="):
            self._cereg_n = int(up[9:] or b"0")
            self._reply()
        elif up == b"AT+CPIN?":
            self._reply(b"+CPIN: READY")
        elif up == b"AT+CSQ":
            self._reply(b"+CSQ: %d,99" % (self.rssi if self._registered() else 99))
        elif up == b"AT+CEREG?":
            self._reply(b"+CEREG: %d,%d" % (self._cereg_n, self._stat()))
        elif up == b"AT+CREG?":
            self._reply(b"+CREG: 0,%d" % self._stat())
        elif up == b"AT+CCLK?":
            self._reply(self._cclk())
        else:
            return False
        return True

    def _cclk(self) -> bytes:
        if not self._registered():
            return UNSYNCED_CCLK
        local = datetime.fromtimestamp(int(self.clock()), timezone.utc) + timedelta(minutes=15 * self.tz_q)
        sign = "+" if self.tz_q >= 0 else "-"
        return ('+CCLK: "%s%s%02d"' % (local.strftime("%y/%m/%d,%H:%M:%S"), sign, abs(self.tz_q))).encode()

    # -- the TCP socket

    def _connect(self, host: bytes, port: int) -> bool:
        self._close_sock()
        addr = self.redirect or (host.decode(), port)
        try:
            sock = socket.create_connection(addr, timeout=2)
        except OSError:
            return False
        sock.setblocking(False)
        self._sock = sock
        self._rx.clear()
        self._notified = False
        self._linked = True
        return True

    def _close_sock(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _from_socket(self) -> None:
        try:
            data = self._sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._rx += data
            self.counts["received"] += len(data)
            if not self._notified:
                self._notified = True
                self._urc(b"+CIPRXGET: 1,0" if self.family == "simcom" else b'+QIURC: "recv",0')
            return
        self._close_sock()
        if self._linked:
            self._linked = False
            self._urc(b"+IPCLOSE: 0,1" if self.family == "simcom" else b'+QIURC: "closed",0')

    def _start_send(self, n: int, prompt: bytes) -> None:
        self._data_left = n
        self._data = bytearray()
        self._write(prompt)

    def _send_data(self, data: bytes) -> None:
        ok = self._linked and self._sock is not None and not self._outage
        if ok:
            try:
                self._sock.sendall(data)
                self.counts["sent"] += len(data)
            except OSError:
                ok = False
        if self.family == "simcom":
            self._reply()
            self._urc(b"+CIPSEND: 0,%d,%d" % (len(data), len(data) if ok else -1))
        else:
            self._write(b"\r\n" + self._noisy(b"SEND OK" if ok else b"SEND FAIL") + b"\r\n")

    def _take_rx(self, n: int) -> bytes:
        data = bytes(self._rx[:n])
        del self._rx[:n]
        if not self._rx:
            self._notified = False
        return data

    # -- SIMCom SIM7600 / A7670

    def _at_simcom(self, up: bytes, line: bytes) -> bool:
        args = _args(line)
        if up == b"AT+CIPRXGET=1":
            self._rxget = True
            self._reply()
        elif up == b"AT+NETOPEN?":
            self._reply(b"+NETOPEN: %d" % self._ready)
        elif up == b"AT+NETOPEN":
            if self._ready:
                self._reply(b"+IP ERROR: Network is already opened", final=b"ERROR")
                return True
            self._reply()
            self._ready = self._registered()
            self._urc(b"+NETOPEN: %d" % (0 if self._ready else 1))
        elif up == b"AT+NETCLOSE":
            self._ready = self._linked = False
            self._close_sock()
            self._reply()
            self._urc(b"+NETCLOSE: 0")
        elif up.startswith(b"AT+CIPOPEN=0,"):
            if not self._ready or not self._registered():
                self._reply(final=b"ERROR")
                return True
            if self._linked:
                self._reply()
                self._urc(b"+CIPOPEN: 0,4")
                return True
            self._reply()
            self._urc(b"+CIPOPEN: 0,%d" % (0 if self._connect(args[2], int(args[3])) else 1))
        elif up.startswith(b"AT+CIPSEND=0,"):
            if not self._linked:
                self._reply(final=b"ERROR")
            else:
                self._start_send(int(args[1]), b"\r\n>")
        elif up.startswith(b"AT+CIPRXGET=2,0"):
            if not self._rxget:
                self._reply(final=b"ERROR")
                return True
            data = self._take_rx(int(args[2]) if len(args) > 2 else 1500)
            self._write(b"\r\n" + self._noisy(b"+CIPRXGET: 2,0,%d,%d" % (len(data), len(self._rx)))
                        + b"\r\n" + data + b"\r\nOK\r\n")
        elif up.startswith(b"AT+CIPRXGET=4,0"):
            self._reply(b"+CIPRXGET: 4,0,%d" % len(self._rx))
        elif up == b"AT+CIPCLOSE=0":
            if not self._linked:
                self._reply(final=b"ERROR")
                return True
            self._linked = False
            self._close_sock()
            self._reply()
            self._urc(b"+CIPCLOSE: 0,0")
        else:
            return False
        return True

    # -- Quectel EC200 / EG25

    def _at_quectel(self, up: bytes, line: bytes) -> bool:
        args = _args(line)
        if up.startswith(b"AT+QICSGP="):
            self._reply()
        elif up == b"AT+QIACT?":
            if self._ready:
                self._reply(b'+QIACT: 1,1,1,"10.64.0.2"')
            else:
                self._reply()
        elif up == b"AT+QIACT=1":
            self._ready = self._registered()
            self._reply(final=b"OK" if self._ready else b"ERROR")
        elif up == b"AT+QIDEACT=1":
            self._ready = self._linked = False
            self._close_sock()
            self._reply()
        elif up.startswith(b"AT+QIOPEN=1,0,"):
            if not self._ready or not self._registered() or self._linked:
                self._reply(final=b"ERROR")
                return True
            self._reply()
            self._urc(b"+QIOPEN: 0,%d" % (0 if self._connect(args[3], int(args[4])) else 566))
        elif up.startswith(b"AT+QISEND=0,"):
            if not self._linked:
                self._reply(final=b"ERROR")
            else:
                self._start_send(int(args[1]), b"\r\n> ")
        elif up.startswith(b"AT+QIRD=0"):
            data = self._take_rx(int(args[1]) if len(args) > 1 else 1500)
            self._write(b"\r\n" + self._noisy(b"+QIRD: %d" % len(data)) + b"\r\n" + data
                        + (b"\r\n" if data else b"") + b"\r\nOK\r\n")
        elif up == b"AT+QICLOSE=0":
            self._linked = False
            self._close_sock()
            self._reply()
        else:
            return False
        return True


def _args(line: bytes) -> list[bytes]:
    """The comma-separated arguments after '=' with quotes removed."""
    _, _, rest = line.partition(b"=")
    return [a.strip().strip(b'"') for a in rest.split(b",")] if rest else []
