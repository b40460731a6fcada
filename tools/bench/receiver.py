"""Receiver benchmark: simulated devices speaking the real uplink protocol to `cemtool receive`.

    python tools/bench/receiver.py [--devices 64] [--batches 150] [--links 10000] [--json]

The receiver runs as its own process (`python -m cemtool receive`) on loopback; the simulated
devices are CPython clients (`cemtool.receiver.DeviceClient`) on one asyncio loop in this process.

1. Throughput: ``--devices`` devices at once, each sending ``--batches`` full batches of minute
   records (stop-and-wait, as a device does). Records/s counts records whose ack came back, i.e.
   verified (tag, counter, records, canonical form) and committed.
2. The same rows inserted straight into SQLite (same schema and pragmas, one transaction per
   batch, in this process): the ceiling the receiver is compared with.
3. Concurrent links: ``--links`` connections opened and hello'd, all held open at once, then each
   sends one batch and waits for its ack. RLIMIT_NOFILE is raised to its hard limit (both
   processes inherit it); the links asked for are capped by what it allows.
4. Bytes on air per minute record: the framed, signed batch bytes divided by the records in them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host"))

from cemtool import auth, frame, keys, receiver  # noqa: E402
from cemtool.store import Store  # noqa: E402

T0 = 1767225600
SEQ0 = 30000  # a month into a device's life: seqs take 3 bytes


def minute(seq: int) -> list[int]:
    """A realistic minute record (values vary like a real stack's)."""
    i = seq * 7919
    co2 = 1150 + i % 120
    vel = 1450 + i % 110
    return [1, seq, T0 + 60 * seq, 2, 3, 0, 60, 60, co2, co2 - 31 - i % 9, co2 + 29 + i % 11, vel,
            1795 + i % 21, -150 + i % 17, 51000 + i % 1800, 18500 + i % 2300]


def full_batches(count: int) -> list[list[list[int]]]:
    """Consecutive batches of minute records, each as full as the frame limit allows."""
    out, seq = [], SEQ0
    key, ctx = bytes(32), bytes(40)
    for _ in range(count):
        recs = [minute(seq)]
        while len(receiver.signed(key, ctx, [3, 999, 0, recs[0][1], recs + [minute(seq + 1)]])) \
                <= frame.MAX_PAYLOAD:
            seq += 1
            recs.append(minute(seq))
        seq += 1
        out.append(recs)
    return out


class Rx:
    def __init__(self, tmp: Path, keyfile: Path) -> None:
        self.db = tmp / "rx.sqlite"
        self.log = tmp / "rx.log"
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cemtool", "receive", "--listen", "127.0.0.1:0", "--db",
                 str(self.db), "--keys", str(keyfile), "--log-level", "warning"],
                stderr=err, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "host")})
        deadline = time.monotonic() + 20
        while not (m := re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("receiver did not start: " + self.log.read_text())
            time.sleep(0.05)
        self.port = int(m.group(1))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def throughput(port: int, key_of: dict[str, bytes], batches: list[list[list[int]]],
                     devices: int) -> tuple[int, float, int]:
    async def one(name: str) -> tuple[int, int]:
        c = receiver.DeviceClient(name, key_of[name])
        await c.connect("127.0.0.1", port)
        await c.hello()
        n = 0
        for recs in batches:
            assert await c.send_batch(0, recs) == recs[-1][1]
            n += len(recs)
        await c.close()
        return n, c.sent_bytes

    t = time.perf_counter()
    done = await asyncio.gather(*(one(f"tp-{i}") for i in range(devices)))
    dt = time.perf_counter() - t
    return sum(n for n, _ in done), dt, sum(b for _, b in done)


def raw_sqlite(tmp: Path, batches: list[list[list[int]]], devices: int) -> tuple[int, float]:
    path = tmp / "raw.sqlite"
    Store(path).close()  # the same schema and pragmas as the receiver's
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    blobs = [[receiver.dumps(r) for r in recs] for recs in batches]
    rows_of = [[(0, r[0], r[1], 0, r[2], r[3], r[4], 1, r[5], r[-1], b, 0)
                for r, b in zip(recs, bl)] for recs, bl in zip(batches, blobs)]
    n = 0
    t = time.perf_counter()
    for dev in range(devices):
        for rows in rows_of:
            rows = [(dev, *row[1:]) for row in rows]
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.execute("COMMIT")
            n += len(rows)
    dt = time.perf_counter() - t
    db.close()
    return n, dt


async def links(port: int, key_of: dict[str, bytes], count: int) -> tuple[int, int, float]:
    """(links hello'd and open at once, of those the ones whose batch was acked, seconds)."""
    clients: list[receiver.DeviceClient] = []
    gate = asyncio.Semaphore(256)  # connects in flight: stays inside the listen backlog

    async def open_one(i: int) -> None:
        name = f"ln-{i}"
        c = receiver.DeviceClient(name, key_of[name])
        async with gate:
            try:
                await c.connect("127.0.0.1", port)
                await c.hello()
            except (OSError, asyncio.TimeoutError, receiver.Nak):
                await c.close()
                return
        clients.append(c)

    t = time.perf_counter()
    await asyncio.gather(*(open_one(i) for i in range(count)))
    held = len(clients)

    async def batch(i: int, c: receiver.DeviceClient) -> bool:
        try:
            return await c.send_batch(0, [minute(SEQ0 + i)]) == SEQ0 + i
        except (OSError, asyncio.TimeoutError, receiver.Nak):
            return False

    acked = sum(await asyncio.gather(*(batch(i, c) for i, c in enumerate(clients))))
    dt = time.perf_counter() - t
    await asyncio.gather(*(c.close() for c in clients))
    return held, acked, dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=64)
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--links", type=int, default=10000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    want_links = min(args.links, limit - 100)  # each side holds one fd per link, plus a few

    names = [f"tp-{i}" for i in range(args.devices)] + [f"ln-{i}" for i in range(want_links)]
    key_of = {n: auth.new_key() for n in names}
    batches = full_batches(args.batches)
    with tempfile.TemporaryDirectory(prefix="cemt-bench-") as tmp_s:
        tmp = Path(tmp_s)
        keyfile = tmp / "keys.json"
        keys.save(keyfile, key_of)
        rx = Rx(tmp, keyfile)
        try:
            n, dt, sent = asyncio.run(throughput(rx.port, key_of, batches, args.devices))
            held, acked, ldt = asyncio.run(links(rx.port, key_of, want_links))
        finally:
            rx.stop()
        with sqlite3.connect(rx.db) as con:
            stored = con.execute("SELECT count(*) FROM records").fetchone()[0]
        if stored != n + acked:
            raise SystemExit(f"receiver stored {stored} records, expected {n + acked}")
        raw_n, raw_dt = raw_sqlite(tmp, batches, args.devices)
    figures = {
        "records_per_s": round(n / dt),
        "sqlite_raw_rows_per_s": round(raw_n / raw_dt),
        "ratio_to_raw": round((n / dt) / (raw_n / raw_dt), 3),
        "concurrent_links": min(held, acked),
        "uplink_bytes_per_minute_record": round(sent / n, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    per_batch = sum(len(b) for b in batches) / len(batches)
    print(f"receiver benchmark ({os.cpu_count()} CPUs, RLIMIT_NOFILE {soft} -> {limit})")
    print(f"{'what':44} {'figure':>14}")
    print(f"{'records verified + committed /s':44} {figures['records_per_s']:>14,}")
    print(f"{'  (' + str(args.devices) + ' devices x ' + str(args.batches) + ' batches, '}"
          f"{per_batch:.1f} records/batch, {n:,} records in {dt:.1f} s)")
    print(f"{'plain SQLite rows /s (1 commit per batch)':44} {figures['sqlite_raw_rows_per_s']:>14,}")
    print(f"{'ratio receiver / plain SQLite':44} {figures['ratio_to_raw']:>14}")
    print(f"{'concurrent links held, each batch acked':44} {figures['concurrent_links']:>14,}")
    print(f"{'  (asked ' + str(args.links) + ', fd limit allows ' + str(want_links) + '; '}"
          f"{held:,} hello'd at once, {acked:,} acked, {ldt:.1f} s)")
    print(f"{'uplink bytes on air per minute record':44} "
          f"{figures['uplink_bytes_per_minute_record']:>14}")
    print("targets (design brief, section 10): >= 50,000 records/s, >= 10,000 concurrent links")
    return 0


if __name__ == "__main__":
    sys.exit(main())
