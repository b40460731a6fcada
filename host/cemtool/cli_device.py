"""The board commands of ``cemtool``: info, live, dump, config, time, provision, calibrate,
maint, reboot.

Each talks to the board over the command protocol on USB (``cemtool.cliopts.open_link``); the
logic behind them is ``cemtool.device``. docs/cli.md documents them.
"""
from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from cemtool import device as dv
from cemtool.cliopts import fail, json_option, open_link, port_option, resolve_port
from cemtool.link import Link, LinkError, RemoteError, SerialTransport


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


# -- info

@click.command()
@port_option
@json_option
def info(port: str | None, as_json: bool) -> None:
    """Show the board: identity, firmware, config version, boots, reset cause, safe mode, warnings."""
    with open_link(port) as (_link, found):
        if as_json:
            _echo_json(dv.info_json(found))
        else:
            click.echo("\n".join(dv.format_info(found)))


# -- live

class _Screen:
    """Blocks of lines to stdout: redrawn in place on a terminal, one after another otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.height = 0

    def show(self, lines: list[str]) -> None:
        if self.tty:
            if self.height:
                sys.stdout.write(f"\x1b[{self.height}F\x1b[J")  # up to the block's top, clear
            sys.stdout.write("\n".join(lines) + "\n")
            self.height = len(lines)
        else:
            sys.stdout.write("\n".join(lines) + "\n\n")
        sys.stdout.flush()


@click.command()
@port_option
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              metavar="S", help="Seconds between reads.")
@click.option("--count", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N reads [default: until Ctrl-C].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per read (JSON lines).")
def live(port: str | None, interval: float, count: int | None, as_json: bool) -> None:
    """Show the current samples with their status and the active warnings, refreshed.

    Values are in human units: CO2 %vol, Δp Pa, velocity m/s, temp °C, ps/pa Pa. The status
    letter is the sample's HJ 212 flag (N normal, F stopped, M maintenance, S manual value,
    D fault, C calibration, T over range, B communication fault). Ctrl-C ends it.
    """
    screen = _Screen()
    try:
        with open_link(port) as (link, _):
            n = 0
            while True:
                t0 = time.monotonic()
                result = link.call("live").ok
                if as_json:
                    _echo_json(dv.live_json(result))
                    sys.stdout.flush()
                else:
                    screen.show(dv.format_live(result))
                n += 1
                if count is not None and n >= count:
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    except KeyboardInterrupt:
        pass


# -- dump

class _Progress:
    """A one-line progress bar on stderr while it is a terminal."""

    def __init__(self, since: int) -> None:
        self.tty = sys.stderr.isatty()
        self.since = since
        self.drawn = False

    def __call__(self, s: dv.DumpSummary) -> None:
        if not self.tty or s.log_last is None:
            return
        start = max(self.since, s.log_first or 0)
        total = max(1, s.log_last - start + 1)
        done = min(total, (s.last or start - 1) - start + 1)
        pct = done * 100 // total
        sys.stderr.write(f"\r[{'#' * (pct // 4):<25}] {pct:3d}% {s.records} records, "
                         f"seq {s.last}/{s.log_last}")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


@click.command()
@port_option
@click.option("--log", type=click.Choice(["minute", "long"]), default="minute", show_default=True,
              help="minute: minute records; long: hour, day and event records.")
@click.option("--since", type=click.IntRange(min=0), default=0, metavar="SEQ",
              help="First seq wanted [default: the oldest the board holds].")
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              help="File to write; - for stdout.")
@click.option("--format", "fmt", type=click.Choice(["cbor", "jsonl"]), default="cbor",
              show_default=True, help="cbor: the stream cemtool decode reads; jsonl: record rows.")
@click.option("--append", is_flag=True, help="Add to FILE instead of replacing it (to resume).")
@json_option
def dump(port: str | None, log: str, since: int, out_path: str, fmt: str, append: bool,
         as_json: bool) -> None:
    """Copy records from the board's ring log to a file, with a summary.

    Records are written as they arrive, whole: if the link is cut, the file holds every record
    received and the error says the --since that resumes after them.
    """
    if out_path == "-" and not as_json and sys.stdout.isatty() and fmt == "cbor":
        raise click.UsageError("CBOR to a terminal: give --out FILE or --format jsonl")
    progress = _Progress(since)
    with open_link(port) as (link, _):
        try:
            out = sys.stdout.buffer if out_path == "-" else open(out_path, "ab" if append else "wb")
        except OSError as e:
            fail(f"cannot write {out_path}: {e.strerror}")
        try:
            summary = dv.dump(link, log, since, dv.DumpWriter(out, fmt), progress)
        except (LinkError, OSError) as e:
            progress.close()
            s: dv.DumpSummary = getattr(e, "summary", dv.DumpSummary(log))
            gaps = f" (seqs missing: {dv.gap_text(s.gaps)})" if s.gaps else ""
            where = f"{out_path} holds {s.records} records" + \
                (f" up to seq {s.last}{gaps}; resume with --since {s.last + 1} --append"
                 if s.last is not None else "")
            reason = f"cannot write {out_path}: {e.strerror}" if isinstance(e, OSError) else str(e)
            fail(f"{reason}; {where}")
        finally:
            if out is not sys.stdout.buffer:
                out.close()
    progress.close()
    report = sys.stderr if out_path == "-" else sys.stdout
    if as_json:
        print(json.dumps(summary.as_dict()), file=report)
    else:
        print("\n".join(summary.lines()), file=report)


# -- config

@click.group()
def config() -> None:
    """Read and change the board's settings (docs/protocol.md, config.get/config.set)."""


def _sections(link: Link, section: str | None) -> tuple[dict[str, dict[str, Any]], Any]:
    reply = link.call("config.get", {"section": section} if section else None)
    return {p["name"]: p["values"] for p in reply.parts if "name" in p}, reply.ok.get("ver")


@config.command("get")
@port_option
@click.argument("section", required=False)
@json_option
def config_get(port: str | None, section: str | None, as_json: bool) -> None:
    """Print the settings of SECTION (default: every section) and the config version."""
    with open_link(port) as (link, _):
        try:
            sections, ver = _sections(link, section)
        except RemoteError as e:
            fail(f"no section {section!r} on the device" if e.name == "not_found" else str(e))
    if as_json:
        _echo_json({"ver": ver, "sections": sections})
    else:
        click.echo("\n".join(dv.format_config(sections, ver)))


@config.command("set")
@port_option
@click.argument("section")
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
@json_option
def config_set(port: str | None, section: str, settings: tuple[str, ...], as_json: bool) -> None:
    """Change settings of SECTION: values are JSON (8300, true, "x"), bare words are text.

    Example: cemtool config set edge kp=8300 area=12500
    """
    changes: dict[str, Any] = {}
    for text in settings:
        try:
            key, value = dv.parse_setting(text)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="KEY=VALUE") from None
        changes[key] = value
    with open_link(port) as (link, _):
        try:
            old, _ = _sections(link, section)
            ok = link.call("config.set", {"section": section, "changes": changes}).ok
        except RemoteError as e:
            if e.name == "not_found":
                fail(f"no section {section!r} on the device")
            fail(f"{section}: {e.msg}" if e.name == "invalid" else str(e))
    before = old.get(section, {})
    if as_json:
        _echo_json({"section": section, "changes": changes, "old": {k: before.get(k) for k in changes},
                    "ver": ok.get("ver"), "changed": ok.get("changed")})
        return
    if not ok.get("changed"):
        click.echo(f"nothing changed (config version {ok.get('ver')})")
        return
    for k, v in changes.items():
        if before.get(k) != v:
            click.echo(f"{section}.{k}: {json.dumps(before.get(k))} -> {json.dumps(v)}")
    click.echo(f"config version {ok.get('ver')}")


# -- time

@click.group("time")
def time_group() -> None:
    """Read or set the board's clock (UTC)."""


@time_group.command("get")
@port_option
@json_option
def time_get(port: str | None, as_json: bool) -> None:
    """Print the board's time, its quality and how far it is from this computer's clock."""
    with open_link(port) as (link, _):
        ok = link.call("time.get").ok
        now = time.time()
    offset = ok["t"] - now
    if as_json:
        _echo_json({"t": ok["t"], "utc": dv.iso_utc(ok["t"]), "tq": ok["tq"],
                    "offset_s": round(offset, 1)})
        return
    click.echo(f"{dv.iso_utc(ok['t'])} (clock {dv.TQ.get(ok['tq'], ok['tq'])}); "
               f"{_offset_text(offset)} this computer's clock")


def _offset_text(offset: float) -> str:
    """How far a clock that counts whole seconds is off: ``12 s behind``, ``3 s ahead of``."""
    if abs(offset) < 1:
        return "within 1 s of"
    return f"{abs(round(offset))} s {'behind' if offset < 0 else 'ahead of'}"


@time_group.command("sync")
@port_option
@json_option
def time_sync(port: str | None, as_json: bool) -> None:
    """Set the board's clock to this computer's UTC (quality 1: set by host)."""
    with open_link(port) as (link, _):
        time.sleep(1 - time.time() % 1)  # on a whole second: the board counts whole seconds
        t = round(time.time())
        ok = link.call("time.set", {"t": t, "tq": 1}).ok
    offset = ok["was"] - t
    if as_json:
        _echo_json({"t": ok["t"], "utc": dv.iso_utc(ok["t"]), "tq": ok["tq"], "was": ok["was"],
                    "offset_s": offset})
        return
    click.echo(f"clock was {_offset_text(offset).replace(' of', '')}; set to {dv.iso_utc(ok['t'])}"
               if abs(offset) >= 1 else f"clock was right; set to {dv.iso_utc(ok['t'])}")


# -- provision

DEFAULT_KEYS = "cemtool.keys"


@click.command()
@port_option
@click.option("--device", "device_id", required=True, metavar="ID",
              help="Device id: 1-32 characters of A-Z a-z 0-9 . _ -")
@click.option("--site", required=True, help="Site (enterprise/plant) id.")
@click.option("--point", required=True, help="Monitoring point (stack) id.")
@click.option("--keys", "keys_path", envvar="CEMT_KEYS", default=DEFAULT_KEYS, show_default=True,
              type=click.Path(dir_okay=False),
              help="The receiver's key file (cemtool receive --keys); CEMT_KEYS also sets it.")
@click.option("--force", is_flag=True,
              help="Re-key a board that already has a device id (its old key stops working).")
@json_option
def provision(port: str | None, device_id: str, site: str, point: str, keys_path: str,
              force: bool, as_json: bool) -> None:
    """Give the board its identity and a new device key, kept in the key file too.

    The key is generated here, sent over USB only, and never printed.
    """
    from cemtool import auth, keys

    if not keys.valid_device_id(device_id):
        raise click.BadParameter("must be 1-32 characters of A-Z a-z 0-9 . _ -",
                                 param_hint="--device")
    for name, value in (("--site", site), ("--point", point)):
        if not 1 <= len(value) <= 64:
            raise click.BadParameter("must be 1-64 characters", param_hint=name)
    path = Path(keys_path)
    try:
        known = keys.load(path) if path.exists() else {}
    except keys.KeyFileError as e:
        raise click.BadParameter(str(e), param_hint="--keys") from None
    folder = path.parent if str(path.parent) else Path(".")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"cannot write the key file {path}: its folder is missing or not writable")
    with open_link(port) as (link, found):
        if found.get("device") and not force:
            fail(f"the board is already provisioned as {found['device']}: give --force to "
                 f"re-key it (its old key stops working)")
        if device_id in known and found.get("device") != device_id and not force:
            fail(f"{path} already holds a key for {device_id} (another board?): give --force "
                 f"to replace it")
        key = auth.new_key()
        try:
            ok = link.call("provision", {"device": device_id, "site": site, "point": point,
                                         "key": key}).ok
        except LinkError as e:
            fail(f"{e}; nothing was written to {path}")
    known[device_id] = key
    try:
        keys.save(path, known)
    except keys.KeyFileError as e:
        fail(f"the board took a new key but it could not be saved ({e}); the board's uplink "
             f"cannot be verified until you run cemtool provision --force again with a "
             f"writable --keys file")
    if as_json:
        _echo_json({"device": device_id, "site": site, "point": point, "ver": ok.get("ver"),
                    "keys": str(path)})
    else:
        click.echo(f"provisioned {device_id} (site {site}, point {point}), config version "
                   f"{ok.get('ver')}; key saved in {path}")


# -- calibrate

@click.group()
def calibrate() -> None:
    """Calibrate the CO2 analyser and the pitot/Δp channel; each is logged as a record.

    zero, span, dp-zero and check first wait until the reading is stable: the last 10 readings
    (one a second) all status N and within the board's own steadiness limit (cal.co2_spread or
    cal.dp_spread per mille of the full scale: 0.2 %vol for CO2 and 0.5 Pa for Δp by default),
    less one display unit. The board checks its own last 10 samples the same way and refuses
    an unsteady reading.

    They put the board in calibration mode first (its samples are flagged C, so the gas is not
    recorded as flue data) and end it when done, whatever happens; --keep-mode leaves it on for
    the next step (it ends by itself 30 minutes after the last step, or with cemtool maint off).
    """


def _cal_options(fn):
    fn = click.option("--keep-mode", is_flag=True,
                      help="Leave calibration mode on afterwards (for a next step).")(fn)
    fn = click.option("--timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
                      metavar="S", help="Give up when the reading has not settled by then.")(fn)
    fn = click.option("--no-wait", is_flag=True, help="Skip the stability wait.")(fn)
    fn = json_option(fn)
    return port_option(fn)


def _ref(text: str, ch: dv.CalChannel, hint: str, lo: str = "0", hi: str | None = None) -> int:
    try:
        return dv.to_units(text, ch.places, hint, Decimal(lo), Decimal(hi) if hi else None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None


class _SettleLine:
    """The stability wait's readings on one refreshing line of stderr (a terminal only)."""

    def __init__(self, ch: dv.CalChannel, tolerance: int) -> None:
        self.ch = ch
        self.tolerance = tolerance
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, value: int | None, status: str, s: dv.Settle) -> None:
        if not self.tty:
            return
        ch = self.ch
        spread = "-" if s.spread is None else dv.decimal_text(s.spread, ch.live_places)
        shown = "?" if value is None else dv.decimal_text(value, ch.live_places)
        sys.stderr.write(f"\r\x1b[K{ch.live} {shown} {ch.unit} {status}  spread {spread} over "
                         f"{len(s.values)}/{s.n}, settled at ≤ "
                         f"{dv.decimal_text(self.tolerance, ch.live_places)}")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")


KEEP_S = 1800  # a mode left on by --keep-mode ends by itself after this
MODE_SLACK_S = 300  # a mode for one step: the wait's timeout and this (ended before anyway)


def _start_cal_mode(link: Link, seconds: int) -> None:
    """Calibration mode on for ``seconds``: ends the command when the board cannot."""
    try:
        link.call("maint", {"mode": "cal", "s": seconds})
    except RemoteError as e:
        if e.name in ("unknown_op", "unsupported"):
            fail("the board's firmware has no calibration mode (maint op): update it with "
                 "cemtool flash, so the gas is not recorded as flue data")
        fail(f"calibration mode: the device refused: {e.msg}")


def _end_mode(link: Link) -> None:
    """Calibration mode off; if the board cannot be told, say when it ends by itself."""
    try:
        link.call("maint", {"mode": "off"})
    except (LinkError, OSError) as e:
        click.echo(f"warning: calibration mode could not be ended ({e}); it ends by itself "
                   f"within {KEEP_S // 60} minutes, or run cemtool maint off", err=True)


def _run_cal(port: str | None, name: str, ch: dv.CalChannel, action: int, ref: int,
             no_wait: bool, timeout: float, as_json: bool, keep_mode: bool = False) -> None:
    """Calibration mode on, stability wait, the calibrate op, verify by reading back, and the
    mode off again (unless ``keep_mode``) however it ends."""
    with open_link(port) as (link, _):
        _start_cal_mode(link, KEEP_S if keep_mode else int(timeout) + MODE_SLACK_S)
        try:
            res = _cal_steps(link, name, ch, action, ref, no_wait, timeout)
        finally:
            if not keep_mode:
                _end_mode(link)
    res["mode"] = "cal" if keep_mode else "off"
    if as_json:
        _echo_json(res)
        return
    click.echo("\n".join(dv.cal_summary(name, ch, action, res)))
    if action == dv.CHECK and isinstance(res.get("drift"), int) and \
            isinstance(res.get("limit"), int) and abs(res["drift"]) > res["limit"]:
        click.echo("  drift beyond the limit: calibrate the channel")
    click.echo("  verified: " + res["verified"])
    click.echo("  calibration mode " + ("still on (--keep-mode): cemtool maint off ends it"
                                        if keep_mode else "ended"))


def _cal_steps(link: Link, name: str, ch: dv.CalChannel, action: int, ref: int,
               no_wait: bool, timeout: float) -> dict[str, Any]:
    """Stability wait, the calibrate op, then verify by reading back; the result map."""
    try:
        tolerance = ch.live_tolerance(dv.read_section(link, "cal"))
    except RemoteError:
        tolerance = ch.live_tolerance()  # a node without a cal section: its defaults
    if not no_wait:
        line = _SettleLine(ch, tolerance)
        try:
            dv.settle(link, ch, tolerance, timeout, line)
        except dv.CalError as e:
            line.close()
            fail(f"{e}; nothing sent")
        line.close()
    link.timeout = max(link.timeout, 15.0)  # the node may average before it answers
    try:
        res = link.call("calibrate", {"channel": ch.number, "action": action, "ref": ref}).ok
    except RemoteError as e:
        fail(f"{name}: the device refused: {e.msg}" if e.name in ("failed", "invalid")
             else f"{name}: {e}")
    result = res.get("result")
    if result == 1:
        fail(dv.rejection(name, ch, ref, res))
    if result == 2:
        fail(f"{name} aborted by the device; nothing changed")
    if result not in (0, 3):
        fail(f"{name}: the device answered result {result}")
    res["verified"] = _verify(link, ch, action, ref, res, tolerance + 1)
    return res


def _verify(link: Link, ch: dv.CalChannel, action: int, ref: int, res: dict[str, Any],
            tolerance: int = 0) -> str:
    """Read the coefficient back, and for zero/span a fresh reading within ``tolerance`` (live
    units) of the reference; fails the command if either is wrong."""
    try:
        setting = ch.coefficients.get(action)
        done = []
        if setting and res.get("result") == 0:
            value = dv.read_setting(link, *setting)
            if value != res.get("after"):
                raise dv.CalError(f"verify: {'.'.join(setting)} is {value}, not "
                                  f"{res.get('after')} as the calibration said")
            done.append(f"{'.'.join(setting)} = {value}")
        if action in (dv.ZERO, dv.SPAN):
            want = (ref * 10 ** ch.live_places + 10 ** ch.places // 2) // 10 ** ch.places
            value = dv.reading_after(link, ch.live, 5.0)
            if value is None or abs(value - want) > tolerance:
                shown = "none" if value is None else \
                    f"{dv.decimal_text(value, ch.live_places)} {ch.unit}"
                raise dv.CalError(
                    f"verify: the {ch.live} reading after the calibration is {shown}, not "
                    f"within {dv.decimal_text(tolerance, ch.live_places)} {ch.unit} of the "
                    f"reference {dv.decimal_text(ref, ch.places)} {ch.unit}")
            done.append(f"reading {dv.decimal_text(value, ch.live_places)} {ch.unit}")
        return ", ".join(done) if done else "nothing to read back"
    except dv.CalError as e:
        fail(str(e))


@calibrate.command()
@click.option("--ref", default="0", show_default=True, metavar="PCT",
              help="CO2 of the zero gas, %vol.")
@_cal_options
def zero(ref: str, port: str | None, no_wait: bool, timeout: float, keep_mode: bool,
         as_json: bool) -> None:
    """CO2 zero: with zero gas on the analyser, set its offset."""
    ch = dv.CAL_CHANNELS["co2"]
    _run_cal(port, "CO2 zero", ch, dv.ZERO, _ref(ref, ch, "--ref", hi="100"), no_wait, timeout,
             as_json, keep_mode)


@calibrate.command()
@click.option("--ref", required=True, metavar="PCT", help="CO2 of the span gas, %vol.")
@_cal_options
def span(ref: str, port: str | None, no_wait: bool, timeout: float, keep_mode: bool,
         as_json: bool) -> None:
    """CO2 span: with span gas of --ref %vol on the analyser, set its gain."""
    ch = dv.CAL_CHANNELS["co2"]
    units = _ref(ref, ch, "--ref", hi="100")
    if units == 0:
        raise click.BadParameter("a span gas has CO2 in it (use zero for zero gas)",
                                 param_hint="--ref")
    _run_cal(port, "CO2 span", ch, dv.SPAN, units, no_wait, timeout, as_json, keep_mode)


@calibrate.command("dp-zero")
@_cal_options
def dp_zero(port: str | None, no_wait: bool, timeout: float, keep_mode: bool,
            as_json: bool) -> None:
    """Δp zero: with both pitot lines vented, set the pressure sensor's offset."""
    _run_cal(port, "Δp zero", dv.CAL_CHANNELS["dp"], dv.ZERO, 0, no_wait, timeout, as_json,
             keep_mode)


@calibrate.command()
@click.option("--ref", required=True, metavar="VALUE",
              help="The reference: CO2 %vol of the gas, or Δp in Pa.")
@click.option("--channel", type=click.Choice(["co2", "dp"]), default="co2", show_default=True)
@_cal_options
def check(ref: str, channel: str, port: str | None, no_wait: bool, timeout: float,
          keep_mode: bool, as_json: bool) -> None:
    """Zero/span check: read the reference, record the drift, change nothing."""
    ch = dv.CAL_CHANNELS[channel]
    units = _ref(ref, ch, "--ref", lo="0" if channel == "co2" else "-5000",
                 hi="100" if channel == "co2" else "5000")
    _run_cal(port, f"{ch.live.upper() if channel == 'co2' else 'Δp'} check", ch, dv.CHECK, units,
             no_wait, timeout, as_json, keep_mode)


@calibrate.command()
@click.option("--kp", metavar="K", help="Pitot coefficient Kp (e.g. 0.84).")
@click.option("--kv", metavar="K", help="Velocity-field coefficient Kv from the comparison test.")
@click.option("--area", metavar="M2", help="Duct cross-section at the pitot, m².")
@port_option
@json_option
def pitot(kp: str | None, kv: str | None, area: str | None, port: str | None,
          as_json: bool) -> None:
    """Set the pitot factors Kp and Kv and the duct area (at least one)."""
    if kp is None and kv is None and area is None:
        raise click.UsageError("give at least one of --kp, --kv, --area")
    factors = []
    for opt, text, name in (("--kp", kp, "dp"), ("--kv", kv, "vel")):
        if text is not None:
            factors.append((opt, dv.CAL_CHANNELS[name], _factor(text, opt)))
    area_units = None
    if area is not None:
        try:
            area_units = dv.to_units(area, 4, "--area", Decimal("0.0001"), Decimal("1000"))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--area") from None
    out: dict[str, Any] = {}
    with open_link(port) as (link, _):
        link.timeout = max(link.timeout, 15.0)
        for opt, ch, units in factors:
            label = "Kp" if opt == "--kp" else "Kv"
            try:
                res = link.call("calibrate", {"channel": ch.number, "action": dv.FACTOR,
                                              "ref": units}).ok
            except RemoteError as e:
                fail(f"{label}: the device refused: {e.msg}" if e.name in ("failed", "invalid")
                     else f"{label}: {e}")
            if res.get("result") != 0:
                fail(f"{label} {dv.decimal_text(units, 4)} rejected by the device (outside its "
                     f"limits); nothing changed")
            res["verified"] = _verify(link, ch, dv.FACTOR, units, res)
            out[label.lower()] = res
        if area_units is not None:
            try:
                ok = link.call("config.set", {"section": "edge",
                                              "changes": {"area": area_units}}).ok
            except RemoteError as e:
                fail(f"--area: the device refused: {e.msg}")
            got = dv.read_setting(link, "edge", "area")
            if got != area_units:
                fail(f"verify: edge.area is {got}, not {area_units}")
            out["area"] = {"after": area_units, "ver": ok.get("ver"),
                           "verified": f"edge.area = {got}"}
    if as_json:
        _echo_json(out)
        return
    for label, res in out.items():
        if label == "area":
            click.echo(f"area: {dv.decimal_text(res['after'], 4)} m², config version {res['ver']}")
        else:
            click.echo(f"{label.capitalize()}: {dv.decimal_text(res.get('before', 0), 4)} -> "
                       f"{dv.decimal_text(res.get('after', 0), 4)}, calibration version "
                       f"{res.get('ver')}")
        click.echo(f"  verified: {res['verified']}")


def _factor(text: str, opt: str) -> int:
    try:
        return dv.to_units(text, 4, opt, Decimal("0.0001"), Decimal("10"))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=opt) from None


# -- maint, reboot

@click.command()
@click.argument("mode", type=click.Choice(list(dv.MODES)))
@click.option("--minutes", type=click.IntRange(1, 1440), default=30, show_default=True,
              metavar="N", help="The mode ends by itself after N minutes.")
@port_option
@json_option
def maint(mode: str, minutes: int, port: str | None, as_json: bool) -> None:
    """Calibration (cal) or maintenance (on) mode, or back to normal (off).

    While a mode is on the board flags every sample C (calibration) or M (maintenance): the
    minutes and hours of that time are not valid data and carry that flag. The mode ends by
    itself after --minutes (so a lost laptop never leaves a board in it) and at a reboot.
    """
    with open_link(port) as (link, _):
        try:
            ok = link.call("maint", {"mode": dv.MODES[mode], "s": minutes * 60}).ok
        except RemoteError as e:
            if e.name in ("unknown_op", "unsupported"):
                fail("the board's firmware has no maintenance mode (maint op): update it with "
                     "cemtool flash")
            fail(f"maint: the device refused: {e.msg}")
    mode_now = dv.mode_of({"maint": [ok.get("mode"), ok.get("until")]}) \
        if ok.get("mode") in dv.MODE_NAMES else None
    if as_json:
        _echo_json({"mode": ok.get("mode"), "until": ok.get("until"),
                    "utc": mode_now["utc"] if mode_now else None})
    else:
        click.echo(dv.format_mode(mode_now))


REBOOT_WAIT_S = 15.0


@click.command()
@port_option
@json_option
def reboot(port: str | None, as_json: bool) -> None:
    """Reboot the board (settings changed by config set apply then) and wait until the app
    answers again; prints the new boot count."""
    path = resolve_port(port)
    with open_link(path) as (link, found):
        before = found.get("boots")
        link.call("reboot")
    try:
        after = dv.wait_for_app(lambda: Link(SerialTransport(path), timeout=1.0), REBOOT_WAIT_S,
                                lambda info: info.get("boots") != before)
    except LinkError as e:
        fail(f"{path}: the board did not answer within {REBOOT_WAIT_S:g} s of the reboot ({e})")
    boots = after.get("boots")
    if isinstance(before, int) and isinstance(boots, int) and boots <= before:
        fail(f"the board answers but did not reboot (boot count still {boots})")
    if as_json:
        _echo_json({"boots": boots, "was": before, "safe": after.get("safe"),
                    "reset": after.get("reset")})
        return
    safe = " in SAFE MODE (see cemtool info)" if after.get("safe") else ""
    click.echo(f"rebooted{safe}: boot {boots}")


COMMANDS = (info, live, dump, config, time_group, provision, calibrate, maint, reboot)
