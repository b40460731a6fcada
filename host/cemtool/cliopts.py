"""Options and error handling shared by the commands that talk to a board on USB.

``port_option`` gives a command ``--port`` (or ``CEMT_PORT``), autodetected when absent;
``json_option`` its ``--json``; ``fail`` ends a command with one line on stderr; ``open_link``
opens the port and checks that the cemt application answers on it.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from cemtool.link import Link, LinkError, SerialTransport

PORT_HELP = ("Serial port of the board (or the simulator's pty); CEMT_PORT also sets it. "
             "Default: the only board plugged in.")


def port_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--port", "-p", envvar="CEMT_PORT", default=None, metavar="PORT",
                        help=PORT_HELP)(fn)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object instead of text.")(fn)


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command: ``error: message`` on stderr (after what stdout holds), exit ``code``."""
    sys.stdout.flush()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def resolve_port(port: str | None) -> str:
    """The port to use (``cemtool.ports.choose``); a missing or ambiguous one ends the command."""
    from cemtool.ports import choose
    try:
        return choose(port)
    except LinkError as e:
        fail(str(e))


@contextmanager
def open_link(port: str | None, timeout: float = 3.0) -> Iterator[tuple[Link, dict[str, Any]]]:
    """The link to the board on ``port`` and its ``info``; any link error ends the command."""
    path = resolve_port(port)
    try:
        link = Link(SerialTransport(path), timeout=timeout)
    except LinkError as e:
        fail(str(e))
    try:
        try:
            info = link.probe()
        except LinkError as e:
            fail(f"{path}: {e}")
        yield link, info
    except LinkError as e:
        fail(str(e))
    finally:
        link.close()
