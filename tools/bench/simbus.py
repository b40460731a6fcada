"""Micro-benchmark of the simulator's emulated exchanges: the sim bus bridge and the UART emulators.

A MicroPython process (the real device-side code) makes N exchanges of each kind against the host
emulators served by ``cemtool.sim.pty.Hub``; the table gives wall time per exchange as the device
sees it and the host process's CPU time per exchange (everything but the device).

    python tools/bench/simbus.py [--n 5000] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "host")]

import fwtest  # noqa: E402
from cemtool.sim import scenario  # noqa: E402
from cemtool.sim.emulators.gss import GssAnalyser  # noqa: E402
from cemtool.sim.emulators.modbus import ModbusAnalyser  # noqa: E402
from cemtool.sim.emulators.sdp3x import SDP3x  # noqa: E402
from cemtool.sim.pty import Hub  # noqa: E402
from cemtool.sim.simbus import SimBus, World, frame  # noqa: E402

CASES = {
    "time_barrier": "clock = simbus.SimClock(bus)\ndef op():\n    clock.sleep_ms(1000)\n",
    "i2c_read_sdp": ("i2c = simbus.I2C(bus)\ni2c.writeto(0x25, b'\\x36\\x15')\nb = bytearray(9)\n"
                     "def op():\n    i2c.readfrom_into(0x25, b)\n"),
    "uart_gss_z": ("u = unix.UART(GSS)\nb = bytearray(16)\n"
                   "def op():\n    u.write(b'Z\\r\\n')\n    n = 0\n"
                   "    for _ in range(50):\n        n += u.readinto(b, 10 - n) or 0\n        if n >= 10:\n            return\n"
                   "    raise OSError('no reply')\n"),
    "uart_modbus_read": ("u = unix.UART(MB)\nq = bytes((0xfe, 4, 0, 0, 0, 4, 0xe5, 0xc6))\n"
                         "b = bytearray(16)\n"
                         "def op():\n    u.write(q)\n    n = 0\n"
                         "    for _ in range(50):\n        n += u.readinto(b, 13 - n) or 0\n        if n >= 13:\n            return\n"
                         "    raise OSError('no reply')\n"),
}


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_case(name: str, body: str, n: int, paths: dict) -> dict:
    code = ("import time\nfrom cemt.board import simbus, unix\n"
            f"bus = simbus.Bus({paths['bus']!r})\nGSS = {paths['gss']!r}\nMB = {paths['mb']!r}\n"
            + body +
            f"op()\nt0 = time.ticks_us()\nfor _ in range({n}):\n    op()\n"
            "print(time.ticks_diff(time.ticks_us(), t0))\n")
    c0 = cpu()
    proc = fwtest.run_micropython(["-c", code], timeout=120)
    host_cpu = cpu() - c0
    if proc.returncode:
        raise SystemExit(f"{name}: device failed: {proc.stderr.strip().splitlines()[-1:]}")
    wall_us = int(proc.stdout.split()[-1]) / n
    return {"wall_us": round(wall_us, 1), "host_cpu_us": round(host_cpu / n * 1e6, 1)}


def dispatch_only(world: World, n: int) -> float:
    """Host CPU of decoding, dispatching and encoding one I2C read, without any pty."""
    import time
    bus = SimBus(world)
    bus.attach_i2c(0x25, SDP3x(world))
    bus.i2c[(0, 0x25)].write(b"\x36\x15")
    bus.send = lambda data: None
    req = frame(0x11, bytes((0, 0x25, 9)))
    t0 = time.process_time()
    for _ in range(n):
        bus.feed(req)
    us = (time.process_time() - t0) / n * 1e6
    bus.close()
    return round(us, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    world = World(scenario.load("constant"))
    hub = Hub().start()
    bus = hub.add(SimBus(world))
    bus.attach_i2c(0x25, SDP3x(world))
    gss = hub.add(GssAnalyser(world))
    mb = ModbusAnalyser(world, {"mul": 10, "div": 1})
    hub.call(mb.start)
    paths = {"bus": bus.path, "gss": gss.path, "mb": mb.path}
    try:
        results = {name: run_case(name, body, args.n if "modbus" not in name else max(args.n // 5, 200), paths)
                   for name, body in CASES.items()}
    finally:
        hub.call(mb.stop)
        hub.stop()
    results["dispatch_only_i2c_read"] = {"wall_us": None, "host_cpu_us": dispatch_only(World(world.scenario), args.n)}
    if args.json:
        print(json.dumps({f"{k}_{m}": v[m] for k, v in results.items() for m in ("wall_us", "host_cpu_us")
                          if v[m] is not None}))
        return 0
    print(f"{'exchange':26} {'wall us/exchange':>17} {'host CPU us/exchange':>21}")
    for name, r in results.items():
        wall = "-" if r["wall_us"] is None else f"{r['wall_us']:.1f}"
        print(f"{name:26} {wall:>17} {r['host_cpu_us']:>21.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
