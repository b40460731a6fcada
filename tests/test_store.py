"""The receiver's SQLite store and the device key file."""
from __future__ import annotations

import os
import sqlite3

import pytest

from cemtool import keys
from cemtool.records import Record
from cemtool.store import BatchError, Store, StoreError

T0 = 1767225600


def minute(seq: int, co2: int = 1234, nv: int = 58) -> Record:
    return Record.from_list([1, seq, T0 + 60 * seq, 2, 3, 0, 60, nv, co2, 1200, 1300, 1500, 1805,
                             -150, 52000, 19635])


def hour(seq: int) -> Record:
    return Record.from_list([2, seq, T0 + 3600 * seq, 2, 3, 1, 60, 44, *range(100, 116)])


def boot(seq: int) -> Record:
    return Record.from_list([16, seq, T0, 2, 3, 7, 1, 0, "cemt 0.1.0"])


def test_commit_is_exactly_once_per_device_kind_seq(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        c = st.commit("a", 0, [minute(s) for s in range(1, 11)])
        assert (c.stored, c.duplicates, c.conflicts, c.seq) == (10, 0, 0, 10)
        c = st.commit("a", 0, [minute(s) for s in range(8, 13)])
        assert (c.stored, c.duplicates, c.conflicts, c.seq) == (2, 3, 0, 12)
        c = st.commit("b", 0, [minute(s) for s in range(1, 4)])  # same seqs, other device
        assert c.stored == 3
        c = st.commit("a", 1, [hour(3), boot(4)])
        assert c.stored == 2
        assert st.count() == 17 and st.count("a") == 14 and st.count("zzz") == 0
        assert st.committed("a") == {0: 12, 1: 4} and st.committed("new") == {0: 0, 1: 0}
        # an older batch again does not move the cursor back
        st.commit("a", 0, [minute(2)])
        assert st.committed("a")[0] == 12


def test_decoded_columns_and_export_order(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.commit("b", 0, [minute(1)])
        st.commit("a", 1, [hour(2), boot(3)])
        st.commit("a", 0, [minute(5, nv=3), minute(6)])
        got = [(d, r.kind, r.seq) for d, r in st.records()]
        assert got == [("a", 1, 5), ("a", 1, 6), ("a", 2, 2), ("a", 16, 3), ("b", 1, 1)]
        assert [r.seq for _, r in st.records("a", 1)] == [5, 6]
        assert dict(st.records(kind=16))["a"] == boot(3)
    con = sqlite3.connect(path)
    rows = con.execute("SELECT kind, seq, log, t, valid, flag, mass, cbor FROM records "
                       "ORDER BY rowid").fetchall()
    assert rows[0] == (1, 1, 0, T0 + 60, 1, 0, 19635, minute(1).encode())
    assert rows[1][:7] == (2, 2, 1, T0 + 7200, 0, 1, 115)  # 44 valid minutes: not a valid hour
    assert rows[2][4:7] == (None, None, None)  # an event
    assert rows[3][4] == 0  # minute with 3 valid samples


def test_conflicting_bytes_are_kept_apart(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.commit("a", 0, [minute(1), minute(2)])
        c = st.commit("a", 0, [minute(2, co2=999), minute(3)])
        assert (c.stored, c.duplicates, c.conflicts) == (1, 0, 1)
        assert st.conflicts() == [("a", 1, 2, minute(2, co2=999).encode())]
        assert dict(st.records("a"))["a"] is not None
        assert [r.fields["co2"] for _, r in st.records("a")] == [1234, 1234, 1234]


def test_bad_batches_store_nothing(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        for log, recs in ((0, []), (1, [minute(1)]), (0, [hour(1)]), (0, [minute(2), minute(1)]),
                          (0, [minute(1), minute(1)])):
            with pytest.raises(BatchError):
                st.commit("a", log, recs)
        assert st.count() == 0 and st.committed("a") == {0: 0, 1: 0}


def test_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Store(path, busy_ms=100) as st:
            with pytest.raises(StoreError, match="locked by another process"):
                st.commit("a", 0, [minute(1)])
            assert st.committed("a") == {0: 0, 1: 0}
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Store(path) as st:
        assert st.commit("a", 0, [minute(1)]).stored == 1


def test_readonly_refuses_other_files(tmp_path):
    plain = tmp_path / "other.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(StoreError, match="not a cemtool receiver database"):
        Store(plain, readonly=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError):
        Store(junk, readonly=True)
    with pytest.raises(StoreError):
        Store(junk)


def test_key_file_round_trip_and_mode(tmp_path):
    path = tmp_path / "keys.json"
    k = {"stack-01": bytes(range(32)), "b.2_x": b"\xff" * 32}
    keys.save(path, k)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keys.load(path) == k
    ring = keys.KeyRing(path)
    assert ring.get("stack-01") == k["stack-01"] and ring.get("nope") is None
    assert bytes(range(32)).hex() not in repr(ring)


def test_key_file_errors_are_one_line_and_name_no_key(tmp_path):
    path = tmp_path / "keys.json"
    secret = "ab" * 32
    cases = {
        '{"format": "cemt-keys", "version": 1, "devices": {"x y": "%s"}}' % secret: "bad device id",
        '{"format": "cemt-keys", "version": 1, "devices": {"x": "%s"}}' % secret[:-2]: "not 32 bytes",
        '{"format": "cemt-keys", "version": 1, "devices": {"x": "zz%s"}}' % secret[2:]: "not 32 bytes",
        '{"format": "other", "version": 1, "devices": {}}': "not a cemt-keys",
        "not json": "not JSON",
    }
    for text, why in cases.items():
        path.write_text(text)
        os.chmod(path, 0o600)
        with pytest.raises(keys.KeyFileError) as info:
            keys.load(path)
        msg = str(info.value)
        assert why in msg and "\n" not in msg and secret[4:] not in msg
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyFileError, match="chmod 600"):
        keys.load(path)
    with pytest.raises(keys.KeyFileError, match="cannot read"):
        keys.load(tmp_path / "missing.json")
