"""The report as a PDF (reportlab platypus): the same blocks as the HTML, charts as vector drawings.

The PDF's built-in fonts cover Latin-1 only, so the few Greek and mathematical signs of the text
are spelled out (Δp → dp, ρ → rho, √ → sqrt, …).
"""
from __future__ import annotations

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from .document import Chart, Heading, Para, Table, blocks
from .figures import Report

SPELLED = {"Δ": "d", "ρ": "rho", "√": "sqrt", "⁴": "^4", "⁻⁶": "^-6", "≥": ">=", "≤": "<=",
           "−": "-", "–": "-", "≈": "~", "∝": "~", "σ": "sd", "½": "1/2", "—": "-", "₂": "2"}
CHART_SCALE = 1.15  # charts are drawn 480 pt wide; the landscape page has room for more


def latin(text: str) -> str:
    for k, v in SPELLED.items():
        text = text.replace(k, v)
    return text.encode("latin-1", "replace").decode("latin-1")


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(latin(text)), style)


def render(report: Report) -> bytes:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=6.5, leading=7.8)
    head = cell.clone("head", fontName="Helvetica-Bold")
    story = []
    for b in blocks(report):
        if isinstance(b, Heading):
            style = {1: styles["Title"], 2: styles["Heading2"]}.get(b.level, styles["Heading3"])
            story.append(_p(b.text, style))
        elif isinstance(b, Para):
            story.append(_p(b.text, styles["BodyText"]))
        elif isinstance(b, Table):
            rows = [[_p(h, head) for h in b.header]] + [[_p(c, cell) for c in r] for r in b.rows]
            t = LongTable(rows, repeatRows=1, hAlign="LEFT")
            style = [("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                     ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")),
                     ("VALIGN", (0, 0), (-1, -1), "TOP")]
            if b.total_row:
                style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f7fafc")))
            t.setStyle(TableStyle(style))
            story += [t, Spacer(1, 3 * mm)]
        elif isinstance(b, Chart):
            d = b.drawing
            d.scale(CHART_SCALE, CHART_SCALE)
            d.width, d.height = d.width * CHART_SCALE, d.height * CHART_SCALE
            story += [d, Spacer(1, 3 * mm)]
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=latin(f"Carbon inventory report: {report.site.enterprise.name}"),
                            author="cemtool")
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return out.getvalue()


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(doc.pagesize[0] - 15 * mm, 8 * mm, f"page {doc.page}")
    canvas.restoreState()
