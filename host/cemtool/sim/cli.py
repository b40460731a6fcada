"""`cemtool sim`: the serial simulator's commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cemtool.sim import scenario as scen


@click.group()
def sim() -> None:
    """Run the real firmware against a simulated stack (docs/simulator.md)."""


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.tty or total <= 0:
            return
        pct = min(100, done * 100 // total)
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:25}] {pct:3d}% {done / 3600:6.1f} h simulated")
            sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.last >= 0:
            sys.stderr.write("\n")


@sim.command("run")
@click.option("--out", "out", type=click.Path(file_okay=False), default="out/sim", show_default=True,
              help="Output folder: flash.img, truth.json, records.jsonl, sim.json, device.log, "
                   "receiver.sqlite, receiver.log, cemtool.keys.")
@click.option("--scenario", default="constant", show_default=True,
              help=f"A built-in scenario ({', '.join(scen.builtins())}) or a TOML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--fault", "faults", multiple=True, metavar="DEVICE:KIND@START[+DURATION]",
              help="Inject a fault, e.g. dp:disconnect@2h+10m, power@3h+5m, link:outage@11h+2h, "
                   "modem:hang@5h+10m, modem:garble@6h+30m or receiver:restart@8h+5m.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=24.0, show_default=True,
              help="Simulated hours to run.")
@click.option("--seed", type=int, help="Noise seed (default: the scenario's).")
@click.option("--heap", default="384K", show_default=True,
              help="Device heap limit (-X heapsize); the full app with the uplink peaks at about 220K "
                   "on the 64-bit unix port (148K with --no-uplink).")
@click.option("--no-uplink", "no_uplink", is_flag=True,
              help="No modem, no receiver: the device keeps its records in flash.")
@click.option("--modem", type=click.Choice(["simcom", "quectel"]), default="simcom", show_default=True,
              help="The modem family the board carries (and the emulator speaks).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def run(out: str, scenario: str, sets: tuple[str, ...], faults: tuple[str, ...], hours: float,
        seed: int | None, heap: str, no_uplink: bool, modem: str, resume: bool, as_json: bool) -> None:
    """Run the firmware (.mpy, as deployed) on the sim board for --hours of simulated time."""
    from cemtool.sim.runner import Options, Runner, SimError, load_options  # pymodbus: load late
    try:
        opts = load_options(Path(out)) if resume else None
    except SimError as e:
        raise click.ClickException(str(e)) from None
    if opts is None:
        opts = Options(out=out, scenario=scenario, sets=list(sets), faults=list(faults), hours=hours,
                       seed=seed, heap=heap, uplink=not no_uplink, modem=modem)
    progress = _Progress()
    try:
        summary = Runner(opts, resume=resume, progress=progress).run()
    except (scen.ScenarioError, SimError) as e:
        progress.close()
        raise click.ClickException(str(e)) from None
    progress.close()
    if as_json:
        click.echo(json.dumps(summary.__dict__))
    else:
        click.echo("\n".join(summary.lines()))


@sim.command("board")
@click.option("--out", "out", type=click.Path(file_okay=False), default="out/board", show_default=True,
              help="The board's folder: fs/ (its filesystem), flash.img, usb.path, rs485.path.")
@click.option("--speed", type=click.IntRange(min=1), default=1, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--scenario", default="constant", show_default=True,
              help=f"A built-in scenario ({', '.join(scen.builtins())}) or a TOML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a scenario key.")
@click.option("--fault", "faults", multiple=True, metavar="DEVICE:KIND@START[+DURATION]",
              help="Schedule a sensor fault, e.g. co2:gas=0@1h+10m or dp:disconnect@30m+1m.")
@click.option("--seed", type=int, help="Noise seed (default: the scenario's).")
@click.option("--bare", is_flag=True,
              help="MicroPython only: no lib/, boot.py, main.py or board.json (fresh from "
                   "flash-runtime).")
@click.option("--heap", default="512K", show_default=True, help="Device heap limit (-X heapsize).")
@click.option("--baud", type=click.IntRange(min=300), help="Pace the USB port at this baud rate "
              "(10 bits a byte); default unpaced.")
@click.option("--modem", type=click.Choice(["simcom", "quectel"]), default="simcom", show_default=True,
              help="The modem family the board carries (and the emulator speaks).")
def board(out: str, speed: int, scenario: str, sets: tuple[str, ...], faults: tuple[str, ...],
          seed: int | None, bare: bool, heap: str, baud: int | None, modem: str) -> None:
    """Run the sim board until stopped; its USB port's path is the first line printed.

    Its world starts at the host's clock (unless --set start=...), and its CO2 analyser reads
    0.15 %vol high at zero and 2 % high on span until calibrated (--set co2_zero_error_pct=0
    --set co2_gain_error=0 for a perfect one).
    """
    import signal
    import threading

    from cemtool.sim.board import Board
    from cemtool.sim.runner import SimError
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        b = Board(out, speed=speed, bare=bare, scenario=scenario, sets=sets, faults=faults,
                  seed=seed, heap=heap, baud=baud, modem=modem)
        b.start()
    except (scen.ScenarioError, SimError) as e:
        raise click.ClickException(str(e)) from None
    try:
        click.echo(b.port)
        click.echo(f"rs485 {(b.out / 'rs485.path').read_text().strip()}; filesystem {b.fs}; "
                   f"{'bare; ' if bare else ''}{speed}x real time; Ctrl-C to stop")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        b.stop()


@sim.command("inject")
@click.option("--out", "out", type=click.Path(file_okay=False), default="out/board", show_default=True,
              help="The running board's folder.")
@click.argument("fault")
def inject(out: str, fault: str) -> None:
    """Apply FAULT to the running sim board now, e.g. co2:gas=0, dp:gas=0, temp:disconnect+60,
    power+10."""
    from cemtool.sim.board import order
    from cemtool.sim.runner import SimError
    try:
        reply = order(out, "inject", fault)
    except SimError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"injected {reply['fault']}")


@sim.command("clear")
@click.option("--out", "out", type=click.Path(file_okay=False), default="out/board", show_default=True,
              help="The running board's folder.")
@click.argument("fault", metavar="DEVICE:KIND")
def clear(out: str, fault: str) -> None:
    """Remove every DEVICE:KIND fault of the running sim board, e.g. co2:gas."""
    from cemtool.sim.board import order
    from cemtool.sim.runner import SimError
    try:
        reply = order(out, "clear", fault)
    except SimError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"cleared {reply['cleared']} {fault} fault(s)")
