"""The report as one self-contained HTML file: inline CSS and inline SVG charts, no links out."""
from __future__ import annotations

from html import escape

from . import plots
from .document import Chart, Heading, Para, Table, blocks
from .figures import Report

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#1a202c;line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #cbd5e0;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#edf2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold;background:#f7fafc}
figure{margin:1em 0}svg{width:100%;max-width:960px;height:auto}
details summary{cursor:pointer;color:#2b6cb0}
"""
LONG_TABLE = 40   # tables longer than this are folded (still in the file, one click away)


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").replace(" %", "").lstrip(
        "+-±").isdigit()


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        cls = ' class="total"' if t.total_row and i == len(t.rows) - 1 else ""
        cells = "".join(f'<td class="num">{escape(c)}</td>' if _numeric(c)
                        else f"<td>{escape(c)}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    html = f'<table id="{t.id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    if len(t.rows) > LONG_TABLE:
        html = f"<details><summary>{len(t.rows)} rows</summary>{html}</details>"
    return html


def render(report: Report) -> str:
    parts = []
    title = "Carbon inventory report"
    for b in blocks(report):
        if isinstance(b, Heading):
            if b.level == 1:
                title = b.text
            parts.append(f'<h{b.level} id="{b.id}">{escape(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            parts.append(f"<p>{escape(b.text)}</p>")
        elif isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Chart):
            parts.append(f"<figure>{plots.svg(b.drawing)}</figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
