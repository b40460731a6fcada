"""The edge allocates nothing per sample, nor when it closes minutes, hours and days."""
import gc

import micropython

from cemt.edge import Edge, EdgeConfig
from cemt.schema import C
from edge_util import T_DAY, status, values

_seen = [0, 0]


def _sink(rec):
    # copies what it needs without allocating
    _seen[0] += 1
    _seen[1] += rec[len(rec) - 1]


def _day_edge(edge, t, n, v, ok, bad):
    for i in range(n):
        v[0] = 10000 + (i * 37) % 4000
        v[1] = 8000 + (i * 101) % 9000
        v[2] = 14000 + (i * 7) % 2000
        edge.sample(t, 2, v, bad if i % 97 == 0 else ok)
        if i % 1000 == 999:
            edge.sample(t, 2, v, ok)     # a repeated second, rejected
            t += 300                     # and a gap
        t += 1
    return t


def _fixture():
    edge = Edge(EdgeConfig(xsw_measured=True, co2_wet=True, kv=9500, area=78540), _sink)
    return edge, values(), status(), status(C)


def test_no_allocation_under_heap_lock():
    edge, v, ok, bad = _fixture()
    start = T_DAY + 86400 - 4000         # crosses minute, hour and day ends
    _seen[0] = 0
    micropython.heap_lock()
    try:
        t = _day_edge(edge, start, 8000, v, ok, bad)
        edge.close(t + 3600)
        t = _day_edge(edge, t + 3600, 500, v, ok, bad)
        edge.flush()
    finally:
        micropython.heap_unlock()
    assert _seen[0] > 150 and _seen[1] > 0
    assert edge.rejected == 8


def test_no_garbage_either():
    # heap_lock makes the VM fall back to the C stack where it would have used the heap;
    # with the heap unlocked and collection off, the allocated byte count must not move.
    edge, v, ok, bad = _fixture()
    t = _day_edge(edge, T_DAY - 500, 10, v, ok, bad)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        t = _day_edge(edge, t, 6000, v, ok, bad)
        edge.flush()
        after = gc.mem_alloc()
    finally:
        gc.enable()
    assert after == before, after - before
