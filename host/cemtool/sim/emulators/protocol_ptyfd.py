"""A pyserial URL handler, ``ptyfd://FD``: a serial port over an already open pty master.

pymodbus opens its serial port through ``serial.serial_for_url``; a pty master has no path of
its own to open (opening /dev/ptmx makes a new pty), so the Modbus emulator hands pymodbus this
handler, registered through pyserial's ``protocol_handler_packages``. The descriptor is dup'ed:
closing the port leaves the emulator's pty open.
"""
from __future__ import annotations

import fcntl
import os

import serial
from serial.serialposix import Serial as PosixSerial


class Serial(PosixSerial):
    def open(self) -> None:
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        try:
            fd = int(str(self._port).split("://", 1)[1])
            self.fd = os.dup(fd)
        except (IndexError, ValueError, OSError) as e:
            raise serial.SerialException(f"bad ptyfd url {self._port!r}: {e}") from None
        os.set_blocking(self.fd, False)
        self.pipe_abort_read_r, self.pipe_abort_read_w = os.pipe()
        self.pipe_abort_write_r, self.pipe_abort_write_w = os.pipe()
        fcntl.fcntl(self.pipe_abort_read_r, fcntl.F_SETFL, os.O_NONBLOCK)
        fcntl.fcntl(self.pipe_abort_write_r, fcntl.F_SETFL, os.O_NONBLOCK)
        self.is_open = True

    def _reconfigure_port(self, force_update: bool = False) -> None:
        pass   # a pty has no line settings worth changing; the host end is already raw
