"""The simulated RS485 bus: everyone hears everyone else, collisions garble, noise slips in,
and a party that does not read never holds the bus up."""
from __future__ import annotations

import os
import time

import pytest

from cemtool.sim.rs485 import BusHub


def opened(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    return fd


def read_all(fd: int, want: int, timeout: float = 5) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            got += os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.005)
    return got


def quiet(fd: int, wait: float = 0.2) -> bool:
    time.sleep(wait)
    try:
        return os.read(fd, 65536) == b""
    except BlockingIOError:
        return True


@pytest.fixture
def hub():
    h = BusHub(3, seed=3).start()
    fds = [opened(h.master_path)] + [opened(p) for p in h.device_paths]
    yield h, fds
    for fd in fds:
        os.close(fd)
    h.stop()


def test_every_party_hears_every_other_but_not_itself(hub):
    h, (m, d1, d2, d3) = hub
    os.write(m, b"request")
    for fd in (d1, d2, d3):
        assert read_all(fd, 7) == b"request"
    assert quiet(m)
    os.write(d2, b"reply")
    for fd in (m, d1, d3):
        assert read_all(fd, 5) == b"reply"
    assert quiet(d2)
    assert len({h.master_path, *h.device_paths}) == 4


def test_transmissions_in_the_same_instant_garble_each_other(hub):
    h, (m, d1, d2, d3) = hub
    h._carry([(h.devices[0], b"AAAA"), (h.devices[1], b"bb")])
    assert h.collisions == 1
    for fd in (m, d3):
        assert read_all(fd, 6) == b"AbAbAA"
    assert quiet(d1) and quiet(d2)  # the senders hear nothing


def test_injected_and_random_noise(hub):
    h, (m, d1, d2, d3) = hub
    h.inject(b"\x00zz")
    for fd in (m, d1, d2, d3):
        assert read_all(fd, 3) == b"\x00zz"
    h.noise = 0.01
    data = bytes(range(256)) * 40
    os.write(m, data)
    got = read_all(d1, len(data) + h.corrupted, 5)
    time.sleep(0.2)
    got += read_all(d1, 10**6, 0.2)
    assert h.corrupted > 20 and len(got) == len(data) + h.corrupted
    # the stray bytes are insertions: removing them gives the data back
    assert got != data and _is_subsequence(data, got)


def _is_subsequence(small: bytes, big: bytes) -> bool:
    it = iter(big)
    return all(b in it for b in small)


def test_a_party_that_does_not_read_loses_bytes_and_holds_nothing_up(hub):
    h, (m, d1, d2, d3) = hub
    chunk = os.urandom(4096)
    sent = 0
    got = b""
    for _ in range(64):  # far more than a pty buffers for d3, which never reads
        os.write(m, chunk)
        sent += len(chunk)
        got += read_all(d1, sent - len(got), 2)
        read_all(d2, 1 << 20, 0.01)
    assert len(got) == sent and h.lost > 0
