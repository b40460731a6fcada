"""Dump throughput: records per second that ``cemtool dump`` moves over the USB command link.

    python tools/bench/dump.py [--json] [--records N] [--paced-records N]

The device is the real dispatcher and console (``cemt.rpc``, ``cemt.console``, deployed .mpy)
under MicroPython serving a minute log (tests/fw/cli_device_node.py, records made from their
seq as a ring log hands them out); the host is ``cemtool.device.dump`` writing CBOR to a file,
as ``cemtool dump`` does. Two links: a pty relay that passes bytes as fast as they come
(unpaced), and one that holds every byte to 10 bits at 115200 baud (a USB-UART bridge at that
rate; native USB CDC is faster). With --json, one object: unpaced_records_per_s,
paced_records_per_s, wire_bytes_per_record, paced_link_use (share of the baud rate used).
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import fwtest  # noqa: E402
from cemtool import device as dv  # noqa: E402
from cemtool.link import Link, LinkTimeout, SerialTransport  # noqa: E402
from cemtool.sim.pty import Pty  # noqa: E402

BAUD = 115200


class Relay:
    """Bytes between two ptys, each way at most ``baud`` / 10 bytes a second (0: unpaced)."""

    def __init__(self, baud: int = 0) -> None:
        self.device, self.host = Pty(), Pty()
        self.rate = baud / 10
        self.bytes_to_host = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.device.master, selectors.EVENT_READ, (self.device, self.host))
        sel.register(self.host.master, selectors.EVENT_READ, (self.host, self.device))
        due = time.monotonic()
        while not self._stop:
            for key, _ in sel.select(0.2):
                src, dst = key.data
                # small chunks when paced, so the sender feels the line's speed
                data = src.read(64 if self.rate else 65536)
                if not data:
                    continue
                if src is self.device:
                    self.bytes_to_host += len(data)
                if self.rate:
                    due = max(due, time.monotonic()) + len(data) / self.rate
                    time.sleep(max(0.0, due - time.monotonic()))
                dst.write(data)
        sel.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.device.close()
        self.host.close()


def measure(records: int, baud: int) -> dict:
    relay = Relay(baud)
    fd = os.open(relay.device.path, os.O_RDWR | os.O_NOCTTY)
    proc = subprocess.Popen(
        [fwtest.tool("micropython"), "-X", "heapsize=96K", "tests/fw/cli_device_node.py",
         str(records), "12000", "0"],
        stdin=fd, stdout=fd, stderr=fd, env=fwtest.micropython_env("mpy"), cwd=fwtest.ROOT)
    os.close(fd)
    try:
        link = Link(SerialTransport(relay.host.path), timeout=5)
        deadline = time.monotonic() + 20
        while True:
            try:
                link.probe()
                break
            except LinkTimeout:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the device did not start")
        with tempfile.TemporaryFile() as out:
            wire0 = relay.bytes_to_host
            s = dv.dump(link, "minute", 0, dv.DumpWriter(out, "cbor"))
            wire = relay.bytes_to_host - wire0
            size = out.tell()
        link.close()
    finally:
        proc.kill()
        proc.wait()
        relay.close()
    if s.records != records:
        raise SystemExit(f"dumped {s.records} of {records} records")
    return {"records": s.records, "seconds": s.seconds, "records_per_s": s.rate,
            "file_bytes_per_record": size / records, "wire_bytes_per_record": wire / records,
            "link_use": wire * 10 / baud / s.seconds if baud else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--records", type=int, default=20000, help="records of the unpaced run")
    ap.add_argument("--paced-records", type=int, default=3000,
                    help="records of the run at 115200 baud")
    args = ap.parse_args()
    fwtest.compile_firmware()
    fast = measure(args.records, 0)
    paced = measure(args.paced_records, BAUD)
    figures = {"unpaced_records_per_s": round(fast["records_per_s"]),
               "paced_records_per_s": round(paced["records_per_s"]),
               "baud": BAUD,
               "wire_bytes_per_record": round(paced["wire_bytes_per_record"], 1),
               "file_bytes_per_record": round(paced["file_bytes_per_record"], 1),
               "paced_link_use": round(paced["link_use"], 3)}
    if args.json:
        print(json.dumps(figures))
        return 0
    rows = [("link", "records", "seconds", "records/s", "wire B/record"),
            ("pty, unpaced", fast["records"], f"{fast['seconds']:.2f}",
             f"{fast['records_per_s']:.0f}", f"{fast['wire_bytes_per_record']:.1f}"),
            (f"{BAUD} baud", paced["records"], f"{paced['seconds']:.2f}",
             f"{paced['records_per_s']:.0f}", f"{paced['wire_bytes_per_record']:.1f}")]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    print(f"at {BAUD} baud the dump uses {paced['link_use']:.0%} of the line "
          f"({figures['file_bytes_per_record']} bytes a record in the CBOR file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
