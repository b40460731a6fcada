"""The receiver's SQLite store: every record kept exactly once per (device, kind, seq).

Used by ``cemtool receive`` (docs/protocol.md) and by any other path that brings records home
(the RS485 master). One ``commit`` is one transaction: a batch of one device log is stored whole
or not at all, and a record already held is not stored again. Schema (WAL journal)::

    devices   (id INTEGER PRIMARY KEY, name TEXT UNIQUE)
    records   (dev, kind, seq, log, t, tq, ver, valid, flag, mass, cbor, arrived)
              UNIQUE (dev, kind, seq); rows in arrival order (rowid)
    cursors   (dev, log, seq)  PRIMARY KEY (dev, log): the highest seq committed per device log
    conflicts (dev, kind, seq, cbor, arrived): records whose key was already held with other bytes

``cbor`` is the record's canonical CBOR (docs/records.md); the other columns are decoded from it
for queries: ``valid`` 1/0 and ``flag`` 0-7 for periods (NULL for events), ``mass`` in 0.01 kg
(NULL for events), ``arrived`` in milliseconds since 1970 (for timeliness). A record's kind
belongs to one log (log 0 minutes, log 1 hours, days and events), so (device, kind, seq) is unique
within the device's seq spaces.

Durability: ``synchronous=NORMAL`` in WAL mode, so a commit survives a crash of the receiver
process but the newest commits may be lost if the host itself loses power; the protocol covers
that (a device resends from the receiver's view of its cursor, docs/protocol.md).
``durable=True`` syncs every commit to disk instead (slower).
"""
from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cemtool.records import CSV_COLUMNS, KIND_NAMES, MIN_VALID, MINUTE, Record, decode

SCHEMA_VERSION = 1
MINUTE_LOG = 0
LONG_LOG = 1
LOGS = (MINUTE_LOG, LONG_LOG)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS records (
    dev INTEGER NOT NULL REFERENCES devices(id),
    kind INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    log INTEGER NOT NULL,
    t INTEGER NOT NULL,
    tq INTEGER NOT NULL,
    ver INTEGER NOT NULL,
    valid INTEGER,
    flag INTEGER,
    mass INTEGER,
    cbor BLOB NOT NULL,
    arrived INTEGER NOT NULL,
    UNIQUE (dev, kind, seq)
);
CREATE TABLE IF NOT EXISTS cursors (
    dev INTEGER NOT NULL REFERENCES devices(id),
    log INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (dev, log)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (
    dev INTEGER NOT NULL REFERENCES devices(id),
    kind INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    cbor BLOB NOT NULL,
    arrived INTEGER NOT NULL
);
"""
_INSERT = "INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_CURSOR = ("INSERT INTO cursors VALUES (?,?,?) "
           "ON CONFLICT (dev, log) DO UPDATE SET seq = max(seq, excluded.seq)")


class StoreError(Exception):
    """The database cannot do what was asked; the message is one line."""


class BatchError(ValueError):
    """Records that break the store's rules (kind in the wrong log, seqs out of order)."""


@dataclass(frozen=True)
class Commit:
    stored: int      # records new to the store
    duplicates: int  # records already held, byte for byte
    conflicts: int   # records whose key was held with other bytes (kept in ``conflicts``)
    seq: int         # the highest seq of the batch


def log_of(kind: int) -> int:
    """The device log that carries records of ``kind``."""
    return MINUTE_LOG if kind == MINUTE else LONG_LOG


def _error(path: Path, e: sqlite3.Error) -> StoreError:
    text = str(e)
    if "locked" in text or "busy" in text:
        return StoreError(f"database {path} is locked by another process")
    return StoreError(f"database {path}: {text}")


class Store:
    def __init__(self, path: str | Path, durable: bool = False, busy_ms: int = 2000,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                self._db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                           isolation_level=None, timeout=busy_ms / 1000)
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                           check_same_thread=False, timeout=busy_ms / 1000)
        except sqlite3.Error as e:
            raise _error(self.path, e) from None
        self._devs: dict[str, int] = {}
        if readonly:
            try:
                version = self._schema()
            except sqlite3.DatabaseError as e:
                self._db.close()
                raise _error(self.path, e) from None
            if version != SCHEMA_VERSION:
                self._db.close()
                if version is None:
                    raise StoreError(f"{self.path} is not a cemtool receiver database")
                raise StoreError(f"database {self.path} has schema version {version}, "
                                 f"this cemtool knows {SCHEMA_VERSION}")
            return
        try:
            db = self._db
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"database {self.path}: cannot switch to WAL journal mode")
            db.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
            if self._schema() is None:  # a new database: create the tables once
                try:
                    db.executescript("BEGIN IMMEDIATE;" + _SCHEMA)
                    if self._schema() is None:
                        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            version = self._schema()
            if version != SCHEMA_VERSION:
                raise StoreError(f"database {self.path} has schema version {version}, "
                                 f"this cemtool knows {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise _error(self.path, e) from None
        except StoreError:
            self._db.close()
            raise

    def _schema(self) -> int | None:
        """The schema version recorded in the database, None when it has no cemtool tables."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return None
            raise
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dev(self, device: str, create: bool) -> int | None:
        dev = self._devs.get(device)
        if dev is None:
            row = self._db.execute("SELECT id FROM devices WHERE name=?", (device,)).fetchone()
            if row is None:
                if not create:
                    return None
                dev = self._db.execute("INSERT INTO devices (name) VALUES (?)", (device,)).lastrowid
            else:
                dev = row[0]
            self._devs[device] = dev
        return dev

    def committed(self, device: str) -> dict[int, int]:
        """The highest committed seq of each log of ``device`` (0 when none)."""
        out = dict.fromkeys(LOGS, 0)
        try:
            dev = self._dev(device, False)
            if dev is not None:
                for log, seq in self._db.execute("SELECT log, seq FROM cursors WHERE dev=?", (dev,)):
                    out[log] = seq
        except sqlite3.Error as e:
            raise _error(self.path, e) from None
        return out

    def commit(self, device: str, log: int, records: Sequence[Record | Sequence],
               blobs: Sequence[bytes] | None = None, arrived_ms: int | None = None) -> Commit:
        """Store one batch of ``device``'s ``log`` in one transaction.

        ``records`` are Records, or value lists already validated by the caller (the
        receiver's fast path, which also passes their canonical CBOR as ``blobs``). They must
        be non-empty, of kinds that belong to ``log``, in strictly increasing seq order
        (BatchError otherwise). Records already held are counted, not stored again.
        """
        if not records:
            raise BatchError("empty batch")
        values = [r.to_list() if isinstance(r, Record) else r for r in records]
        if blobs is None:
            blobs = [r.encode() if isinstance(r, Record) else Record.from_list(r).encode()
                     for r in records]
        prev = -1
        for v in values:
            if log_of(v[0]) != log:
                raise BatchError(f"{KIND_NAMES[v[0]]} record {v[1]} in log {log}")
            if v[1] <= prev:
                raise BatchError(f"seq {v[1]} after {prev}")
            prev = v[1]
        if arrived_ms is None:
            arrived_ms = time.time_ns() // 1_000_000
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                dev = self._dev(device, True)
                rows = [_row(dev, log, v, b, arrived_ms) for v, b in zip(values, blobs)]
                cur = db.executemany(_INSERT, rows)
                stored = cur.rowcount
                conflicts = 0
                if stored < len(rows):
                    conflicts = self._conflicts(rows)
                db.execute(_CURSOR, (dev, log, prev))
                db.execute("COMMIT")
            except BaseException:
                self._devs.pop(device, None)  # its row may have been rolled back
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise _error(self.path, e) from None
        return Commit(stored, len(rows) - stored - conflicts, conflicts, prev)

    def _conflicts(self, rows: list[tuple]) -> int:
        """Keep the records whose key is held with other bytes apart; return how many."""
        n = 0
        for row in rows:
            dev, kind, seq, blob, arrived = row[0], row[1], row[2], row[10], row[11]
            held = self._db.execute("SELECT cbor FROM records WHERE dev=? AND kind=? AND seq=?",
                                    (dev, kind, seq)).fetchone()
            if held[0] != blob:
                self._db.execute("INSERT INTO conflicts VALUES (?,?,?,?,?)",
                                 (dev, kind, seq, blob, arrived))
                n += 1
        return n

    def count(self, device: str | None = None) -> int:
        if device is None:
            return self._db.execute("SELECT count(*) FROM records").fetchone()[0]
        dev = self._dev(device, False)
        if dev is None:
            return 0
        return self._db.execute("SELECT count(*) FROM records WHERE dev=?", (dev,)).fetchone()[0]

    def conflicts(self) -> list[tuple[str, int, int, bytes]]:
        return self._db.execute("SELECT d.name, c.kind, c.seq, c.cbor FROM conflicts c "
                                "JOIN devices d ON d.id = c.dev ORDER BY c.rowid").fetchall()

    def records(self, device: str | None = None,
                kind: int | None = None) -> Iterator[tuple[str, Record]]:
        """(device, record) of the stored records, by device name, kind and seq."""
        sql = "SELECT d.name, r.cbor FROM records r JOIN devices d ON d.id = r.dev"
        where, args = [], []
        if device is not None:
            where.append("d.name = ?")
            args.append(device)
        if kind is not None:
            where.append("r.kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY d.name, r.kind, r.seq"
        try:
            for name, blob in self._db.execute(sql, args):
                yield name, decode(blob)
        except sqlite3.Error as e:
            raise _error(self.path, e) from None


def _row(dev: int, log: int, v: Sequence, blob: bytes, arrived: int) -> tuple:
    need = MIN_VALID.get(v[0])
    if need is None:  # an event
        return (dev, v[0], v[1], log, v[2], v[3], v[4], None, None, None, blob, arrived)
    # period records: flag first after the header, nv third, mass last
    return (dev, v[0], v[1], log, v[2], v[3], v[4], 1 if v[7] >= need else 0, v[5], v[-1],
            blob, arrived)



def write_rows(found: Iterable[tuple[str, Record]], fmt: str, out: TextIO) -> None:
    """Rows as ``cemtool decode`` prints them (docs/records.md, "Rows"), with ``device`` first."""
    if fmt == "jsonl":
        for device, record in found:
            out.write(json.dumps({"device": device, **record.row()}, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=("device", *CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for device, record in found:
            writer.writerow({"device": device, **record.csv_row()})
    else:
        raise ValueError(f"unknown format {fmt!r}")
