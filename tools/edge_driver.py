"""Feeds samples to cemt.edge under MicroPython and prints each record as a line of integers.

    micropython tools/edge_driver.py [FILE]      read FILE, or stdin without one
    micropython tools/edge_driver.py --bench S   time S seconds of a synthetic stack

Input, one item per line (blank lines and lines starting with # are skipped):

    cfg AREA KP KV XSW XSW_MEASURED CO2_WET O2 PERIOD_S VER   new edge (the previous one flushed)
    T TQ CO2 DP TEMP PS PA XSW S0 S1 S2 S3 S4 S5              one sample, units of cemt.edge
    close T                                                   edge.close(T)
    flush                                                     edge.flush()

Samples before any cfg line use the default configuration. Output: every record as its integers
``kind seq t tq ver fields...``, and ``rejected N`` when an edge ends (next cfg, end of input).
A bad line stops the run with ``error: line N: ...`` on stderr and exit status 1.
"""
import sys
from array import array

from cemt.edge import CO2, DP, TEMP, Edge, EdgeConfig


def show(rec):
    print(" ".join(str(v) for v in rec))


def run(lines):
    edge = None
    values = array("i", [0] * 6)
    status = bytearray(6)
    for no, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            if words[0] == "cfg":
                if edge:
                    edge.flush()
                    print("rejected", edge.rejected)
                c = [int(w) for w in words[1:]]
                if len(c) != 9:
                    raise ValueError("cfg needs 9 values, not %d" % len(c))
                edge = Edge(EdgeConfig(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]),
                            show)
                continue
            if edge is None:
                edge = Edge(EdgeConfig(), show)
            if words[0] == "close" and len(words) == 2:
                edge.close(int(words[1]))
            elif words[0] == "flush" and len(words) == 1:
                edge.flush()
            elif len(words) == 14:
                n = [int(w) for w in words]
                for i in range(6):
                    values[i] = n[2 + i]
                    if not 0 <= n[8 + i] <= 7:
                        raise ValueError("status %d is not a flag code 0..7" % n[8 + i])
                    status[i] = n[8 + i]
                edge.sample(n[0], n[1], values, status)
            else:
                raise ValueError("expected 14 integers, cfg, close T or flush")
        except ValueError as e:
            print("error: line %d: %s" % (no, e), file=sys.stderr)
            sys.exit(1)
    if edge:
        edge.flush()
        print("rejected", edge.rejected)


def bench(seconds):
    """Time the edge on a synthetic stack; report heap and the CBOR size of its records.

    Prints ``bench SAMPLES MICROSECONDS BASE_HEAP PEAK_HEAP MINUTE_BYTES HOUR_BYTES EDGE_BYTES``:
    the heap figures are gc.mem_alloc() after a collection before the run, the largest value seen
    between batches of 600 samples during it (no collection forced), and what constructing the
    Edge took.
    """
    import gc
    import time

    from cemt import records

    kept = {}

    def sink(rec):
        if rec[0] not in kept:
            kept[rec[0]] = list(rec)

    cfg = EdgeConfig()
    gc.collect()
    before = gc.mem_alloc()
    edge = Edge(cfg, sink)
    gc.collect()
    state = gc.mem_alloc() - before
    values = array("i", [12000, 13400, 15000, -150, 101325, 800])
    status = bytearray(6)
    t = 1767225600
    gc.collect()
    base = peak = gc.mem_alloc()
    spent = 0
    done = 0
    while done < seconds:
        n = min(600, seconds - done)
        t0 = time.ticks_us()
        for i in range(n):
            # A stack that varies every second: CO2, Δp and temperature wander.
            values[CO2] = 11500 + (t * 7) % 1000
            values[DP] = 12000 + (t * 13) % 3000
            values[TEMP] = 14500 + (t * 3) % 1000
            edge.sample(t, 2, values, status)
            t += 1
        spent += time.ticks_diff(time.ticks_us(), t0)
        done += n
        peak = max(peak, gc.mem_alloc())
    edge.flush()
    size = [len(records.encode(kept[k])) if k in kept else 0 for k in (1, 2)]
    print("bench", done, spent, base, peak, size[0], size[1], state)


if len(sys.argv) > 2 and sys.argv[1] == "--bench":
    bench(int(sys.argv[2]))
elif len(sys.argv) > 1:
    try:
        f = open(sys.argv[1])
    except OSError as e:
        print("error: cannot open %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
    run(f)
else:
    run(sys.stdin)
