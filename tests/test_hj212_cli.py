"""cemtool hj212 export / parse on a real simulator database (cemtool sim run --hours 2)."""
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cemtool import hj212
from cemtool.cli import main
from cemtool.records import HOUR, MINUTE
from cemtool.store import Store

MN = "SIM01000000000000000000A"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    subprocess.run([sys.executable, "-m", "cemtool", "sim", "run", "--out", str(out),
                    "--hours", "2"], check=True, capture_output=True, timeout=300)
    (out / "hj212-site.toml").write_text(f"""
[enterprise]
name = "Test"
code = "T1"
[[facility]]
id = "F1"
  [[facility.source]]
  id = "S1"
  kind = "combustion"
  fuel = "coal"
  duct_area_m2 = 2.0
  allowance_t = 1000
    [[facility.source.point]]
    id = "P1"
    mn = "{MN}"
    devices = ["sim-01"]
""")
    return out


def run(*args, input=None):
    return CliRunner().invoke(main, ["hj212", *map(str, args)], input=input)


@pytest.mark.parametrize("kind,code", [("minute", MINUTE), ("hour", HOUR)])
def test_export_of_a_simulated_day_parses_and_keeps_mass(sim, tmp_path, kind, code):
    out = tmp_path / f"{kind}.hj212"
    result = run("export", "--db", sim / "receiver.sqlite", "--kind", kind,
                 "--site", sim / "hj212-site.toml", "--out", out)
    assert result.exit_code == 0, result.output
    with Store(sim / "receiver.sqlite", readonly=True) as db:
        records = [r for _, r in db.records("sim-01", code) if r.tq]
    lines = out.read_bytes().split(b"\r\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(records) > 0
    msgs = [hj212.parse(line + b"\r\n") for line in lines[:-1]]
    assert {(m.mn, m.st, m.cn, m.flag) for m in msgs} == {(MN, "31", hj212.CN_OF_KIND[code], 5)}
    assert len({m.qn for m in msgs}) == len(msgs)
    # -Cou of CO2 is the record's mass to the 10 g, so the sums agree exactly
    cou = sum(Decimal(m.get("a05001-Cou")) for m in msgs)
    assert cou * 100 == sum(r.fields["mass"] for r in records)
    for m, r in zip(msgs, records):
        assert hj212.period_values(m)["t"] == r.t and hj212.period_values(m)["co2"] == r.fields["co2"]
    parsed = run("parse", out)
    assert parsed.exit_code == 0
    rows = [json.loads(line) for line in parsed.output.splitlines()]
    assert len(rows) == len(msgs) and rows[0]["cp"][0] == {"DataTime": msgs[0].get("DataTime")}


def test_export_period_and_2025(sim, tmp_path):
    result = run("export", "--db", sim / "receiver.sqlite", "--kind", "minute", "--version",
                 "2025", "--mn", "sim-01=ABC123", "--from", "2025-01-01T00:30:00Z",
                 "--to", "2025-01-01T00:40:00Z", "--no-ack")
    assert result.exit_code == 0
    msgs = [hj212.parse(line + b"\r\n") for line in result.stdout_bytes.split(b"\r\n")[:-1]]
    assert len(msgs) == 10 and {(m.flag, m.mn) for m in msgs} == {(8, "ABC123")}
    assert [m.get("DataTime") for m in msgs][0] == "20250101083000"


def test_parse_stops_at_a_bad_frame_with_one_line(sim, tmp_path):
    out = tmp_path / "h.hj212"
    assert run("export", "--db", sim / "receiver.sqlite", "--kind", "minute", "--out", out,
               "--to", "2025-01-01T00:05:00Z").exit_code == 0
    data = bytearray(out.read_bytes())
    second = data.index(b"##", 1)
    data[second + 40] ^= 1  # one bit of the second frame's data segment
    result = run("parse", "-", input=bytes(data))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.strip() == (f"error: frame 2 (byte {second}): CRC mismatch: "
                                     f"{result.stderr.split('CRC mismatch: ')[1].strip()}")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,code,text", [
    (["export", "--db", "/nonexistent.sqlite", "--kind", "hour"], 2, "no database"),
    (["export", "--db", "{db}", "--kind", "hour", "--mn", "sim-01"], 2, "DEVICE=MN"),
    (["export", "--db", "{db}", "--kind", "hour", "--mn", "sim-01=bad mn!"], 1, "MN="),
    (["export", "--db", "{db}", "--kind", "hour", "--from", "yesterday"], 2, "YYYY-MM-DD"),
    (["export", "--db", "{db}", "--kind", "hour", "--site", "/nonexistent.toml"], 2, "--site"),
    (["export", "--db", "{db}", "--kind", "week"], 2, "week"),
    (["parse", "/nonexistent.hj212"], 2, "cannot read"),
    (["forward", "--db", "{db}", "--to", "host:99999"], 2, "HOST:PORT"),
])
def test_bad_input_is_one_line_without_traceback(sim, args, code, text):
    args = [a.replace("{db}", str(sim / "receiver.sqlite")) for a in args]
    result = run(*args)
    assert result.exit_code == code, result.output
    assert text in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_site_without_the_device_is_refused(sim, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text((sim / "hj212-site.toml").read_text().replace('"sim-01"', '"other"'))
    result = run("export", "--db", sim / "receiver.sqlite", "--kind", "hour", "--site", site)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: device sim-01 has no monitoring point")
