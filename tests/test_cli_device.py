"""The board commands end to end: cemtool info/live/dump/config/time/provision/calibrate against
the real console and dispatcher under MicroPython (tests/fw/cli_device_node.py, firmware as
deployed .mpy) behind a pty, driven through click's CliRunner as a user types them.
"""
from __future__ import annotations

import json
import stat
import threading

import pytest
from click.testing import CliRunner

from devpty import PtyDevice
from cemtool import keys, records
from cemtool.cli import main
from cemtool.link import Link, SerialTransport
from cemtool.sim.rs485 import BusHub

T0 = 1767225600


class Board(PtyDevice):
    """A MicroPython process serving the command protocol, its USB port at ``port``."""

    def __init__(self, minutes: int = 0, gas: int = 12000, noise: int = 0,
                 provisioned: bool = True, mode: bool = True) -> None:
        super().__init__(["tests/fw/cli_device_node.py", str(minutes), str(gas), str(noise),
                          str(int(provisioned)), str(int(mode))], heap="96K")
        self.port = self.path
        with Link(SerialTransport(self.port), timeout=1) as link:
            self.wait_app(link)


@pytest.fixture
def board():
    b = Board(minutes=300)
    yield b
    b.close()


def cli(*args: str, port: str | None = None):
    env = {"CEMT_PORT": port} if port else {}
    res = CliRunner().invoke(main, list(args), env=env)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def one_error_line(res, code: int = 1) -> str:
    """The one error line of a failed command (a usage error: click's usage, then that line)."""
    assert res.exit_code == code, res.output
    lines = res.output.strip().splitlines()
    assert "Traceback" not in res.output, res.output
    if code == 2:
        assert lines[0].startswith("Usage: ") and lines[-1].startswith("Error: "), res.output
        return lines[-1]
    assert len(lines) == 1, res.output
    return lines[0]


def test_info_text_and_json(board):
    res = cli("info", port=board.port)
    assert res.exit_code == 0, res.output
    text = res.output
    assert "device     dev-1" in text and "firmware   cemt 0.1.0" in text
    assert "reset      watchdog (3)" in text and "safe mode  no" in text
    assert "warnings: none" in text
    doc = json.loads(cli("info", "--json", port=board.port).output)
    assert doc["device"] == "dev-1" and doc["cfg"] == 1 and doc["alarms"] == []


def test_live_blocks_and_json_lines(board):
    res = cli("live", "--count", "2", "--interval", "0.1", port=board.port)
    assert res.exit_code == 0, res.output
    blocks = res.output.strip().split("\n\n")
    assert len(blocks) == 2
    assert "CO2" in blocks[0] and "12.13  %vol  N normal" in blocks[0]
    assert "°C" in blocks[0] and "150.0" in blocks[0]
    res = cli("live", "--count", "3", "--interval", "0.1", "--json", port=board.port)
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 3
    assert rows[0]["channels"]["co2"] == {"value": 12.13, "unit": "%vol", "status": "N"}
    assert rows[0]["channels"]["temp"]["value"] == 150.0
    assert rows[1]["t"] > rows[0]["t"]  # each read is a new sample


@pytest.mark.parametrize("fmt", ["cbor", "jsonl"])
def test_dump_writes_every_record_and_summarises(board, tmp_path, fmt):
    out = tmp_path / f"minute.{fmt}"
    res = cli("dump", "--out", str(out), "--format", fmt, "--json", port=board.port)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["records"] == 300 and summary["first"] == 1 and summary["last"] == 300
    assert summary["gaps"] == [] and summary["log_last"] == 300
    if fmt == "cbor":
        got = list(records.decode_stream(out.read_bytes()))
        assert [r.seq for r in got] == list(range(1, 301))
        assert got[9].t == T0 + 9 * 60 and got[9].fields["mass"] == 19635 + 10
        decoded = cli("decode", str(out))  # the file is what cemtool decode reads
        assert decoded.exit_code == 0 and len(decoded.output.splitlines()) == 300
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["seq"] for r in rows] == list(range(1, 301))
        assert rows[0]["kind"] == "minute" and rows[0]["t"] == "2026-01-01T00:00:00Z"
    res = cli("dump", "--out", str(out), "--since", "251", "--log", "minute", port=board.port)
    assert res.exit_code == 0
    assert res.output.splitlines()[0] == "minute: 50 records, seq 251-300, no gaps"
    res = cli("dump", "--out", str(out), "--log", "long", "--json", port=board.port)
    assert json.loads(res.output)["records"] == 3


def test_dump_to_stdout_keeps_the_summary_on_stderr(board):
    res = CliRunner().invoke(main, ["dump", "--out", "-", "--format", "jsonl", "--since", "291"],
                             env={"CEMT_PORT": board.port})
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["seq"] for x in res.stdout.splitlines()] == list(range(291, 301))
    assert res.stderr.splitlines()[0] == "minute: 10 records, seq 291-300, no gaps"


def test_dump_resumes_with_append(board, tmp_path):
    out = tmp_path / "m.cbor"
    assert cli("dump", "--out", str(out), "--since", "1", port=board.port).exit_code == 0
    head = out.read_bytes()
    cli("dump", "--out", str(out), "--since", "300", "--append", port=board.port)
    got = list(records.decode_stream(out.read_bytes()))
    assert out.read_bytes().startswith(head) and [r.seq for r in got][-2:] == [300, 300]


def test_a_board_that_vanishes_mid_dump(tmp_path):
    b = Board(minutes=400000)
    out = tmp_path / "big.cbor"
    try:
        threading.Timer(1.5, b.proc.kill).start()
        res = cli("dump", "--out", str(out), port=b.port)
    finally:
        b.close()
    line = one_error_line(res)
    got = [r.seq for r in records.decode_stream(out.read_bytes())]  # whole records only
    assert 0 < len(got) < 400000 and len(set(got)) == len(got) and min(got) == 1
    assert line.startswith(("error: records: the device stopped answering",  # mid-answer
                            "error: records: no answer from the device"))  # between requests
    # The relay drops what the host does not read in time (a loaded test machine): dump asks
    # again for what a lost frame held, so the file may be out of order; if the cut came first,
    # the line names the seqs missing from the file.
    top = max(got)
    missing = sorted(set(range(1, top)) - set(got))
    gaps = "" if not missing else " (seqs missing: "
    assert f"{out} holds {len(got)} records up to seq {top}{gaps}" in line
    assert line.endswith(f"; resume with --since {top + 1} --append")


def test_config_get_and_set(board):
    res = cli("config", "get", "edge", port=board.port)
    assert res.exit_code == 0 and "[edge]" in res.output and "kp = 8400" in res.output
    assert res.output.strip().endswith("version 1")
    res = cli("config", "set", "edge", "kp=8300", "co2_wet=true", port=board.port)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ["edge.kp: 8400 -> 8300", "edge.co2_wet: false -> true",
                                       "config version 2"]
    doc = json.loads(cli("config", "get", "--json", port=board.port).output)
    assert doc["ver"] == 2 and doc["sections"]["edge"]["kp"] == 8300
    assert set(doc["sections"]) >= {"device", "edge", "cal", "uplink"}
    res = cli("config", "set", "uplink", "host=receiver.example", port=board.port)
    assert res.exit_code == 0 and 'uplink.host: "" -> "receiver.example"' in res.output
    res = cli("config", "set", "edge", "kp=8300", port=board.port)
    assert res.output.strip() == "nothing changed (config version 3)"
    # the device's refusals, one line each
    line = one_error_line(cli("config", "set", "edge", "kp=fast", port=board.port))
    assert line == "error: edge: edge.kp must be int"
    line = one_error_line(cli("config", "set", "edge", "speed=3", port=board.port))
    assert line == "error: edge: unknown setting edge.speed"
    line = one_error_line(cli("config", "get", "nope", port=board.port))
    assert line == "error: no section 'nope' on the device"
    line = one_error_line(cli("config", "set", "edge", "kp", port=board.port), 2)
    assert "'kp' is not KEY=VALUE" in line


def test_time_get_and_sync(board):
    res = cli("time", "get", "--json", port=board.port)
    doc = json.loads(res.output)
    assert doc["tq"] == 0 and doc["t"] == T0 + 86400 and doc["offset_s"] < -1e6
    res = cli("time", "sync", port=board.port)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("clock was ") and " s behind; set to 20" in res.output
    assert int(res.output.split()[2]) > 86400  # whole seconds: the fake clock was far behind
    doc = json.loads(cli("time", "get", "--json", port=board.port).output)
    assert doc["tq"] == 1 and abs(doc["offset_s"]) < 3
    res = cli("time", "get", port=board.port)
    assert "(clock set by host)" in res.output and "of this computer's clock" in res.output


def test_provision_stores_the_key_and_never_shows_it(tmp_path):
    b = Board(provisioned=False)
    key_file = tmp_path / "receiver" / "cemtool.keys"
    key_file.parent.mkdir()
    keys.save(key_file, {"other-7": bytes(range(32))})
    try:
        res = cli("provision", "--device", "stack-01", "--site", "plant-9", "--point", "P2",
                  "--keys", str(key_file), port=b.port)
        assert res.exit_code == 0, res.output
        assert res.output.strip() == ("provisioned stack-01 (site plant-9, point P2), config "
                                      f"version 1; key saved in {key_file}")
        held = keys.load(key_file)
        assert set(held) == {"stack-01", "other-7"} and held["other-7"] == bytes(range(32))
        key = held["stack-01"]
        assert len(key) == 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        import base64
        for shown in (key.hex(), key.hex().upper(), base64.b64encode(key).decode()):
            assert shown not in res.output
        # the device took the same key: a signed ack with it is accepted
        with Link(SerialTransport(b.port), timeout=3) as link:
            assert link.call("info").ok["device"] == "stack-01"
            assert link.call("ack", {"log": "minute", "seq": 0}, key=key).ok == {"acked": 0}
        # a second provisioning needs --force
        line = one_error_line(cli("provision", "--device", "stack-02", "--site", "s",
                                  "--point", "p", "--keys", str(key_file), port=b.port))
        assert line == ("error: the board is already provisioned as stack-01: give --force to "
                        "re-key it (its old key stops working)")
        assert keys.load(key_file)["stack-01"] == key
        res = cli("provision", "--device", "stack-01", "--site", "s", "--point", "p", "--force",
                  "--keys", str(key_file), "--json", port=b.port)
        assert res.exit_code == 0 and json.loads(res.output)["device"] == "stack-01"
        assert keys.load(key_file)["stack-01"] != key
    finally:
        b.close()


def test_provision_writes_nothing_when_the_device_call_fails(tmp_path):
    key_file = tmp_path / "k.keys"
    b = Board(provisioned=False)
    b.proc.kill()
    try:
        res = cli("provision", "--device", "d1", "--site", "s", "--point", "p",
                  "--keys", str(key_file), port=b.port)
    finally:
        b.close()
    assert res.exit_code == 1 and not key_file.exists()


def test_provision_says_how_to_recover_when_the_key_file_cannot_be_written(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    key_file = folder / "k.keys"
    b = Board(provisioned=False)
    try:
        import cemtool.keys as keymod
        real = keymod.save

        def broken(path, found):
            raise keymod.KeyFileError(f"cannot write key file {path}: No space left on device")
        keymod.save = broken
        try:
            res = cli("provision", "--device", "d1", "--site", "s", "--point", "p",
                      "--keys", str(key_file), port=b.port)
        finally:
            keymod.save = real
    finally:
        b.close()
    line = one_error_line(res)
    assert line.startswith("error: the board took a new key but it could not be saved "
                           f"(cannot write key file {key_file}: No space left on device)")
    assert "cemtool provision --force" in line and not key_file.exists()


def test_bad_arguments_exit_2(tmp_path):
    cases = [
        ("live", "--interval", "0"),
        ("live", "--count", "zero"),
        ("dump",),  # --out missing
        ("dump", "--out", str(tmp_path / "x"), "--log", "hour"),
        ("dump", "--out", str(tmp_path / "x"), "--since", "-3"),
        ("dump", "--out", str(tmp_path / "x"), "--format", "xml"),
        ("config", "set", "edge"),
        ("provision", "--device", "a b", "--site", "s", "--point", "p"),
        ("provision", "--device", "d", "--site", "", "--point", "p"),
        ("calibrate", "span"),
        ("calibrate", "span", "--ref", "abc"),
        ("calibrate", "span", "--ref", "0"),
        ("calibrate", "span", "--ref", "101"),
        ("calibrate", "span", "--ref", "12.0005"),
        ("calibrate", "zero", "--ref", "-1"),
        ("calibrate", "check", "--ref", "1", "--channel", "temp"),
        ("calibrate", "pitot"),
        ("calibrate", "pitot", "--kp", "0"),
        ("calibrate", "pitot", "--area", "-2"),
        ("calibrate", "zero", "--timeout", "0"),
        ("time", "set"),
    ]
    for args in cases:
        res = cli(*args, port="/dev/null")
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output and "Error:" in res.output, (args, res.output)


def test_missing_port_exit_1(tmp_path):
    gone = str(tmp_path / "ttyACM9")
    for args in (("info",), ("live",), ("dump", "--out", str(tmp_path / "o")),
                 ("config", "get"), ("time", "sync"), ("calibrate", "zero"),
                 ("provision", "--device", "d", "--site", "s", "--point", "p",
                  "--keys", str(tmp_path / "k"))):
        line = one_error_line(cli(*args, "--port", gone))
        assert line == f"error: no such port: {gone}", args
    assert not (tmp_path / "o").exists() and not (tmp_path / "k").exists()


def test_a_port_where_nobody_answers(tmp_path):
    with BusHub(1) as hub:  # a cable with nothing on the other end
        line = one_error_line(cli("info", "--port", hub.master_path))
    assert line == f"error: {hub.master_path}: info: no answer from the device within 3 s"
