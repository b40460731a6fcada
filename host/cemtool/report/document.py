"""The report as a sequence of blocks (headings, paragraphs, tables, charts) for any renderer.

The HTML and the PDF show the same blocks; only ``cemtool.report.html`` and
``cemtool.report.pdf`` know their format. Masses are formatted from the exact integers of
``figures``: kg with two decimals (exact), t with three (rounded to the kilogram).
"""
from __future__ import annotations

from dataclasses import dataclass

from cemtool.records import iso_utc
from cemtool.substitute import HJ75_WINDOWS, MRR_MIN_MINUTES

from . import plots
from .figures import Report, Tally
from .uncertainty import MRR_TIERS


@dataclass(frozen=True)
class Heading:
    id: str
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    id: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    total_row: bool = False   # the last row is a total (rendered bold)


@dataclass(frozen=True)
class Chart:
    drawing: object   # a reportlab Drawing


def kg_text(mass: int) -> str:
    """0.01 kg units as exact kg, e.g. 1 234.56 (thin grouping with commas)."""
    return f"{mass // 100:,}.{mass % 100:02d}"


def t_text(mass: int) -> str:
    """0.01 kg units as t CO2 with three decimals, rounded half up to the kilogram."""
    kgs = (mass + 50) // 100
    return f"{kgs // 1000:,}.{kgs % 1000:03d}"


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f} %"


def _value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.2f}"
    return str(v)


def _tally_cells(t: Tally) -> tuple[str, ...]:
    return (t_text(t.measured), t_text(t.substituted), t_text(t.total), kg_text(t.total),
            str(t.valid), str(t.substituted_hours), str(t.shutdown), pct(t.capture_rate))


TALLY_HEADER = ("measured t", "substituted t", "total t", "total kg", "valid h",
                "substituted h", "shutdown h", "capture")


def blocks(r: Report) -> list:
    out: list = [Heading("title", f"Carbon inventory report: {r.site.enterprise.name}", 1),
                 Para(f"Period {iso_utc(r.start)} to {iso_utc(r.end)} (UTC, end exclusive). "
                      f"Substitution rule: {r.rule}. Generated {iso_utc(r.generated)} by cemtool "
                      f"from the receiver database {r.db or '(unnamed)'}. Newest hour record: "
                      f"{iso_utc(r.data_through - 3600)}"
                      + ("." if r.data_through >= r.end else
                         "; the hours after it have no data and are substituted."))]
    for ident, title, section in SECTIONS:
        out.append(Heading(ident, title))
        out += section(r)
    return out


def _entity(r: Report) -> list:
    e = r.site.enterprise
    rows = [("Enterprise", e.name), ("Registry code", e.code or "-"),
            ("Address", e.address or "-"), ("Contact", e.contact or "-"),
            ("Site file", str(r.site.path))]
    rows += [(f"Facility {f.id}", f"{f.name}: sources {', '.join(s.id for s in f.sources)}")
             for f in r.site.facilities]
    return [Table("entity-table", ("item", "value"), rows),
            Para("The boundary is the set of emission sources (stacks) of the site file; each "
                 "source's emission is the sum of its monitoring points, each point's is measured "
                 "by the devices bound to it.")]


def _sources(r: Report) -> list:
    rows = []
    for s in r.sources:
        src = s.source
        shut = "; ".join(f"{iso_utc(a)} to {iso_utc(b)}" for a, b in src.shutdowns) or "none"
        rows.append((src.id, src.name, src.kind, src.fuel or "-", f"{src.duct_area_m2:g}",
                     "-" if src.allowance_t is None else f"{src.allowance_t:,.0f}", shut))
    pts = [(p.point.id, p.point.source.id, p.point.name, p.point.mn,
            ", ".join(p.point.device_ids)) for p in r.points()]
    return [Table("sources-table", ("source", "name", "kind", "fuel / process", "duct m²",
                                    "allowance t/yr", "declared shutdowns"), rows),
            Table("points-table", ("point", "source", "name", "MN (HJ 212)", "devices"), pts)]


def _methodology(r: Report) -> list:
    rule = {"hj75": (
        "HJ 75-2017 (default): by the capture rate of the hour's calendar quarter, a gap is filled "
        f"with the maximum of the {HJ75_WINDOWS['short']} valid hours before it (gap ≤ 24 h, "
        f"capture ≥ 90 %), of the {HJ75_WINDOWS['long']} before it (longer gap), or of the "
        f"{HJ75_WINDOWS['mid']} before it (capture 75–90 %); below 75 % the source's rated "
        "maximum or the largest valid hour."),
        "mrr": (
        f"EU MRR 2018/2066 Art. 44–45: an hour is valid with ≥ {MRR_MIN_MINUTES} valid minutes "
        "(80 %); a missing hour is the mean plus twice the standard deviation of the valid hours "
        "of the reporting year.")}[r.rule]
    return [
        Para("Measurement-based (continuous emission monitoring): each terminal samples CO2, the "
             "pitot Δp, flue temperature, static and ambient pressure every second and integrates "
             "the CO2 mass per sample; minute, hour and day records carry the integer mass in "
             "0.01 kg. The report adds the stored hour masses; nothing is recomputed from averages."),
        Table("formulas", ("step", "formula"), [
            ("molar mass", "Md = 0.44·%CO2 + 0.32·%O2 + 0.28·(100 − %CO2 − %O2); "
                           "Ms = Md·(1 − Xsw) + 18.0·Xsw (EPA Method 2)"),
            ("density", "ρs = Ms·(Ba + Ps) / (8314.46·(273.15 + ts)) kg/m³"),
            ("velocity", "vp = Kp·√(2·Δp/ρs); Vs = Kv·vp"),
            ("dry standard flow", "Qsn = 3600·F·Vs·273.15/(273.15 + ts)·(Ba + Ps)/101325·(1 − Xsw) m³/h"),
            ("concentration", "C = C_dry(%vol) × 44.01 / 22.414 × 10⁴ mg/m³: 1 %vol = 19 635.05 "
                              "mg/m³ (HJ 212 tables use 22.4 L/mol: 19 647, 0.06 % more)"),
            ("mass rate", "G = C·Qsn·10⁻⁶ kg/h, integrated per valid sample (Σ G·Δt)"),
            ("periods", "minute valid with ≥ 12 valid samples, hour with ≥ 45 valid minutes, day "
                        "with ≥ 20 valid hours; hour mass = Σ minute masses (exact)"),
            ("flags", "N when ≥ 75 % of inputs are N, else the most frequent abnormal status "
                      "(HJ 212-2017 Table 8: N F M S D C T B)"),
        ]),
        Para("Constants: R = 8314.46 J/(kmol·K); standard state 273.15 K and 101 325 Pa; "
             "CO2 44.01 g/mol; molar volume 22.414 L/mol; water 18.0 g/mol; rest of the flue gas "
             "28.0 g/mol. Capture rate = valid hours / (hours − declared shutdown hours)."),
        Para("Missing data is filled on the host, never in the stored records, and every filled "
             f"hour is listed with its rule. Rule used: {rule} Declared shutdown hours count zero. "
             "Total = measured + substituted."),
    ]


def _totals(r: Report) -> list:
    rows = [(s.source.id, s.source.name, *_tally_cells(s.tally)) for s in r.sources]
    rows.append(("all", "all sources", *_tally_cells(r.tally)))
    prow = [(p.point.id, p.point.source.id, *_tally_cells(p.tally)) for p in r.points()]
    months = [(m.label, *_tally_cells(m.tally)) for m in r.monthly]
    days = [(d.label, *_tally_cells(d.tally)) for d in r.daily]
    return [
        Table("totals-table", ("source", "name", *TALLY_HEADER), rows, total_row=True),
        Para(f"Total CO2 of the period: {t_text(r.tally.total)} t ({kg_text(r.tally.total)} kg), "
             f"of which measured {kg_text(r.tally.measured)} kg and substituted "
             f"{kg_text(r.tally.substituted)} kg in {r.tally.substituted_hours} hours."
             + (f" {r.tally.unfilled} hours could not be filled (no valid hour and no rated "
                "maximum) and count zero." if r.tally.unfilled else "")),
        Heading("points-totals", "Per monitoring point", 3),
        Table("point-totals-table", ("point", "source", *TALLY_HEADER), prow),
        Heading("monthly", "Monthly", 3),
        Table("monthly-table", ("month", *TALLY_HEADER), months),
        Heading("daily", "Daily", 3),
        Table("daily-table", ("day", *TALLY_HEADER), days),
    ]


def _plots(r: Report) -> list:
    points = r.points()
    out = [Chart(plots.hourly_profile(points, r.start, r.end)), Chart(plots.daily_totals(r.daily))]
    out += [Chart(plots.availability(p, r.start, r.end)) for p in points]
    out += [Chart(plots.histogram(points, "co2", 100, "CO2 concentration, hourly means",
                                  "%vol dry")),
            Chart(plots.histogram(points, "qsn", 1, "Dry standard flow Qsn, hourly means",
                                  "m³/h"))]
    return out


def _quality(r: Report) -> list:
    rows, subs, cals, gaps = [], [], [], []
    for p in r.points():
        q = p.quality
        t = q.timeliness["hour"]
        rows.append((p.point.id, str(q.hours), str(q.valid), str(q.invalid), str(q.missing),
                     str(q.shutdown), pct(q.capture_rate),
                     " ".join(f"{k}:{v}" for k, v in q.by_flag.items() if v),
                     "-" if t.median_s is None else f"{t.median_s:,.0f} / {t.max_s:,.0f}",
                     q.calibration_status))
        for f in p.substituted:
            inputs = f.inputs or {}
            basis = ", ".join(f"{k}={_value(v)}" for k, v in inputs.items()
                              if k in ("window", "direction", "used", "chosen_t", "capture_rate",
                                       "reference", "mean_kg", "sd_kg", "gap_hours"))
            subs.append((p.point.id, iso_utc(f.t), f.status, f.rule,
                         "-" if f.mass is None else kg_text(f.mass), basis))
        for c in q.calibrations:
            cals.append((p.point.id, iso_utc(c.t), c.device, str(c.seq), str(c.channel),
                         str(c.action), str(c.ref), str(c.reading), str(c.drift),
                         "-" if c.drift_pct_fs is None else f"{c.drift_pct_fs:+.2f}",
                         "OVER LIMIT" if c.over_limit else "ok", str(c.result)))
        for g in q.gaps:
            gaps.append((p.point.id, g.device, g.log, f"{g.first}–{g.last}", str(g.count),
                         "-" if g.after_t is None else iso_utc(g.after_t),
                         "-" if g.before_t is None else iso_utc(g.before_t)))
    return [
        Table("quality-table", ("point", "hours", "valid", "invalid", "missing", "shutdown",
                                "capture", "hours by flag", "hour delay s median / max",
                                "calibration"), rows),
        Heading("substitutions", f"Substituted hours ({len(subs)})", 3),
        Table("substitutions-table", ("point", "hour", "status", "rule", "kg", "inputs"), subs)
        if subs else Para("No hour was substituted."),
        Heading("calibrations", f"Calibrations and drift ({len(cals)})", 3),
        Table("calibrations-table", ("point", "time", "device", "seq", "channel", "action", "ref",
                                     "reading", "drift", "drift % FS", "limit", "result"), cals)
        if cals else Para("No calibration record in the period."),
        Heading("gaps", f"Sequence gaps ({len(gaps)})", 3),
        Table("gaps-table", ("point", "device", "log", "seq", "records", "after", "before"), gaps)
        if gaps else Para("No record is absent from the database: every seq of every device log "
                          "in the period is held."),
    ]


def _uncertainty(r: Report) -> list:
    u = r.uncertainty
    rows = [(c.name, f"±{c.bound_pct:g} %", c.distribution, f"{c.sensitivity:g}",
             f"{c.standard_pct:.2f} %", c.basis) for c in u.components]
    tier = "below tier 1" if u.tier is None else f"tier {u.tier}"
    limits = ", ".join(f"tier {t} ±{lim:g} %" for t, lim in MRR_TIERS)
    return [
        Table("budget-table", ("input", "bound", "distribution", "sensitivity",
                               "u (% of mass)", "basis"), rows),
        Para(f"Combined relative standard uncertainty of measurement: {u.rel_standard_pct:.2f} %, "
             f"taken as fully correlated across hours: u = {u.u_measurement / 100:,.0f} kg. "
             f"Substitution: {len(u.gaps)} gaps, u = {u.u_substitution / 100:,.0f} kg "
             "(each hour: √(sd² + (value − mean)²) of the point's valid hours; hours of a gap add "
             "linearly, gaps in quadrature)."),
        Para(f"Expanded uncertainty (k = {u.k:g}, about 95 %): ±{u.expanded_kg:,.0f} kg, "
             f"±{u.expanded_pct:.2f} % of the total. EU MRR 2018/2066 tiers for measured CO2: "
             f"{limits}: this estimate meets {tier}. Field studies of Chinese CO2 CEMS report "
             "about 5 % (design brief §4.6)."),
    ]


def _traceability(r: Report) -> list:
    dev_rows, fw_rows, ver_rows, seq_rows, cfg_rows = [], [], [], [], []
    for d in r.devices:
        dev_rows.append((d.device, ", ".join(d.points) or "-"))
        fw_rows += [(d.device, fw, str(n), iso_utc(a), iso_utc(b)) for fw, n, a, b in d.firmware]
        ver_rows += [(d.device, str(v), str(n), iso_utc(a), iso_utc(b))
                     for v, n, a, b in d.versions]
        seq_rows += [(d.device, log, str(lo), str(hi), str(n), str(hi - lo + 1 - n))
                     for log, lo, hi, n in d.logs]
        cfg_rows += [(d.device, iso_utc(c["t"]), str(c["seq"]), str(c["ver"]), str(c["key"]),
                      str(c["old"]), str(c["new"]), str(c["source"])) for c in d.config_changes]
    cal_rows = [(c.device, iso_utc(c.t), str(c.seq), str(c.ver), str(c.channel), str(c.action),
                 str(c.before), str(c.after), str(c.result))
                for p in r.points() for c in p.quality.calibrations]
    return [
        Table("devices-table", ("device", "points"), dev_rows),
        Heading("firmware", "Firmware versions (boot records)", 3),
        Table("firmware-table", ("device", "firmware", "boots", "first", "last"), fw_rows)
        if fw_rows else Para("No boot record held."),
        Heading("versions", "Configuration versions of the hour records", 3),
        Table("versions-table", ("device", "ver", "hour records", "first", "last"), ver_rows),
        Heading("config-changes", f"Configuration changes ({len(cfg_rows)})", 3),
        Table("config-table", ("device", "time", "seq", "ver", "key", "old", "new", "source"),
              cfg_rows) if cfg_rows else Para("No configuration change recorded."),
        Heading("calibration-events", f"Calibration events ({len(cal_rows)})", 3),
        Table("calibration-events-table", ("device", "time", "seq", "ver after", "channel",
                                           "action", "before", "after", "result"), cal_rows)
        if cal_rows else Para("No calibration record in the period."),
        Heading("seq-ranges", "Record sequence ranges in the period", 3),
        Table("seq-table", ("device", "log", "first seq", "last seq", "held", "absent"),
              seq_rows),
        Para("Absent seqs are listed one by one in section 6 (sequence gaps): records deleted "
             "from the database or never delivered are found, not hidden."),
    ]


SECTIONS = (
    ("entity", "1. Reporting entity and boundary", _entity),
    ("sources", "2. Emission sources and monitoring points", _sources),
    ("methodology", "3. Methodology", _methodology),
    ("totals", "4. Emissions", _totals),
    ("plots", "5. Charts", _plots),
    ("quality", "6. Data quality", _quality),
    ("uncertainty", "7. Uncertainty", _uncertainty),
    ("traceability", "Appendix: traceability", _traceability),
)
