"""Frame encode/decode throughput: cemt.frame under MicroPython (64K heap) and cemtool.frame on CPython.

    python tools/bench/frame.py [--json] [--count N]

Prints a table of MB/s (payload bytes) and frames/s per payload size; with --json, one object with
the same figures keyed "<impl>_<op>_<size>_mbps" and "..._fps".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "host")]

import fwtest  # noqa: E402
from cemtool import frame  # noqa: E402

SIZES = (16, 256, 1024)


def micropython_run(size: int, count: int, mode: str) -> tuple[float, float]:
    proc = fwtest.run_micropython([str(ROOT / "tools" / "frame_driver.py"), "bench", str(size), str(count)],
                                  mode=mode, timeout=600)
    if proc.returncode:
        raise SystemExit(f"frame_driver bench failed: {proc.stderr.strip() or proc.stdout.strip()}")
    res = json.loads(proc.stdout.splitlines()[-1])
    return res["encode_us"] / 1e6, res["decode_us"] / 1e6


def cpython_run(size: int, count: int) -> tuple[float, float]:
    payload = bytes((i * 7) & 0xFF for i in range(size))
    t0 = time.perf_counter()
    for _ in range(count):
        wire = frame.encode(1, payload)
    t_enc = time.perf_counter() - t0
    dec = frame.Decoder(None)
    t0 = time.perf_counter()
    got = 0
    for _ in range(count):
        got += len(dec.feed(wire))
    t_dec = time.perf_counter() - t0
    assert got == count
    return t_enc, t_dec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    ap.add_argument("--count", type=int, default=10000, help="frames per measurement")
    args = ap.parse_args()
    figures: dict[str, float] = {}
    rows = []
    for size in SIZES:
        runs = {"micropython": micropython_run(size, args.count, "mpy"), "cpython": cpython_run(size, args.count)}
        for impl, times in runs.items():
            for op, t in zip(("encode", "decode"), times):
                fps = args.count / t
                mbps = fps * size / 1e6
                figures[f"{impl}_{op}_{size}_fps"] = round(fps)
                figures[f"{impl}_{op}_{size}_mbps"] = round(mbps, 2)
                rows.append((impl, op, size, fps, mbps))
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"frame throughput, {args.count} frames per cell (MicroPython: unix port, .mpy, 64K heap)")
    print(f"{'implementation':14} {'op':7} {'payload B':>9} {'frames/s':>12} {'MB/s':>8}")
    for impl, op, size, fps, mbps in rows:
        print(f"{impl:14} {op:7} {size:9d} {fps:12,.0f} {mbps:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
