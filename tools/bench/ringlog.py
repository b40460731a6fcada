"""Benchmark of the ring log under MicroPython: storage cost, speed, wear, boot scan, power cuts.

Runs ``tools/ringlog_driver.py`` on the deployed .mpy firmware. A 1 MiB minute log (256 blocks of
4 KiB: two state blocks, 254 sectors, one kept erased ahead by maintain()) is filled past its
capacity with realistic minute records (tests/fw/ringlog_data.py) and an ack a day behind
(acks and maintain() once an hour);
bytes per record = the region's bytes / the records it holds then, all overhead included.
The same is done at other noise levels; then the boot scan of the full image is timed and a
batch of random power cuts is run.

    python tools/bench/ringlog.py [--cuts 10000] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import fwtest  # noqa: E402

BLOCKS = 256           # 1 MiB of 4 KiB blocks
MORE = 10_000          # records appended after the ring first wrapped
MINUTES_PER_YEAR = 525_600
NOISES = (0, 50, 100, 200, 400)  # percent of the nominal noise of ringlog_data


def drive(*args: str, heap: str = "64K") -> dict[str, int]:
    proc = fwtest.run_micropython(["tools/ringlog_driver.py", *args], mode="mpy", heap=heap)
    if proc.returncode:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        sys.exit(f"ringlog driver failed: {lines[-1]}")
    return {k: int(v) for k, v in (kv.split("=") for kv in proc.stdout.split())}


def fill(image: Path, noise: int) -> dict[str, int]:
    return drive("fill", str(image), str(BLOCKS), str(noise), str(MORE), "1440", heap="1300K")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cuts", type=int, default=10_000, help="random power cuts to run")
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    args = ap.parse_args(argv)
    fwtest.compile_firmware()
    region = BLOCKS * 4096
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "flash.img"
        sweep = {}
        for noise in NOISES:
            sweep[noise] = fill(image, noise)
        nominal = fill(image, 100)  # again, leaving its image for the boot scan
        boot = drive("boot", str(image), str(BLOCKS))
    cuts = drive("cuts", str(args.cuts), "1", heap="128K")  # CI runs 2000 of them at 64K
    bpr = region / nominal["held"]
    sectors = BLOCKS - 2
    data_per_sector = 4096 - 40
    figures = {
        "bytes_per_minute_record": round(bpr, 2),
        "appends_per_s": round(nominal["appended"] / (nominal["us"] / 1e6)),
        "days_per_mb": round(2**20 / bpr / 1440, 1),
        "erase_cycles_per_sector_year": round(MINUTES_PER_YEAR * bpr / (sectors * data_per_sector), 2),
        "boot_scan_s_1mb": round(boot["us"] / 1e6, 4),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print("ring log, MicroPython unix port, deployed .mpy, NOR simulator")
    print(f"  bytes per minute record (1 MiB log, all overhead)  {figures['bytes_per_minute_record']:>10}")
    print(f"  appends per second (flash in RAM)                  {figures['appends_per_s']:>10}")
    print(f"  days of minute records per MiB                     {figures['days_per_mb']:>10}")
    print(f"  erase cycles per sector per year (1 record/min)    "
          f"{figures['erase_cycles_per_sector_year']:>10}")
    print(f"  state-block erase cycles per year (1 ack/min)      "
          f"{MINUTES_PER_YEAR / (4096 // 32) / 2:>10.0f}")
    print(f"  boot scan of a full 1 MiB log (s, file image)      {figures['boot_scan_s_1mb']:>10}")
    print(f"  power cuts survived (append/ack/maintain)          {cuts['append'] + cuts['ack'] + cuts['maintain']:>10}"
          f"   ({cuts['append']}/{cuts['ack']}/{cuts['maintain']}, {cuts['records']} records,"
          f" {cuts['dropped']} dropped and counted)")
    print("\n  noise (% of nominal)   bytes/record   days/MiB")
    for noise, got in sweep.items():
        b = region / got["held"]
        print(f"  {noise:>20}   {b:>12.2f}   {2**20 / b / 1440:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
