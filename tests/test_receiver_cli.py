"""cemtool receive and cemtool export on the command line: errors and output shapes."""
from __future__ import annotations

import csv
import io
import json
import os
import socket

from click.testing import CliRunner

from cemtool import auth, keys
from cemtool.cli import main
from cemtool.records import CSV_COLUMNS, Record
from cemtool.store import Store

T0 = 1767225600
MINUTE = [1, 1, T0 + 60, 2, 3, 0, 60, 58, 1234, 1200, 1300, 1500, 1805, -150, 52000, 19635]
BOOT = [16, 7, T0 + 5, 2, 3, 42, 3, 0, "cemt 0.1.0"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def keyfile(tmp_path, mode=0o600):
    path = tmp_path / "keys.json"
    keys.save(path, {"stack-01": auth.new_key()})
    os.chmod(path, mode)
    return path


def test_receive_rejects_bad_arguments_in_one_line(tmp_path):
    kf = keyfile(tmp_path)
    db = str(tmp_path / "rx.sqlite")
    r = invoke("receive", "--listen", "nohost", "--db", db, "--keys", str(kf))
    assert r.exit_code == 2 and "is not HOST:PORT" in r.output and "Traceback" not in r.output
    r = invoke("receive", "--listen", "127.0.0.1:0", "--db", db, "--keys", str(tmp_path / "no"))
    assert r.exit_code == 2 and "cannot read key file" in r.output
    os.chmod(kf, 0o644)
    r = invoke("receive", "--listen", "127.0.0.1:0", "--db", db, "--keys", str(kf))
    assert r.exit_code == 2 and "chmod 600" in r.output
    os.chmod(kf, 0o600)
    r = invoke("receive", "--listen", "127.0.0.1:0", "--db", str(tmp_path / "no" / "x.db"),
               "--keys", str(kf))
    assert r.exit_code == 1 and r.output.startswith("error: database") and r.output.count("\n") == 1


def test_receive_reports_a_port_in_use(tmp_path):
    kf = keyfile(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = invoke("receive", "--listen", f"127.0.0.1:{port}", "--db",
                   str(tmp_path / "rx.sqlite"), "--keys", str(kf))
    assert r.exit_code == 1 and "cannot listen on" in r.output and "Traceback" not in r.output


def _db(tmp_path):
    path = tmp_path / "rx.sqlite"
    with Store(path) as st:
        st.commit("stack-02", 0, [Record.from_list(MINUTE)])
        st.commit("stack-01", 1, [Record.from_list(BOOT)])
        st.commit("stack-01", 0, [Record.from_list(MINUTE)])
    return str(path)


def test_export_jsonl_is_decode_rows_plus_device(tmp_path):
    db = _db(tmp_path)
    r = invoke("export", "--db", db)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [(x["device"], x["kind"]) for x in rows] == [("stack-01", "minute"),
                                                         ("stack-01", "boot"),
                                                         ("stack-02", "minute")]
    assert rows[0] == {"device": "stack-01", **Record.from_list(MINUTE).row()}
    assert list(rows[0])[0] == "device"
    r = invoke("export", "--db", db, "--device", "stack-01", "--kind", "boot")
    assert [json.loads(line)["fw"] for line in r.output.splitlines()] == ["cemt 0.1.0"]
    r = invoke("export", "--db", db, "--kind", "1")
    assert len(r.output.splitlines()) == 2


def test_export_csv(tmp_path):
    r = invoke("export", "--db", _db(tmp_path), "--format", "csv")
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert list(rows[0]) == ["device", *CSV_COLUMNS]
    assert rows[1]["device"] == "stack-01" and json.loads(rows[1]["event"])["boots"] == 42
    assert rows[2]["device"] == "stack-02" and rows[2]["co2_pct"] == "12.34"


def test_export_errors(tmp_path):
    r = invoke("export", "--db", str(tmp_path / "missing.sqlite"))
    assert r.exit_code == 2 and "no database at" in r.output
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    r = invoke("export", "--db", str(other))
    assert r.exit_code == 1 and r.output.startswith("error:") and "Traceback" not in r.output
    r = invoke("export", "--db", _db(tmp_path), "--kind", "fortnight")
    assert r.exit_code == 2 and "unknown kind" in r.output
