"""Board profiles: every reference resolves, logs fit their flash, and the drivers accept the settings."""
import json
from pathlib import Path

import pytest

import fwtest

BOARDS = sorted((Path(__file__).resolve().parent.parent / "boards").glob("*.json"))
KINDS = {"modbus_co2", "gss_co2", "sdp", "loop_4_20", "max31865", "bmp280"}
QUANTITIES = {"co2", "dp", "temp", "ps", "pa", "xsw"}


def profiles():
    return {p.stem: json.loads(p.read_text()) for p in BOARDS}


@pytest.mark.parametrize("name", [p.stem for p in BOARDS])
def test_references_resolve(name):
    prof = profiles()[name]
    buses = prof["buses"]
    assert {"co2", "dp", "temp"} <= set(prof["sensors"]) <= QUANTITIES
    for entry in prof["sensors"].values():
        assert entry["driver"] in KINDS
        assert entry["bus"] in buses
        if "cs" in entry:
            assert buses[entry["cs"]]["kind"] == "pin"
    for entry in buses.values():
        assert entry.get("via") is None or buses[entry["via"]]["kind"] == "bridge"
    for log in ("minute", "long"):
        assert prof["logs"][log]["flash"] in prof["flash"]
    for section in ("modem", "rs485"):
        if section in prof:
            assert prof[section]["uart"] in buses and buses[prof[section]["uart"]]["kind"] == "uart"


def test_esp32_logs_fit_the_partition_table():
    prof = profiles()["esp32_4g"]
    rows = [line.split(",") for line in (BOARDS[0].parent / "esp32_partitions.csv").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    table = {r[0].strip(): (int(r[3], 16), int(r[4], 16)) for r in rows}
    label = prof["flash"]["log"]["label"]
    blocks = table[label][1] // 4096
    spans = sorted((e["first_block"], e["first_block"] + e["blocks"]) for e in prof["logs"].values())
    assert spans[0][0] == 0 and spans[0][1] == spans[1][0] and spans[1][1] <= blocks


def test_rp2040_regions_fit_the_storage_area_without_overlap():
    prof = profiles()["pico_rs485"]
    storage = 1408 * 1024  # MicroPython's storage area on a 2 MB Pico (docs/storage.md)
    regions = sorted((f["start"], f["start"] + f["length"]) for f in prof["flash"].values())
    assert regions[0][0] >= 128 * 1024  # the filesystem keeps the first 128 KiB
    assert all(a[1] <= b[0] for a, b in zip(regions, regions[1:]))
    assert regions[-1][1] <= storage and all((e - s) % 4096 == 0 for s, e in regions)


def test_the_drivers_accept_every_profiles_settings():
    entries = [(name, q, e["driver"], e.get("cfg", {}))
               for name, prof in profiles().items() for q, e in prof["sensors"].items()]
    entries += [(name, "co2", prof["gss_co2"]["driver"], prof["gss_co2"]["cfg"])
                for name, prof in profiles().items() if "gss_co2" in prof]
    script = ("from cemt.sensors import make\nfrom cemt.board.clock import VirtualClock\n"
              "from cemt.board.unix import Pin\nc = VirtualClock(0)\n")
    for _, _, kind, cfg in entries:
        script += f"make({kind!r}, {cfg!r}, None, c, Pin('cs'))\n"
    script += "print('ok')\n"
    proc = fwtest.run_micropython(["-c", script], mode="mpy", heap="128K")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
