"""The ``cemtool`` command line: one click group; each command is a thin layer over a module."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from cemtool import __version__, records

FORMATS = {"jsonl": records.write_jsonl, "csv": records.write_csv}


@click.group()
@click.version_option(__version__, prog_name="cemtool")
def main() -> None:
    """Host companion of the cemt carbon-emission monitoring terminal."""


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for stdin); exit 2 with one line when it cannot be read."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise click.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="FILE") from None


def emit(found: Iterable[records.Record], fmt: str) -> None:
    """Write rows as they come; a corrupt record ends the output with one line on stderr, exit 1."""
    try:
        FORMATS[fmt](found, sys.stdout)
    except records.DecodeError as e:
        sys.stdout.flush()
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="jsonl",
              show_default=True, help="Row format (docs/records.md, \"Rows\").")
@click.option("--stats", is_flag=True,
              help="For a flash image: fill, oldest/newest/acked seq, dropped, erase counts.")
@click.option("--json", "as_json", is_flag=True, help="With --stats: one JSON object.")
def decode(file: str, fmt: str, stats: bool, as_json: bool) -> None:
    """Print the records of FILE, one row each.

    FILE is a stream of CBOR records (- for stdin) or a flash image (docs/storage.md) as the
    simulator writes it or as dumped from a board; a damaged image is read as far as it is good.
    """
    from cemtool import flashimage
    data = read_input(file)
    if not flashimage.is_image(data):
        if stats:
            raise click.UsageError(f"{file} is not a flash image: --stats reads flash images only")
        emit(records.decode_stream(data), fmt)
        return
    erases = flashimage.read_erases(Path(file)) if file != "-" else None
    image = flashimage.read(data, erases)
    if stats:
        if as_json:
            click.echo(json.dumps({"logs": [log.stats() for log in image.logs],
                                   "problems": image.problems}))
        else:
            click.echo(flashimage.format_stats(image))
    else:
        emit(iter(sorted(image.records(), key=lambda r: (r.kind > 3, r.kind, r.seq))), fmt)
    for problem in image.problems:
        click.echo(f"error: {problem}", err=True)
    if image.problems:
        sys.exit(1)


def _add_subgroups() -> None:
    from cemtool.sim.cli import sim
    main.add_command(sim)
    from cemtool import cli_device
    for command in cli_device.COMMANDS:
        main.add_command(command)
    from cemtool.cli_flash import flash, flash_runtime
    main.add_command(flash)
    main.add_command(flash_runtime)
    from cemtool.cli_site import quality_cmd, site_group, warn_cmd
    main.add_command(site_group)
    main.add_command(quality_cmd)
    main.add_command(warn_cmd)
    from cemtool.cli_hj212 import hj212
    main.add_command(hj212)
    from cemtool.cli_report import report_cmd
    main.add_command(report_cmd)
    from cemtool.cli_serve import serve
    main.add_command(serve)


_add_subgroups()


@main.command()
@click.option("--listen", required=True, metavar="HOST:PORT",
              help="Address to accept device links on, e.g. 0.0.0.0:7070.")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite database of received records (created if missing).")
@click.option("--keys", "keys_path", required=True, type=click.Path(dir_okay=False),
              help="Device key file (mode 0600), as written by cemtool provision.")
@click.option("--durable", is_flag=True,
              help="Sync every commit to disk (survives a power loss of this host; slower).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Detail of the log on stderr.")
def receive(listen: str, db_path: str, keys_path: str, durable: bool, log_level: str) -> None:
    """Receive record batches from devices over TCP (docs/protocol.md) until SIGINT/SIGTERM."""
    import asyncio
    import logging

    from cemtool import keys, receiver, store

    try:
        host, port = receiver.parse_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    try:
        ring = keys.KeyRing(keys_path)
    except keys.KeyFileError as e:
        raise click.BadParameter(str(e), param_hint="--keys") from None
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        db = store.Store(db_path, durable=durable)
    except store.StoreError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    try:
        asyncio.run(receiver.serve(db, ring, host, port))
    except OSError as e:
        click.echo(f"error: cannot listen on {listen}: {e.strerror}", err=True)
        sys.exit(1)
    finally:
        db.close()


@main.command()
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite database written by cemtool receive.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="jsonl",
              show_default=True, help="Row format (docs/records.md, \"Rows\"), plus device.")
@click.option("--device", default=None, help="Only this device.")
@click.option("--kind", default=None, help="Only this record kind (name or number).")
def export(db_path: str, fmt: str, device: str | None, kind: str | None) -> None:
    """Print the stored records, one row each, by device, kind and seq."""
    import os

    from cemtool import store

    kind_no = None
    if kind is not None:
        names = {name: k for k, name in records.KIND_NAMES.items()}
        kind_no = names.get(kind) or (int(kind) if kind.isdigit() else None)
        if kind_no not in records.KIND_NAMES:
            raise click.BadParameter(f"unknown kind {kind!r} (one of {', '.join(names)})",
                                     param_hint="--kind")
    if not os.path.isfile(db_path):
        raise click.BadParameter(f"no database at {db_path}", param_hint="--db")
    try:
        db = store.Store(db_path, readonly=True)
        try:
            store.write_rows(db.records(device, kind_no), fmt, sys.stdout)
        finally:
            db.close()
    except store.StoreError as e:
        sys.stdout.flush()
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


@main.command()
@click.option("--port", required=True, help="Serial port of the RS485 adapter (or a pty path).")
@click.option("--addr", "addr_text", required=True, metavar="RANGE",
              help="Node addresses to poll, in order, e.g. 1-8 or 1,3,5-7.")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite database of records (created if missing), as cemtool receive keeps.")
@click.option("--keys", "keys_path", default=None, type=click.Path(dir_okay=False),
              help="Device key file; without it no node is acknowledged.")
@click.option("--baud", type=click.IntRange(300, 4000000), default=9600, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0.01), default=None,
              help="Seconds to wait for each response frame [default: a full frame's time "
                   "at --baud plus 0.3].")
@click.option("--batch", type=click.IntRange(1, 1024), default=256, show_default=True,
              help="Records asked for per request.")
@click.option("--once", is_flag=True, help="Poll every node once and exit (the default).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=None, metavar="S",
              help="Poll again every S seconds until interrupted.")
def poll(port: str, addr_text: str, db_path: str, keys_path: str | None, baud: int,
         timeout: float | None, batch: int, once: bool, interval: float | None) -> None:
    """Fetch new records from RS485 nodes into the store, one summary line per node.

    Exits 1 if a node of a single round did not answer or failed (docs/protocol.md).
    """
    from cemtool import keys, link
    from cemtool import poll as master
    from cemtool import store

    if once and interval is not None:
        raise click.UsageError("--once and --interval exclude each other")
    try:
        addrs = master.parse_addrs(addr_text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--addr") from None
    key_map = None
    if keys_path is not None:
        try:
            key_map = keys.load(keys_path)
        except keys.KeyFileError as e:
            raise click.BadParameter(str(e), param_hint="--keys") from None
    try:
        transport = link.SerialTransport(port, baud)
    except link.LinkError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    try:
        db = store.Store(db_path)
    except store.StoreError as e:
        transport.close()
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    wait = timeout if timeout is not None else master.frame_timeout(baud)

    def one_round() -> list:
        return master.poll_bus(transport, addrs, db, key_map, wait, batch,
                               report=lambda r: click.echo(r.summary()))
    try:
        if interval is None:
            results = one_round()
            if not all(r.ok for r in results):
                sys.exit(1)
        else:
            master.run_forever(one_round, interval)
    except KeyboardInterrupt:
        pass
    finally:
        transport.close()
        db.close()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of objects.")
def ports(as_json: bool) -> None:
    """List serial ports with their USB VID:PID and what they probably are.

    An RP2040 in its bootloader is a USB drive, not a serial port, so it is not listed here.
    """
    from dataclasses import asdict

    from cemtool import ports as serial_ports

    found = serial_ports.list_ports()
    if as_json:
        click.echo(json.dumps([asdict(p) for p in found]))
        return
    if not found:
        click.echo("no serial ports found")
        return
    rows = [("device", "VID:PID", "kind", "description")]
    rows += [(p.device, p.usb_id, p.label, p.description or "") for p in found]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])
