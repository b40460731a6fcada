"""The app as an RS485 slave: real nodes (main.py, .mpy) on a simulated bus, polled by `cemtool poll`.

Each node is the deployed firmware with a profile that fits no sensors (its samples are invalid, its
minute records still come every minute) and a clock 600 times faster than real time, so records
pile up in seconds.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cemtool import auth, build, keys
from cemtool.sim.rs485 import BusHub
from cemtool.store import Store

BAUD = 115200


def profile(path: str) -> dict:
    return {
        "name": "bus-node", "port": "unix",
        "clock": {"start": 1767225600, "speed": 600},
        "buses": {"rs485_uart": {"kind": "uart", "path": path, "baudrate": BAUD, "timeout": 20},
                  "rs485_de": {"kind": "pin", "ident": "de", "value": 0}},
        "sensors": {},
        "flash": {"main": {"path": "flash.img", "block_size": 4096, "blocks": 24}},
        "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 12},
                 "long": {"flash": "main", "first_block": 12, "blocks": 12}},
        "rs485": {"uart": "rs485_uart", "de": "rs485_de", "addr": 0, "baudrate": BAUD},
    }


@pytest.fixture
def nodes(tmp_path):
    lib = build.compile_firmware(tmp_path / "lib")
    hub = BusHub(2, seed=3).start()
    ring = {}
    procs = []
    try:
        for addr in (1, 2):
            fs = tmp_path / f"node{addr}"
            build.install_sources_only(fs)
            prof = profile(hub.device_paths[addr - 1])
            prof["rs485"]["addr"] = addr
            (fs / "board.json").write_text(json.dumps(prof))
            (fs / "config.json").write_text(json.dumps({"device": {"id": f"node-{addr}"}}))
            ring[f"node-{addr}"] = key = auth.new_key()
            (fs / "device.key").write_bytes(key)
            env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(lib)]))
            procs.append(subprocess.Popen([build.tool("micropython"), "-X", "heapsize=256K",
                                           "main.py"], cwd=fs, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT))
        keys.save(tmp_path / "keys.json", ring)
        time.sleep(4)  # about 40 simulated minutes
        for p in procs:
            assert p.poll() is None, p.stdout.read().decode()
        yield hub, tmp_path
    finally:
        for p in procs:
            p.kill()
            p.wait()
        hub.stop()


def poll(hub, tmp: Path, *extra):
    return subprocess.run([sys.executable, "-m", "cemtool", "poll", "--port", hub.master_path,
                           "--addr", "1-2", "--db", str(tmp / "db.sqlite"), "--baud", str(BAUD),
                           "--timeout", "2", "--keys", str(tmp / "keys.json"), "--once", *extra],
                          capture_output=True, text=True, timeout=120)


def stored(tmp: Path) -> dict:
    out = {}
    with Store(tmp / "db.sqlite") as store:
        for dev, rec in store.records():
            out.setdefault((dev, rec.kind), []).append(rec.seq)
    return out


def test_app_nodes_serve_their_records_once_over_rs485(nodes):
    hub, tmp = nodes
    res = poll(hub, tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    got = stored(tmp)
    for dev in ("node-1", "node-2"):
        minutes = sorted(got[(dev, 1)])
        assert len(minutes) >= 20 and minutes == list(range(1, len(minutes) + 1))
        assert got[(dev, 16)] == [1]  # the boot record, from the long log
    assert "acked" in res.stdout  # the keys let the master move each node's cursor
    again = poll(hub, tmp)
    assert again.returncode == 0, again.stdout + again.stderr
    after = stored(tmp)
    for key, seqs in after.items():
        assert len(seqs) == len(set(seqs))  # exactly once, whatever the second poll found
        assert seqs[:len(got.get(key, []))] == got.get(key, [])
