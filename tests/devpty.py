"""A MicroPython process on a pseudo-terminal, reached like a board on a USB cable.

Host tests that run the console or the whole app put the process's stdin and stdout on one end of a
one-device ``BusHub`` (a relay pty) and talk to ``path`` with ``cemtool.link`` or ``mpremote``.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import fwtest
from cemtool.link import Link, LinkTimeout
from cemtool.sim.rs485 import BusHub


class PtyDevice:
    """``micropython -X heapsize=HEAP ARGV…`` with its console behind the relay pty ``path``."""

    def __init__(self, argv: list[str], heap: str, cwd: str | Path = fwtest.ROOT,
                 env: dict[str, str] | None = None) -> None:
        self.hub = BusHub(1).start()
        fd = os.open(self.hub.device_paths[0], os.O_RDWR | os.O_NOCTTY)
        try:
            self.proc = subprocess.Popen(
                [fwtest.tool("micropython"), "-X", f"heapsize={heap}", *argv],
                stdin=fd, stdout=fd, stderr=fd, cwd=cwd,
                env=fwtest.micropython_env("mpy") if env is None else env)
        finally:
            os.close(fd)
        self.path = self.hub.master_path

    def wait_app(self, link: Link, timeout: float = 20.0) -> dict:
        """``link.probe()`` until the app answers (its ``info``); ``LinkTimeout`` when it does not
        within ``timeout`` seconds or the process has ended."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return link.probe()
            except LinkTimeout:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.hub.stop()
