"""``cemtool decode`` and ``cemtool --version``: rows, formats, and what happens on bad input."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cemtool import __version__
from cemtool.cli import main
from cemtool.records import CSV_COLUMNS, Record
from test_records import VALID

STREAM = b"".join(bytes.fromhex(v["hex"]) for v in VALID)
ROWS = [Record.from_list(v["values"]).row() for v in VALID]
CEMTOOL = Path(sys.executable).parent / "cemtool"


@pytest.fixture
def stream_file(tmp_path):
    def write(data: bytes) -> str:
        path = tmp_path / "records.cbor"
        path.write_bytes(data)
        return str(path)
    return write


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_jsonl_is_the_default(stream_file):
    result = run("decode", stream_file(STREAM))
    assert result.exit_code == 0 and result.stderr == ""
    assert [json.loads(line) for line in result.stdout.splitlines()] == ROWS


def test_csv(stream_file):
    result = run("decode", "--format", "csv", stream_file(STREAM))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["kind"] for r in rows] == [row["kind"] for row in ROWS]
    assert rows[0]["co2_kg"] == "196.35" and rows[0]["t"] == "2026-01-01T00:01:00Z"


def test_stdin():
    result = run("decode", "-", input=STREAM)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(VALID)


def test_empty_input_prints_nothing():
    assert run("decode", "-", input=b"").stdout == ""
    result = run("decode", "--format", "csv", "-", input=b"")
    assert result.exit_code == 0 and result.stdout == ",".join(CSV_COLUMNS) + "\n"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_truncated_tail_keeps_the_good_rows(stream_file, fmt):
    good = b"".join(bytes.fromhex(v["hex"]) for v in VALID[:3])
    result = run("decode", "--format", fmt, stream_file(good + bytes.fromhex(VALID[3]["hex"])[:7]))
    assert result.exit_code == 1
    assert result.stderr == f"error: corrupt record at byte {len(good)}: truncated\n"
    lines = result.stdout.splitlines()
    assert len(lines) == 3 + (fmt == "csv")
    if fmt == "jsonl":
        assert [json.loads(line) for line in lines] == ROWS[:3]


def test_corrupt_record_in_the_middle_stops_there(stream_file):
    first = bytes.fromhex(VALID[0]["hex"])
    bad = bytearray(first)
    bad[1] = 0x04  # no such kind
    result = run("decode", stream_file(first + bad + first))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == f"error: corrupt record at byte {len(first)}: unknown record kind 4\n"


def test_missing_file_is_a_usage_error(tmp_path):
    result = run("decode", str(tmp_path / "nope.cbor"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "No such file" in result.stderr
    assert "Traceback" not in result.output


def test_bad_format_is_a_usage_error(stream_file):
    result = run("decode", "--format", "xml", stream_file(STREAM))
    assert result.exit_code == 2 and result.stdout == ""


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout == f"cemtool, version {__version__}\n"
    assert __version__ == "0.1.0"


def test_installed_script_on_garbage(stream_file):
    path = stream_file(bytes.fromhex(VALID[0]["hex"]) + b"\xf9\x3c\x00garbage")
    proc = subprocess.run([str(CEMTOOL), "decode", path], capture_output=True, text=True)
    assert proc.returncode == 1
    assert len(proc.stdout.splitlines()) == 1
    err = proc.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("error: corrupt record at byte 38: ")


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "cemtool", "decode", "-"],
                          input=STREAM, capture_output=True)
    assert proc.returncode == 0 and proc.stdout.count(b"\n") == len(VALID)
