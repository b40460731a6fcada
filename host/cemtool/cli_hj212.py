"""``cemtool hj212``: export stored records as HJ 212 messages, forward them, parse frames."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sys
from pathlib import Path

import click

from cemtool import hj212 as proto
from cemtool.cliopts import fail
from cemtool.records import DAY, HOUR, MINUTE

KIND_CHOICES = {"minute": MINUTE, "hour": HOUR, "day": DAY}


def _date(text: str | None, param: str) -> int | None:
    """UTC seconds of YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC)."""
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                                 param_hint=param) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp())


def _mn_resolver(site_path: str | None, pairs: tuple[str, ...]):
    """device, t -> MN: from --mn DEV=MN first, then the site's monitoring point of the device
    at t; without --site a device's own id is its MN."""
    given: dict[str, str] = {}
    for pair in pairs:
        dev, eq, mn = pair.partition("=")
        if not eq or not dev or not mn:
            raise click.BadParameter(f"{pair!r} is not DEVICE=MN", param_hint="--mn")
        given[dev] = mn
    site = None
    if site_path is not None:
        from cemtool import site as site_mod
        try:
            site = site_mod.load(site_path)
        except site_mod.SiteError as e:
            raise click.BadParameter(str(e), param_hint="--site") from None

    def mn_of(device: str, t: int) -> str:
        if device in given:
            return given[device]
        if site is None:
            return device
        point = site.point_of(device, t)
        if point is None:
            raise proto.Hj212Error(f"device {device} has no monitoring point at "
                                   f"{proto.local_time(t, 0)} UTC in {site_path}")
        return point.mn
    return mn_of


def _open_store(db_path: str):
    from cemtool import store
    if not os.path.isfile(db_path):
        raise click.BadParameter(f"no database at {db_path}", param_hint="--db")
    try:
        return store.Store(db_path, readonly=True)
    except store.StoreError as e:
        fail(str(e))


def _common(f):
    options = [
        click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                     help="SQLite database written by cemtool receive."),
        click.option("--device", default=None, help="Only this device."),
        click.option("--site", "site_path", default=None, type=click.Path(dir_okay=False),
                     help="site.toml: each record's MN is its monitoring point's."),
        click.option("--mn", "mn_pairs", multiple=True, metavar="DEVICE=MN",
                     help="MN of a device (repeatable); overrides --site. "
                          "Without either, the device id is sent as MN."),
        click.option("--version", "year", type=click.Choice(["2017", "2025"]), default="2017",
                     show_default=True, help="HJ 212 version (docs/hj212.md)."),
        click.option("--pw", default=proto.DEFAULT_PW, show_default=True,
                     help="Access password (PW) the platform assigned."),
        click.option("--utc-offset", "utc_offset", type=click.IntRange(-12, 14),
                     default=proto.DEFAULT_UTC_OFFSET_H, show_default=True,
                     help="Hours from UTC of the platform's clock (DataTime, QN)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="hj212")
def hj212() -> None:
    """HJ 212 bridge to environmental platforms (docs/hj212.md)."""


@hj212.command()
@_common
@click.option("--kind", "kind_name", type=click.Choice(list(KIND_CHOICES)), required=True,
              help="Which records: minute (CN 2051), hour (CN 2061) or day (CN 2031).")
@click.option("--from", "start", default=None, help="First period start, UTC (YYYY-MM-DD…).")
@click.option("--to", "end", default=None, help="End (exclusive), UTC.")
@click.option("--out", "out_path", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="File of frames, one per line [default: stdout].")
@click.option("--no-ack", is_flag=True, help="Flag without the ack bit (4 / 8).")
def export(db_path, device, site_path, mn_pairs, year, pw, utc_offset, kind_name, start, end,
           out_path, no_ack) -> None:
    """Write the stored records of one kind as HJ 212 frames, one per line."""
    version = proto.VERSIONS[int(year)]
    t0, t1 = _date(start, "--from"), _date(end, "--to")
    mn_of = _mn_resolver(site_path, mn_pairs)
    db = _open_store(db_path)
    qn = proto.QnClock(utc_offset)
    messages = frames = unsynced = 0
    out = sys.stdout.buffer if out_path == "-" else None
    try:
        if out is None:
            out = open(out_path, "wb")
        for dev, record in db.records(device, KIND_CHOICES[kind_name]):
            if (t0 is not None and record.t < t0) or (t1 is not None and record.t >= t1):
                continue
            if record.tq == 0:
                unsynced += 1
                continue
            msg = proto.record_message(record, mn_of(dev, record.t), qn.next(), version, pw,
                                       ack=not no_ack, utc_offset_h=utc_offset)
            for data in proto.encode(msg):
                out.write(data)
                frames += 1
            messages += 1
    except proto.Hj212Error as e:
        fail(f"{e}" + ("; give --mn DEVICE=MN or --site" if "MN=" in str(e) else ""))
    except OSError as e:
        fail(f"cannot write {out_path}: {e.strerror}")
    finally:
        db.close()
        if out is not None and out_path != "-":
            out.close()
    if unsynced:
        click.echo(f"warning: {unsynced} records with unsynced time (tq 0) not exported",
                   err=True)
    if out_path != "-":
        click.echo(f"wrote {messages} messages ({frames} frames) to {out_path}", err=True)


@hj212.command()
@_common
@click.option("--to", "to", required=True, metavar="HOST:PORT", help="The platform's address.")
@click.option("--kind", "kind_names", type=click.Choice(list(KIND_CHOICES)), multiple=True,
              help="Record kinds to send (repeatable) [default: minute, hour and day].")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              help="Cursor file [default: DB.hj212-HOST-PORT.json next to the database].")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
              help="Seconds to wait for each ack (HJ 212 OverTime).")
@click.option("--retries", type=click.IntRange(0, 99), default=3, show_default=True,
              help="Resends of an unacked frame (HJ 212 ReCount).")
@click.option("--once", "mode", flag_value="once", default=True, help="One round (the default).")
@click.option("--follow", "mode", flag_value="follow", help="A round every --interval seconds.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between rounds with --follow.")
@click.option("--json", "as_json", is_flag=True, help="Summary as one JSON object per round.")
@click.option("-v", "--verbose", is_flag=True, help="One line per message on stderr.")
def forward(db_path, device, site_path, mn_pairs, year, pw, utc_offset, to, kind_names,
            state_path, timeout, retries, mode, interval, as_json, verbose) -> None:
    """Send stored records to a platform over TCP; each waits for its 9014 ack.

    The cursor file keeps what was acked: a restart back-fills from there. With --once the exit
    code is 1 when anything is left unacked.
    """
    from cemtool import hj212_forward as fw

    try:
        host, port = fw.parse_address(to)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--to") from None
    kinds = tuple(KIND_CHOICES[k] for k in kind_names) or fw.KINDS
    opts = fw.Options(host, port, proto.VERSIONS[int(year)], kinds, device, pw, timeout, retries,
                      utc_offset)
    if state_path is None:
        state_path = f"{db_path}.hj212-{host}-{port}.json"
    mn_of = _mn_resolver(site_path, mn_pairs)
    try:
        state = fw.State.load(state_path, opts.to, opts.version.year)
    except fw.ForwardError as e:
        raise click.BadParameter(str(e), param_hint="--state") from None
    db = _open_store(db_path)
    log = (lambda line: click.echo(line, err=True)) if verbose else (lambda line: None)

    def report(summary: fw.Summary) -> None:
        click.echo(json.dumps(summary.to_json()) if as_json else summary.line())

    rounds = itertools.count() if mode == "follow" else range(1)
    try:
        last = fw.run(rounds, lambda: fw.forward_round(db, state, opts, mn_of, log), interval,
                      report)
    except KeyboardInterrupt:
        return
    except OSError as e:
        fail(f"cannot write {state_path}: {e.strerror}")
    finally:
        db.close()
    if not last.ok:
        sys.exit(1)


@hj212.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--version", "year", type=click.Choice(["2017", "2025"]), default=None,
              help="Require this version [default: any supported].")
def parse(file: str, year: str | None) -> None:
    """Check the HJ 212 frames of FILE (- for stdin), one per line; print each as JSON.

    A bad frame ends the output with one line on stderr and exit code 1.
    """
    if file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as e:
            raise click.BadParameter(f"cannot read {file}: {e.strerror}",
                                     param_hint="FILE") from None
    version = proto.VERSIONS[int(year)] if year else None
    for n, (offset, frame) in enumerate(proto.split_frames(data), 1):
        try:
            msg = proto.parse(frame, version)
        except proto.Hj212Error as e:
            fail(f"frame {n} (byte {offset}): {e}")
        click.echo(json.dumps(msg.to_json(), ensure_ascii=False))

