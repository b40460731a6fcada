"""cemtool poll: address ranges, and one-line errors with the right exit codes for bad input."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from cemtool import keys
from cemtool.cli import main
from cemtool.poll import LogResult, NodeResult, frame_timeout, parse_addrs


def test_address_ranges():
    assert parse_addrs("1-4") == [1, 2, 3, 4]
    assert parse_addrs("7") == [7]
    assert parse_addrs("1,3,5-7, 9") == [1, 3, 5, 6, 7, 9]
    assert parse_addrs("2,1-3") == [2, 1, 3]  # in the order given, each once
    assert parse_addrs("247") == [247]
    for bad in ("0-3", "1-248", "4-2", "a", "1-", "", "1,,2", "255"):
        with pytest.raises(ValueError) as e:
            parse_addrs(bad)
        assert "\n" not in str(e.value)


def test_frame_timeout_covers_a_full_frame():
    assert frame_timeout(9600) > 1036 * 11 / 9600
    assert frame_timeout(115200) < 0.5


def test_summary_lines():
    ok = NodeResult(2, "stack-02", {"minute": LogResult(10, 3, 0, 130, 130, 130),
                                    "long": LogResult(0, 0, 0, 5, 5, None)})
    assert ok.summary() == ("node 2 stack-02: minute +10 (3 already held), store at 130/130, "
                            "acked 130; long +0, store at 5/5, not acked")
    gone = NodeResult(5, error="info: no answer from node 5 within 2 s")
    assert gone.summary() == "node 5: info: no answer from node 5 within 2 s" and not gone.ok


def run(*args):
    res = CliRunner().invoke(main, ["poll", *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def test_bad_options_get_one_line_and_exit_2(tmp_path):
    db = str(tmp_path / "db.sqlite")
    res = run("--port", "/dev/null", "--addr", "0-9", "--db", db)
    assert res.exit_code == 2 and "--addr" in res.output and "within 1-247" in res.output
    res = run("--port", "/dev/null", "--addr", "1-2", "--db", db, "--once", "--interval", "5")
    assert res.exit_code == 2 and "exclude each other" in res.output
    loose = tmp_path / "keys.json"
    keys.save(loose, {"dev-1": bytes(32)})
    os.chmod(loose, 0o644)
    res = run("--port", "/dev/null", "--addr", "1", "--db", db, "--keys", str(loose))
    assert res.exit_code == 2 and "chmod 600" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "db.sqlite").exists()


def test_a_port_that_cannot_be_opened_exits_1(tmp_path):
    res = run("--port", str(tmp_path / "no-such-tty"), "--addr", "1-2",
              "--db", str(tmp_path / "db.sqlite"))
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"error: cannot open {tmp_path / 'no-such-tty'}: No such file or directory"]
