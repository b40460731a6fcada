"""A simulated RS485 multi-drop bus: pseudo-terminals joined by a hub thread.

``BusHub(n)`` makes ``n`` device ptys and one master pty. Every byte one party writes reaches
every other party (not the writer itself: a transceiver does not hear its own transmission when
its receiver is disabled, as a node's /RE tied to DE does). Each device process opens its path
from ``device_paths`` as its UART (``cemt.board.unix.UART``); the master (``cemtool poll``, a
``cemtool.link.Link``, ``mpremote`` for a one-device "bus") opens ``master_path``.

    hub = BusHub(4).start()          # or: with BusHub(4) as hub:
    start_node(hub.device_paths[0])  # e.g. a micropython process running cemt.rs485
    poll(hub.master_path)
    hub.stop()

``python -m cemtool.sim.rs485 N`` runs a hub until interrupted and prints the paths, one per line,
the master's first.

Faults, for tests: ``inject(data)`` puts bytes on the bus from nowhere (line noise);
``noise`` (0-1) is the chance, per byte carried, that a random byte slips in after it; with
``collide`` (default), parties that transmit in the same instant (their bytes are waiting in the
same round) garble each other: every listener gets their bytes interleaved, as a real bus would
give neither frame intact. The bus is not paced at a baud rate: bytes move as fast as the ptys
carry them. A party that is not reading (a node process that is down) loses what does not fit
its pty's buffer, as an unpowered node does; the bus never waits for it.
"""
from __future__ import annotations

import math
import os
import random
import selectors
import sys
import threading

from cemtool.sim.pty import Pty


class BusHub:
    def __init__(self, devices: int, *, noise: float = 0.0, collide: bool = True,
                 seed: int | None = None) -> None:
        if devices < 1:
            raise ValueError("a bus needs at least one device")
        self.master = Pty()
        self.devices = [Pty() for _ in range(devices)]
        self.noise = noise
        self.collide = collide
        self._rng = random.Random(seed)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = False
        self.carried = 0     # bytes put on the bus
        self.collisions = 0  # rounds in which two or more parties transmitted
        self.lost = 0        # bytes a party's full buffer did not take
        self.corrupted = 0   # stray bytes slipped in by ``noise``

    @property
    def master_path(self) -> str:
        return self.master.path

    @property
    def device_paths(self) -> list[str]:
        return [p.path for p in self.devices]

    @property
    def parties(self) -> list[Pty]:
        return [self.master, *self.devices]

    def start(self) -> BusHub:
        for p in self.parties:
            self._sel.register(p.master, selectors.EVENT_READ, p)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="rs485-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop = True
            os.write(self._wake_w, b"x")
            self._thread.join(5)
            self._thread = None
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        for p in self.parties:
            p.close()

    def __enter__(self) -> BusHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, data: bytes) -> None:
        """Put ``data`` on the bus as line noise: every party receives it."""
        with self._lock:
            for p in self.parties:
                self._deliver(p, data)

    def _run(self) -> None:
        while not self._stop:
            ready = self._sel.select(1.0)
            talkers: list[tuple[Pty, bytes]] = []
            for key, _ in ready:
                if key.data is None:
                    os.read(self._wake_r, 64)
                    continue
                data = key.data.read()
                if data:
                    talkers.append((key.data, data))
            if talkers:
                self._carry(talkers)

    def _carry(self, talkers: list[tuple[Pty, bytes]]) -> None:
        """Put one round's transmissions on the bus: each to every other party, or garbled."""
        with self._lock:
            if len(talkers) > 1 and self.collide:
                self.collisions += 1
                mixed = self._noisy(_interleave([d for _, d in talkers]))
                senders = [p for p, _ in talkers]
                for p in self.parties:
                    if all(p is not s for s in senders):
                        self._deliver(p, mixed)
                return
            for sender, data in talkers:
                data = self._noisy(data)
                for p in self.parties:
                    if p is not sender:
                        self._deliver(p, data)

    def _noisy(self, data: bytes) -> bytes:
        self.carried += len(data)
        if not self.noise:
            return data
        out = bytearray()
        done = 0
        at = -1
        per_byte = math.log(1.0 - self.noise)
        while True:
            # the gap to the next stray byte is geometric: one draw per stray byte
            at += 1 + int(math.log(1.0 - self._rng.random()) / per_byte)
            if at >= len(data):
                break
            out += data[done:at + 1]
            out.append(self._rng.randrange(256))
            done = at + 1
            self.corrupted += 1
        out += data[done:]
        return bytes(out)

    def _deliver(self, p: Pty, data: bytes) -> None:
        try:
            n = os.write(p.master, data)
        except BlockingIOError:
            n = 0
        except OSError:
            n = 0  # the pty is closing
        self.lost += len(data) - n


def _interleave(chunks: list[bytes]) -> bytes:
    out = bytearray()
    for i in range(max(len(c) for c in chunks)):
        for c in chunks:
            if i < len(c):
                out.append(c[i])
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 1
    with BusHub(n) as hub:
        print(hub.master_path)
        for path in hub.device_paths:
            print(path)
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
