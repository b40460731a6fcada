"""``cemtool flash`` (the firmware, cemtool.deploy) and ``cemtool flash-runtime`` (MicroPython itself,
cemtool.runtime): thin click layers; every failure is one line and exit 1."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cemtool.cliopts import fail, json_option, port_option, resolve_port


class BarProgress:
    """A click progress bar over bytes on stderr, opened when the total is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None

    def start(self, total: int) -> None:
        if total and sys.stderr.isatty():  # no bar in a log: the summary says it all
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True)
            self.bar.__enter__()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command()
@port_option
@click.option("--board", "board", metavar="NAME", default=None,
              help="Board profile to write (boards/NAME.json); default: keep the board's own.")
@click.option("--no-reset", is_flag=True, help="Leave the board at the REPL after copying.")
@click.option("--force", is_flag=True, help="Copy every file, changed or not.")
@json_option
def flash(port: str | None, board: str | None, no_reset: bool, force: bool, as_json: bool) -> None:
    """Compile the firmware and deploy it to the board over its USB REPL.

    Copies only the files whose SHA-256 differs on the board, removes stale modules, verifies
    every file, resets the board and checks that the app answers. config.json and device.key
    on the board are never touched.
    """
    from cemtool import deploy
    if board is not None:
        try:
            deploy.load_board(board)
        except deploy.DeployError as e:
            fail(str(e))
    path = resolve_port(port)
    bar = BarProgress("flashing")
    try:
        result = deploy.flash(path, board, force=force, reset=not no_reset, progress=bar)
    except deploy.DeployError as e:
        bar.close()
        fail(str(e))
    bar.close()
    click.echo(json.dumps(result.to_json()) if as_json else result.summary())


@click.command("flash-runtime")
@click.argument("file", type=click.Path(dir_okay=False))
@port_option
@click.option("--erase", is_flag=True, help="ESP32: erase the whole flash first (a first install).")
@click.option("--chip", default="auto", show_default=True, metavar="CHIP",
              help="ESP32: the chip (auto, esp32, esp32s2, esp32s3, esp32c3, esp32c6, ...).")
@click.option("--timeout", type=click.FloatRange(min=1), default=30, show_default=True,
              help="RP2040: seconds to wait for the bootloader drive.")
@json_option
def flash_runtime(file: str, port: str | None, erase: bool, chip: str, timeout: float,
                  as_json: bool) -> None:
    """Write the MicroPython runtime FILE itself: an ESP32 .bin (esptool) or an RP2040 .uf2.

    Nothing is downloaded: FILE is the runtime you chose. After it, `cemtool flash --board NAME`
    deploys the firmware.
    """
    from cemtool import runtime
    path = Path(file)
    try:
        kind = runtime.kind_of(path)
        if kind == "bin":
            result = runtime.flash_bin(path, resolve_port(port), chip=chip, erase=erase)
        else:
            if erase or chip != "auto":
                fail("--erase and --chip are for an ESP32 .bin")
            result = runtime.flash_uf2(path, port, timeout=timeout,
                                       log=lambda m: click.echo(m, err=True))
    except runtime.RuntimeFlashError as e:
        fail(str(e))
    click.echo(json.dumps(result) if as_json else runtime.summary(result))
