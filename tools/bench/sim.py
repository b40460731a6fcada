"""Simulator benchmark: a 24-hour run with every sensor on a pseudo-terminal, and the device's heap.

Prints simulated seconds per wall second and the wall time of 24 simulated hours (target ≤ 60 s
on 2 cores), and the device's peak heap: the smallest ``-X heapsize`` (in 4 KiB steps) with which
the firmware completes a 2-hour run, including hour closes, health records and a power cut. With
``--json`` one JSON object: ``sim_seconds_per_wall_second``, ``wall_s_24h``, ``peak_heap_bytes``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cemtool.sim.runner import Options, Runner, SimError

STEP = 4096


def run(out: Path, hours: float, heap: str, **kw) -> object:
    return Runner(Options(out=str(out), hours=hours, heap=heap, **kw)).run()


def fits(tmp: Path, heap: int) -> bool:
    try:
        run(tmp / f"heap{heap}", 2, str(heap), faults=["power@50m+1m"])
        return True
    except SimError:
        return False


def peak_heap(tmp: Path, lo: int = 32 * 1024, hi: int = 512 * 1024) -> int:
    """Smallest heap (multiple of STEP) that runs; ``lo`` fails or is the answer."""
    if not fits(tmp, hi):
        raise SystemExit(f"the firmware does not run even with a {hi // 1024}K heap")
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if fits(tmp, mid):
            hi = mid
        else:
            lo = mid
    return hi


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--scenario", default="daily")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        day = run(tmp / "day", args.hours, "512K", scenario=args.scenario)
        heap = peak_heap(tmp)
    figures = {
        "sim_seconds_per_wall_second": round(day.speedup, 1),
        "wall_s_24h": round(day.wall_s * 24 / day.hours, 2),
        "peak_heap_bytes": heap,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{'scenario':34} {args.scenario}")
        print(f"{'simulated hours':34} {day.hours:g}")
        print(f"{'simulated s per wall s':34} {figures['sim_seconds_per_wall_second']:,.0f}")
        print(f"{'wall s for 24 h (target <= 60)':34} {figures['wall_s_24h']:.1f}")
        print(f"{'peak device heap (64-bit unix)':34} {heap // 1024} KiB")
        print(f"{'device CO2 vs truth':34} {day.error_pct:+.3f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
