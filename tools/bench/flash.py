"""Flash time: the whole firmware deployed by cemtool.deploy to a fresh MicroPython board, then again.

    python tools/bench/flash.py [--json] [--board sim]

The board is the MicroPython unix port under ``micropython -i`` behind a relay pty (what
``cemtool flash-runtime`` leaves: MicroPython and an empty filesystem), so the figures are the
deploy's own cost over an unthrottled link: "cold" copies every file to the fresh board, "warm"
flashes again with nothing changed (one hash exec, nothing copied). Each flash's bytes both ways
on the wire are counted; a 115200-baud UART would need at least wire bytes x 10 / 115200 seconds
for them (a lower bound: no turnaround time counted). Compiling with an empty cache is timed
apart. With --json, one object: compile_s, cold_s, warm_s, files, bytes, cold_wire_bytes,
warm_wire_bytes, cold_115200_s, warm_115200_s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import fwtest  # noqa: E402
from cemtool import build, deploy  # noqa: E402
from cemtool.sim.rs485 import BusHub  # noqa: E402

BAUD = 115200


class Counted(deploy.Device):
    """The deploy's adapter with its serial traffic counted."""
    wire = 0

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        ser = self.t.serial
        write, read = ser.write, ser.read

        def counted_write(data):
            Counted.wire += len(data)
            return write(data)

        def counted_read(n=1):
            data = read(n)
            Counted.wire += len(data)
            return data
        ser.write, ser.read = counted_write, counted_read


def flash_once(port: str, board: str | None) -> tuple[deploy.Result, int]:
    Counted.wire = 0
    result = deploy.flash(port, board, reset=False)
    return result, Counted.wire


def measure(board: str) -> dict:
    arch = deploy.arch_of(deploy.load_board(board), board)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build.build(arch, cache=Path(tmp) / "cache")
        compile_s = time.perf_counter() - t0
        fs = Path(tmp) / "fs"
        fs.mkdir()
        hub = BusHub(1, collide=False).start()
        fd = os.open(hub.device_paths[0], os.O_RDWR | os.O_NOCTTY)
        proc = subprocess.Popen([fwtest.tool("micropython"), "-X", "heapsize=256K", "-i"],
                                stdin=fd, stdout=fd, stderr=fd, cwd=fs)
        os.close(fd)
        deploy.Device = Counted
        try:
            cold, cold_wire = flash_once(hub.master_path, board)
            warm, warm_wire = flash_once(hub.master_path, None)
        finally:
            proc.kill()
            proc.wait()
            hub.stop()
    return {"compile_s": round(compile_s, 3), "cold_s": cold.seconds, "warm_s": warm.seconds,
            "files": cold.copied, "bytes": cold.bytes, "cold_wire_bytes": cold_wire,
            "warm_wire_bytes": warm_wire, "cold_115200_s": round(cold_wire * 10 / BAUD, 2),
            "warm_115200_s": round(warm_wire * 10 / BAUD, 2), "warm_copied": warm.copied}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    ap.add_argument("--board", default="sim", help="board profile to flash (boards/NAME.json)")
    args = ap.parse_args()
    try:
        f = measure(args.board)
    except deploy.DeployError as e:
        raise SystemExit(f"error: {e}")
    if f["warm_copied"]:
        raise SystemExit(f"error: the warm flash copied {f['warm_copied']} files")
    if args.json:
        f.pop("warm_copied")
        print(json.dumps(f))
        return 0
    print(f"cemtool flash, board profile {args.board!r}, to MicroPython (unix port) behind a pty")
    rows = [
        ("compile, empty cache", f"{f['compile_s']:.2f} s", ""),
        ("cold flash (fresh board)", f"{f['cold_s']:.2f} s",
         f"{f['files']} files, {f['bytes']:,} B; {f['cold_wire_bytes']:,} B on the wire"),
        ("warm flash (nothing changed)", f"{f['warm_s']:.2f} s",
         f"0 files; {f['warm_wire_bytes']:,} B on the wire"),
        ("cold at 115200 baud (at least)", f"{f['cold_115200_s']:.1f} s", "wire bytes x 10 / 115200"),
        ("warm at 115200 baud (at least)", f"{f['warm_115200_s']:.1f} s", ""),
    ]
    for name, value, note in rows:
        print(f"  {name:<32} {value:>9}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
