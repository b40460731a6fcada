"""``cemtool serve``: the local web dashboard of a receiver database (docs/serve.md).

Bad input (no database, not a cemtool database, a bad site file) is one line on stderr and exit
2; an address that cannot be bound (port in use) exit 1. Ctrl-C or SIGTERM stops it, exit 0.
"""
from __future__ import annotations

import logging
import signal
import sys
import time

import click

from cemtool import substitute
from cemtool.cli_site import parse_time
from cemtool.cliopts import fail
from cemtool.receiver import parse_listen
from cemtool.store import StoreError


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help="SQLite database written by cemtool receive (opened read-only).")
@click.option("--site", "site_path", default=None, type=click.Path(dir_okay=False),
              help="The monitoring boundary, site.toml [default: one point per device].")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT",
              help="Address of the dashboard (port 0: any free port, printed at start).")
@click.option("--refresh", "refresh_s", type=click.IntRange(min=1), default=30, show_default=True,
              metavar="S", help="The page fetches new figures every S seconds.")
@click.option("--at", "at_text", default=None, metavar="TIME",
              help="Show the database as at this UTC time or date, a fixed clock (e.g. for a "
                   "simulator run of the past) [default: now].")
@click.option("--rule", type=click.Choice(substitute.RULES), default="hj75", show_default=True,
              help="Missing-data substitution rule of the chart (docs/quality.md).")
@click.option("--hourly-kg-h", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rate warning threshold for every point, kg/h (overrides site.toml).")
def serve(db_path: str, site_path: str | None, listen: str, refresh_s: int, at_text: str | None,
          rule: str, hourly_kg_h: float | None) -> None:
    """Serve a read-only web dashboard of the database: status per monitoring point, hourly
    emission chart, warnings and data quality, refreshed in the page every --refresh seconds."""
    from cemtool import site as sitemod
    from cemtool.serve.server import Dashboard, DashboardServer

    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    site = None
    if site_path is not None:
        try:
            site = sitemod.load(site_path)
        except sitemod.SiteError as e:
            fail(str(e), 2)
    clock = time.time
    if at_text is not None:
        at = parse_time(at_text, "--at")
        clock = lambda: at  # noqa: E731
    dashboard = Dashboard(db_path, site, refresh_s=refresh_s, clock=clock, rule=rule,
                          hourly_kg_h=hourly_kg_h)
    try:
        dashboard.check()
    except StoreError as e:
        fail(str(e), 2)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = DashboardServer((host, port), dashboard)
    except OSError as e:
        fail(f"cannot listen on {listen}: {e.strerror}", 1)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"serving http://{shown}:{bound_port}/ (database {db_path}"
               + (f", site {site_path}" if site_path else ", no site.toml") + "); Ctrl-C to stop")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
