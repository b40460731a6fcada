"""`cemtool decode` on flash images written by the real firmware: rows, damage, --stats."""
import json
import random

from click.testing import CliRunner

from cemtool.cli import main
from test_flashimage import load, minute


def run(*args):
    return CliRunner().invoke(main, ["decode", *args])


def test_image_rows_are_the_records_the_firmware_holds(tmp_path):
    rnd = random.Random(11)
    path, held = load(tmp_path, [minute(i, rnd) for i in range(120)])
    res = run(str(path))
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [r[1] for r in held]
    assert rows[0]["kind"] == "minute" and rows[0]["co2_pct"] == held[0][8] / 100


def test_damaged_image_prints_the_good_records_then_one_line_per_problem(tmp_path):
    rnd = random.Random(12)
    path, held = load(tmp_path, [minute(i, rnd) for i in range(300)])
    data = bytearray(path.read_bytes())
    data[3 * 512 + 100] ^= 0x10  # bit rot in a sealed sector
    path.write_bytes(bytes(data))
    res = run(str(path))
    assert res.exit_code == 1
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows and len(rows) < len(held)
    [err] = res.stderr.strip().splitlines()
    assert err.startswith("error: log 1, block 3") and "CRC mismatch" in err
    assert "Traceback" not in res.output


def test_stats_text_and_json(tmp_path):
    rnd = random.Random(13)
    path, _ = load(tmp_path, [minute(i, rnd) for i in range(100)])
    res = run("--stats", str(path))
    assert res.exit_code == 0 and "newest 100" in res.stdout and "erase counts" in res.stdout
    res = run("--stats", "--json", str(path))
    [log] = json.loads(res.stdout)["logs"]
    assert log["newest"] == 100 and log["acked"] == 50 and log["records"] == 100


def test_stats_on_a_record_stream_is_a_usage_error(tmp_path):
    stream = tmp_path / "records.cbor"
    stream.write_bytes(bytes.fromhex("8f01"))
    res = run("--stats", str(stream))
    assert res.exit_code == 2 and "not a flash image" in res.output
