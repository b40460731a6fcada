"""The report's charts as reportlab Drawings: vector in the PDF, inline SVG in the HTML.

Hourly emission profile, daily totals (measured and substituted stacked), the data-availability
calendar of each point (day × hour of day, coloured by status) and histograms of the hourly CO2
concentration and dry standard flow of the valid hours.
"""
from __future__ import annotations

import datetime as dt
import itertools
import math

from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors

from .figures import PointFigures, Row, date_range, distribution, hourly_site

W, H = 480, 190
LEFT, BOTTOM, TOP, RIGHT = 56, 34, 22, 10
MEASURED = colors.HexColor("#2b6cb0")
SUBSTITUTED = colors.HexColor("#dd6b20")
STATUS_COLOURS = {"valid": colors.HexColor("#38a169"), "invalid": colors.HexColor("#d69e2e"),
                  "missing": colors.HexColor("#e53e3e"), "shutdown": colors.HexColor("#a0aec0")}
GRID = colors.HexColor("#cbd5e0")
_ids = itertools.count(1)


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10^n) giving about ``ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _frame(title: str, ylabel: str, ymax: float) -> tuple[Drawing, float, float]:
    """A drawing with a title, y axis 0..top with gridlines; returns it, top and the y scale."""
    d = Drawing(W, H)
    d.add(String(LEFT, H - 14, title, fontName="Helvetica-Bold", fontSize=10))
    step = nice_step(ymax)
    top = max(step, math.ceil(ymax / step) * step)
    ph = H - BOTTOM - TOP
    scale = ph / top
    v = 0.0
    while v <= top + step / 2:
        y = BOTTOM + v * scale
        d.add(Line(LEFT, y, W - RIGHT, y, strokeColor=GRID, strokeWidth=0.4))
        d.add(String(LEFT - 4, y - 3, f"{v:,.6g}", fontName="Helvetica", fontSize=7,
                     textAnchor="end"))
        v += step
    d.add(String(8, BOTTOM + ph / 2, ylabel, fontName="Helvetica", fontSize=7))
    return d, top, scale


def _xlabels(d: Drawing, labels: list[tuple[float, str]]) -> None:
    for x, text in labels:
        d.add(Line(x, BOTTOM, x, BOTTOM - 3, strokeWidth=0.5))
        d.add(String(x, BOTTOM - 12, text, fontName="Helvetica", fontSize=7, textAnchor="middle"))


def _day_labels(start: int, days: int, x_of) -> list[tuple[float, str]]:
    every = max(1, math.ceil(days / 10))
    day0 = start - start % 86400
    return [(x_of(day0 + i * 86400), _short(day0 + i * 86400)) for i in range(0, days, every)
            if day0 + i * 86400 >= start]


def _short(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%m-%d")


def hourly_profile(points: list[PointFigures], start: int, end: int) -> Drawing:
    """kg CO2 per hour over all points; substituted hours as orange bars beneath the line."""
    series = hourly_site(points)
    ymax = max((m for _, m, _ in series), default=0) / 100
    d, top, scale = _frame("Hourly CO2 emission, all points (kg/h)", "kg/h", ymax or 1)
    pw = W - LEFT - RIGHT
    x_of = lambda t: LEFT + (t - start) / max(1, end - start) * pw  # noqa: E731
    bar = max(0.5, pw * 3600 / max(1, end - start))
    for t, m, sub in series:
        if sub:
            d.add(Rect(x_of(t), BOTTOM, bar, m / 100 * scale, fillColor=SUBSTITUTED,
                       strokeColor=None))
    run: list[float] = []
    prev = None
    for t, m, sub in series + [(None, 0, True)]:
        if t is None or sub or (prev is not None and t != prev + 3600):
            if len(run) >= 4:
                d.add(PolyLine(run, strokeColor=MEASURED, strokeWidth=0.6))
            run = []
        if t is not None and not sub:
            run += [x_of(t + 1800), BOTTOM + m / 100 * scale]
        prev = t
    _xlabels(d, _day_labels(start, (end - start + 86399) // 86400, x_of))
    return d


def daily_totals(daily: list[Row]) -> Drawing:
    """t CO2 per day, measured and substituted stacked."""
    ymax = max((r.tally.total for r in daily), default=0) / 100_000
    d, top, scale = _frame("Daily CO2 emission (t): measured, substituted", "t", ymax or 1)
    pw = W - LEFT - RIGHT
    n = max(1, len(daily))
    bw = pw / n
    for i, r in enumerate(daily):
        x = LEFT + i * bw
        hm = r.tally.measured / 100_000 * scale
        hs = r.tally.substituted / 100_000 * scale
        d.add(Rect(x, BOTTOM, max(0.4, bw * 0.85), hm, fillColor=MEASURED, strokeColor=None))
        if hs:
            d.add(Rect(x, BOTTOM + hm, max(0.4, bw * 0.85), hs, fillColor=SUBSTITUTED,
                       strokeColor=None))
    every = max(1, math.ceil(n / 10))
    _xlabels(d, [(LEFT + (i + 0.5) * bw, r.label[5:]) for i, r in enumerate(daily)
                 if i % every == 0])
    return d


def availability(point: PointFigures, start: int, end: int) -> Drawing:
    """Each day a column, each hour of the day a cell, coloured by the hour's status."""
    days = date_range(start, end)
    h = 150
    d = Drawing(W, h)
    d.add(String(LEFT, h - 14, f"Data availability, point {point.point.id} "
                 "(green valid, yellow invalid, red missing, grey shutdown)",
                 fontName="Helvetica-Bold", fontSize=9))
    ph = h - BOTTOM - TOP
    pw = W - LEFT - RIGHT
    cw, ch = pw / len(days), ph / 24
    index = {day: i for i, day in enumerate(days)}
    for (day, status), group in itertools.groupby(
            point.hours, key=lambda f: (dt.datetime.fromtimestamp(f.t, dt.timezone.utc)
                                        .strftime("%Y-%m-%d"), f.status)):
        group = list(group)
        h0 = group[0].t % 86400 // 3600
        # one rectangle per run of equal status within a day; hour 0 at the top
        y = BOTTOM + (24 - h0 - len(group)) * ch
        d.add(Rect(LEFT + index[day] * cw, y, cw, len(group) * ch,
                   fillColor=STATUS_COLOURS[status], strokeColor=None))
    for hour in (0, 6, 12, 18):
        d.add(String(LEFT - 4, BOTTOM + (24 - hour - 0.5) * ch - 3, f"{hour:02d}h",
                     fontName="Helvetica", fontSize=7, textAnchor="end"))
    every = max(1, math.ceil(len(days) / 10))
    _xlabels(d, [(LEFT + (i + 0.5) * cw, day[5:]) for i, day in enumerate(days)
                 if i % every == 0])
    return d


def histogram(points: list[PointFigures], name: str, scale: int, title: str, unit: str,
              bins: int = 20) -> Drawing:
    """Counts of valid hours by their hourly average of field ``name`` (record units / scale)."""
    values = [v / scale for v in distribution(points, name)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    d, top, s = _frame(f"{title} (valid hours: {len(values)})", "hours", max(counts) or 1)
    pw = W - LEFT - RIGHT
    bw = pw / bins
    for i, c in enumerate(counts):
        d.add(Rect(LEFT + i * bw, BOTTOM, bw * 0.9, c * s, fillColor=MEASURED, strokeColor=None))
    _xlabels(d, [(LEFT + i * bw, _number(lo + i * width)) for i in range(0, bins + 1, 4)])
    d.add(String(W - RIGHT, BOTTOM - 24, unit, fontName="Helvetica", fontSize=7,
                 textAnchor="end"))
    return d


def _number(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def svg(drawing: Drawing) -> str:
    """Inline SVG of ``drawing``, its ids made unique within the page."""
    text = renderSVG.drawToString(drawing)
    text = text[text.index("<svg"):]
    n = next(_ids)
    return (text.replace('id="clip"', f'id="clip{n}"').replace("url(#clip)", f"url(#clip{n})")
            .replace('id="group"', f'id="group{n}"'))
