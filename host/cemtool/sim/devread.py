"""Reading the sim board's ring logs with the firmware's own reader, under MicroPython.

The host's reader (``cemtool.flashimage``) is an independent implementation of docs/storage.md;
this one runs ``cemt.ringlog`` itself over a copy of the image (booting a log may seal a torn
sector, and the image must not change under the user), so the two can be checked against each
other and the simulator has the device's own view of what it committed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cemtool import build, records

SCRIPT = """
import sys, binascii
from cemt.board.norflash import NorFlash
from cemt.ringlog import RingLog
from cemt import records
dev = NorFlash(sys.argv[1], int(sys.argv[2]))
for spec in sys.argv[3:]:
    first, blocks, log_id = [int(x) for x in spec.split(",")]
    log = RingLog(dev, first, blocks, log_id)
    for rec in log.iter_from(log.first_seq):
        print(binascii.hexlify(records.encode(rec)).decode())
"""


class DeviceReadError(Exception):
    """The firmware's reader failed; the message is one line."""


def read_logs(image: Path, profile: dict, lib: Path, heap: str = "512K") -> list[records.Record]:
    """Every record of the profile's logs in ``image``, as the firmware reads them."""
    flash = next(iter(profile["flash"].values()))
    specs = [f"{e.get('first_block', 0)},{e['blocks']},{log_id}"
             for log_id, e in ((1, profile["logs"]["minute"]), (2, profile["logs"]["long"]))]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "flash.img"
        shutil.copyfile(image, copy)
        if Path(str(image) + ".erases").exists():
            shutil.copyfile(str(image) + ".erases", str(copy) + ".erases")
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(lib.resolve())]))
        proc = subprocess.run([build.tool("micropython"), "-X", f"heapsize={heap}", "-c", SCRIPT,
                               str(copy), str(flash.get("block_size", 4096)), *specs],
                              capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise DeviceReadError(f"the firmware could not read {image}: {last[0]}")
    data = b"".join(bytes.fromhex(line) for line in proc.stdout.split())
    return list(records.decode_stream(data))


def profile_of(out: Path) -> dict:
    return json.loads((out / "fs" / "board.json").read_text())
