"""The ``cemtool`` command line: one click group; each command is a thin layer over a module."""
from __future__ import annotations

import sys
from collections.abc import Iterable

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
def decode(file: str, fmt: str) -> None:
    """Print the records of FILE (a stream of CBOR records; - for stdin), one row each."""
    emit(records.decode_stream(read_input(file)), fmt)


def _add_subgroups() -> None:
    from cemtool.sim.cli import sim
    main.add_command(sim)


_add_subgroups()
