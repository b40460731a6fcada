"""``cemtool report``: the enterprise carbon inventory report as HTML or PDF (docs/report.md).

Bad input (a database or site file that cannot be used, a bad date, an empty period, an output
of an unknown kind) is one line on stderr and exit 2.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from cemtool import substitute
from cemtool.cli_site import DB, SITE, opened, parse_time
from cemtool.cliopts import fail
from cemtool.report import figures

FORMATS = (".html", ".htm", ".pdf")


@click.command("report")
@DB
@SITE
@click.option("--from", "start", required=True, metavar="DATE",
              help="First day (YYYY-MM-DD) or UTC hour (YYYY-MM-DDTHH:00:00Z).")
@click.option("--to", "end", required=True, metavar="DATE",
              help="Last day, inclusive (YYYY-MM-DD), or UTC hour, exclusive.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="report.html (one self-contained file) or report.pdf.")
@click.option("--rule", type=click.Choice(substitute.RULES), default="hj75", show_default=True,
              help="Missing-data substitution rule (docs/quality.md).")
@click.option("--json", "as_json", is_flag=True,
              help="Also print the report's figures as one JSON object.")
def report_cmd(db_path: str, site_path: str, start: str, end: str, out: str, rule: str,
               as_json: bool) -> None:
    """Write the carbon inventory report of --from..--to: boundary, methodology, totals per
    source, monthly and daily tables, charts, data quality, uncertainty and traceability."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        fail(f"--out: {out!r} must end in .html or .pdf", 2)
    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to", end=True)
    if t1 <= t0:
        fail(f"--to {end} is not after --from {start}", 2)
    if t0 % 3600 or t1 % 3600:
        fail("--from and --to must be whole UTC hours", 2)
    with opened(db_path, site_path) as (store, site):
        try:
            rep = figures.build(store, site, t0, t1, rule, db=os.path.basename(db_path))
        except figures.ReportError as e:
            fail(str(e), 2)
        if suffix == ".pdf":
            from cemtool.report import pdf
            data = pdf.render(rep)
        else:
            from cemtool.report import html
            data = html.render(rep).encode("utf-8")
    try:
        tmp = Path(out).with_name(Path(out).name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as e:
        fail(f"--out: cannot write {out}: {e.strerror}", 2)
    if as_json:
        click.echo(json.dumps(rep.to_json()))
    else:
        t = rep.tally
        click.echo(f"{out}: {t.total / 100_000:,.3f} t CO2 ({t.measured / 100:,.2f} kg measured + "
                   f"{t.substituted / 100:,.2f} kg substituted in {t.substituted_hours} h), "
                   f"{len(rep.points())} points, ±{rep.uncertainty.expanded_pct:.1f} % (k=2)")
