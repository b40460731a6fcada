"""Pseudo-terminals for the simulator, and the loop that serves their host ends.

``Pty()`` makes a raw pair: the device opens ``.path`` (the slave), an emulator owns ``.master``.
The host keeps its own slave descriptor open so that the master never sees a hang-up while the
device process is down (killed for a power cut, restarting): bytes simply wait.

``Hub`` runs one asyncio event loop in a background thread; every ``Endpoint`` (the bus server,
the UART emulators) is served by a reader callback on its master, and the pymodbus server runs in
the same loop, so all emulators see one simulated time without locks.
"""
from __future__ import annotations

import asyncio
import os
import threading
import tty


class Pty:
    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                n = 0
            view = view[n:]

    def read(self, n: int = 4096) -> bytes:
        try:
            return os.read(self.master, n)
        except (BlockingIOError, OSError):
            return b""

    def drain(self) -> bytes:
        """Everything waiting from the device (e.g. a request half-sent by a killed process)."""
        out = bytearray()
        while chunk := self.read():
            out += chunk
        return bytes(out)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Endpoint:
    """A device model behind a pty: ``feed(data)`` receives the device's bytes, ``send`` replies."""

    def __init__(self):
        self.pty = Pty()

    @property
    def path(self) -> str:
        return self.pty.path

    def send(self, data: bytes) -> None:
        self.pty.write(data)

    def feed(self, data: bytes) -> None:
        raise NotImplementedError

    def on_readable(self) -> None:
        data = self.pty.read()
        if data:
            self.feed(data)

    def reset(self) -> None:
        """Forget a half-received request (the device restarted)."""
        self.pty.drain()

    def close(self) -> None:
        self.pty.close()


class Hub:
    """The emulators' event loop, in a daemon thread: ``start()``, ``add(endpoint)``, ``stop()``."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self.endpoints: list[Endpoint] = []

    def start(self) -> "Hub":
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim-hub", daemon=True)
        self._thread.start()
        return self

    def call(self, fn, *args):
        """Run ``fn(*args)`` in the loop's thread and return its result (or await it if a coroutine)."""
        async def run():
            res = fn(*args)
            if asyncio.iscoroutine(res):
                res = await res
            return res
        if self._thread is None:
            return self.loop.run_until_complete(run())
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def add(self, ep: Endpoint) -> Endpoint:
        self.endpoints.append(ep)
        self.call(self.loop.add_reader, ep.pty.master, ep.on_readable)
        return ep

    def stop(self) -> None:
        for ep in self.endpoints:
            self.call(self.loop.remove_reader, ep.pty.master)
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self._thread = None
        for ep in self.endpoints:
            ep.close()
        self.endpoints.clear()
        self.loop.close()
