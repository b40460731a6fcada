"""Flash time: the whole firmware deployed by `cemtool flash` to the simulator's board, then again.

    python tools/bench/flash.py [--json] [--board sim]

The board is `cemtool sim board --bare` (cemtool.sim.board.Board): MicroPython and an empty
filesystem, as `cemtool flash-runtime` leaves a board, its USB port a pty that behaves like a
board's for mpremote. Each link speed gets a fresh board: "cold" copies every file to it, "warm"
flashes again with nothing changed (one hash exec, nothing copied). Both flash as `cemtool flash`
does, reset and the wait for the app's answer included, and count the bytes both ways on the
wire. The links: the pty unpaced, and paced at 115200 baud (10 bits a byte, both ways: what a
board's UART at that rate carries). Compiling with an empty cache is timed apart; ``reset_s`` is
the warm flash's time less that of one without the reset. With --json, one object: compile_s,
files, bytes, cold_line_bound_s (the cold wire bytes at 115200 baud), then per link
(``unpaced``, ``baud_115200``) cold_s, warm_s, reset_s, cold_wire_bytes, warm_wire_bytes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from cemtool import build, deploy
from cemtool.sim.board import Board

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


def measure_link(tmp: Path, board: str, baud: int | None) -> dict:
    name = f"baud_{baud}" if baud else "unpaced"
    with Board(tmp / name, bare=True, baud=baud) as b:
        Counted.wire = 0
        cold = deploy.flash(b.port, board)
        cold_wire = Counted.wire
        Counted.wire = 0
        warm = deploy.flash(b.port, None)
        warm_wire = Counted.wire
        if warm.copied:
            raise deploy.DeployError(f"the warm flash copied {warm.copied} files")
        Counted.wire = 0
        t0 = time.perf_counter()
        deploy.flash(b.port, None, reset=False)
        no_reset = time.perf_counter() - t0
    return {"cold_s": cold.seconds, "warm_s": warm.seconds,
            "reset_s": round(max(0.0, warm.seconds - no_reset), 3),
            "cold_wire_bytes": cold_wire, "warm_wire_bytes": warm_wire,
            "files": cold.copied, "bytes": cold.bytes}


def measure(board: str) -> dict:
    arch = deploy.arch_of(deploy.load_board(board), board)
    deploy.Device = Counted
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build.build(arch, cache=Path(tmp) / "cache")
        compile_s = time.perf_counter() - t0
        links = {}
        for baud in (None, BAUD):
            f = measure_link(Path(tmp), board, baud)
            links["baud_%d" % baud if baud else "unpaced"] = f
    first = links["unpaced"]
    out = {"compile_s": round(compile_s, 3), "files": first.pop("files"), "bytes": first.pop("bytes"),
           "cold_line_bound_s": round(first["cold_wire_bytes"] * 10 / BAUD, 2)}
    links[f"baud_{BAUD}"].pop("files")
    links[f"baud_{BAUD}"].pop("bytes")
    out.update(links)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    ap.add_argument("--board", default="sim", help="board profile to flash (boards/NAME.json)")
    args = ap.parse_args()
    try:
        f = measure(args.board)
    except deploy.DeployError as e:
        raise SystemExit(f"error: {e}")
    if args.json:
        print(json.dumps(f))
        return 0
    print(f"cemtool flash, board profile {args.board!r}, to the simulator's board "
          f"(cemtool sim board --bare): {f['files']} files, {f['bytes']:,} bytes")
    print(f"  compile, empty cache: {f['compile_s']:.2f} s")
    print(f"  {'link':<14} {'cold':>8} {'warm':>8} {'reset':>8} {'cold wire':>12} {'warm wire':>10}")
    for name, label in (("unpaced", "pty, unpaced"), (f"baud_{BAUD}", f"{BAUD} baud")):
        x = f[name]
        print(f"  {label:<14} {x['cold_s']:>6.2f} s {x['warm_s']:>6.2f} s {x['reset_s']:>6.2f} s "
              f"{x['cold_wire_bytes']:>10,} B {x['warm_wire_bytes']:>8,} B")
    print(f"  {BAUD} baud carries the cold flash's wire bytes in {f['cold_line_bound_s']:.1f} s "
          "at best (10 bits a byte)")
    print("  cold: every file to a fresh board; warm: again, nothing changed; both with the reset "
          "and the wait for the app (its share: reset)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
