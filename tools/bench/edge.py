"""Edge computation speed and memory: cemt.edge under MicroPython (unix port, .mpy, 64K heap).

    python tools/bench/edge.py [--json] [--seconds N]

Runs N seconds (default a day) of a varying 1 Hz stack through the edge in tools/edge_driver.py
and prints: samples per second, the ratio to real time at 1 Hz, the heap in use (gc.mem_alloc()
after a collection before the run, and the largest value seen between batches of 600 samples
during it, interpreter and loaded modules included; and what one Edge object takes), and the
canonical CBOR size of a minute and an hour record (cemt.records.encode). With --json, one
object with the keys samples_per_s, realtime_ratio, peak_heap_bytes, minute_record_bytes,
hour_record_bytes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import fwtest  # noqa: E402


def measure(seconds: int) -> dict:
    proc = fwtest.run_micropython([str(ROOT / "tools" / "edge_driver.py"), "--bench", str(seconds)],
                                  mode="mpy", timeout=600)
    words = proc.stdout.split()
    if proc.returncode or not words or words[0] != "bench":
        raise SystemExit("edge_driver bench failed: "
                         + (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1])
    samples, us, base, peak, minute, hour, state = (int(w) for w in words[1:8])
    rate = samples / (us / 1e6)
    return {"samples": samples, "seconds": us / 1e6, "base_heap_bytes": base, "edge_bytes": state,
            "samples_per_s": round(rate), "realtime_ratio": round(rate),
            "peak_heap_bytes": peak, "minute_record_bytes": minute, "hour_record_bytes": hour}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    ap.add_argument("--seconds", type=int, default=86400, help="simulated seconds at 1 Hz")
    args = ap.parse_args()
    if args.seconds < 3600:
        raise SystemExit("error: --seconds must be at least 3600 (one hour record)")
    f = measure(args.seconds)
    if args.json:
        keys = ("samples_per_s", "realtime_ratio", "peak_heap_bytes", "minute_record_bytes",
                "hour_record_bytes")
        print(json.dumps({k: f[k] for k in keys}))
        return 0
    print(f"edge computation, {f['samples']} samples of a varying stack "
          "(MicroPython unix port, .mpy, 64K heap)")
    rows = [
        ("samples per second", f"{f['samples_per_s']:,}"),
        ("ratio to real time at 1 Hz", f"{f['realtime_ratio']:,} x"),
        ("time for the run", f"{f['seconds']:.2f} s"),
        ("one Edge's state", f"{f['edge_bytes']:,} B"),
        ("heap in use before the run", f"{f['base_heap_bytes']:,} B"),
        ("peak heap in use during it", f"{f['peak_heap_bytes']:,} B"),
        ("minute record, canonical CBOR", f"{f['minute_record_bytes']} B"),
        ("hour record, canonical CBOR", f"{f['hour_record_bytes']} B"),
    ]
    for name, value in rows:
        print(f"{name:32} {value:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
