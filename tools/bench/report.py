"""Report benchmark: the carbon inventory report of one year of 10 monitoring points.

    python tools/bench/report.py [--points 10] [--days 365] [--db PATH] [--json]

1. Generation (timed apart): a receiver database made with ``cemtool.store`` holding, per point,
   one device's minute records (1 440 a day), hour records (their masses the exact sums of the
   minutes) and day records, plus a boot record and a weekly calibration check. Each device has
   an invalid hour every 10 days and a 6-hour power cut (no records) every 60 days, so the
   substitution rule has work. ``--db PATH`` keeps the database there (and reuses it if it exists).
2. The report, in this process: the figures (``report.figures.build``: hour series, substitution,
   quality, traceability), the HTML and the PDF rendering, each timed, with the output sizes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host"))

import cbor2  # noqa: E402

from cemtool import site as sitemod  # noqa: E402
from cemtool.report import figures, html, pdf  # noqa: E402
from cemtool.store import Store  # noqa: E402

T0 = 1_735_689_600   # 2025-01-01T00:00:00Z


def minute(seq: int, t: int, i: int, valid: bool) -> list[int]:
    co2 = 1150 + i % 120
    vel = 1450 + i % 110
    nv = 60 if valid else 5
    mass = 7000 + i % 900 if valid else 600
    return [1, seq, t, 2, 1, 0 if valid else 4, 60, nv, co2, co2 - 30, co2 + 30, vel, 1795 + i % 21,
            -150 + i % 17, 51000 + i % 1800, mass]


def period(kind: int, seq: int, t: int, subs: list[list[int]], need: int) -> list[int]:
    """An hour (kind 2) or day (3) record summarising ``subs`` (minute or hour records)."""
    nv = sum(1 for r in subs if r[7] >= need)
    co2 = [r[8] for r in subs]
    vel = [r[11] for r in subs]
    temp = [r[12] if kind == 2 else r[14] for r in subs]
    qsn = [r[14] if kind == 2 else r[20] for r in subs]
    flag = 0 if 4 * nv >= 3 * len(subs) else 4
    return [kind, seq, t, 2, 1, flag, len(subs), nv, sum(co2) // len(co2), min(co2), max(co2),
            sum(vel) // len(vel), min(vel), max(vel), sum(temp) // len(temp), min(temp), max(temp),
            -150, 101325, 800, sum(qsn) // len(qsn), min(qsn), max(qsn), sum(r[-1] for r in subs)]


def generate(path: Path, points: int, days: int) -> int:
    n = 0
    with Store(path) as st:
        for p in range(points):
            dev = f"dev-{p:02d}"
            boot = [16, 1, T0 + 2, 2, 1, 1, 0, 0, "cemt 0.1.0"]
            st.commit(dev, 1, [boot], [cbor2.dumps(boot, canonical=True)])
            mseq, lseq = 0, 1
            for d in range(days):
                day_t = T0 + d * 86400
                mins, longs, hours = [], [], []
                for h in range(24):
                    hour_t = day_t + h * 3600
                    if d % 60 == 30 and 8 <= h < 14:
                        continue  # the device is off: no records at all
                    invalid = d % 10 == 3 and h == 11
                    recs = []
                    for m in range(60):
                        mseq += 1
                        recs.append(minute(mseq, hour_t + 60 * m, mseq * 7919 + p,
                                           not (invalid and m >= 20)))
                    mins += recs
                    lseq += 1
                    hr = period(2, lseq, hour_t, recs, 12)
                    hours.append(hr)
                    longs.append(hr)
                if hours:
                    lseq += 1
                    longs.append(period(3, lseq, day_t, hours, 45))
                if d % 7 == 6:
                    lseq += 1
                    longs.append([17, lseq, day_t + 86000, 2, 1, 1, 4, 12000, 12000 + d % 50,
                                  0, 0, 0])
                for log, recs in ((0, mins), (1, longs)):
                    if recs:
                        st.commit(dev, log, recs,
                                  [cbor2.dumps(r, canonical=True) for r in recs], T0 + d * 86400)
                        n += len(recs)
    return n


def site_toml(points: int) -> str:
    lines = ['[enterprise]', 'name = "Bench Power Co."', 'code = "BENCH"', "",
             '[[facility]]', 'id = "F1"']
    for s in range((points + 1) // 2):
        lines += ["", "[[facility.source]]", f'id = "S{s + 1}"', 'kind = "combustion"',
                  'fuel = "coal"', "duct_area_m2 = 3.0", "allowance_t = 250000"]
        for p in range(2 * s, min(points, 2 * s + 2)):
            lines += ["[[facility.source.point]]", f'id = "P{p + 1}"', f'mn = "MN{p + 1:04d}"',
                      f'devices = ["dev-{p:02d}"]', 'since = "2025-01-01T00:00:00Z"',
                      "co2_full_scale_pct = 25"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--db", type=Path, help="keep the generated database here (reused if present)")
    ap.add_argument("--json", action="store_true", help="print one JSON object of figures")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = a.db or tmp / "bench.sqlite"
        gen_s, records = None, None
        if not db.exists():
            t = time.perf_counter()
            records = generate(db, a.points, a.days)
            gen_s = time.perf_counter() - t
        site_path = tmp / "site.toml"
        site_path.write_text(site_toml(a.points))
        site = sitemod.load(site_path)
        with Store(db, readonly=True) as st:
            if records is None:
                records = st.count()
            t = time.perf_counter()
            rep = figures.build(st, site, T0, T0 + a.days * 86400, "hj75", db=db.name)
            build_s = time.perf_counter() - t
        t = time.perf_counter()
        page = html.render(rep).encode()
        html_s = time.perf_counter() - t
        t = time.perf_counter()
        doc = pdf.render(rep)
        pdf_s = time.perf_counter() - t
        size = db.stat().st_size
    out = {"points": a.points, "days": a.days, "records": records, "db_bytes": size,
           "generate_s": None if gen_s is None else round(gen_s, 1),
           "figures_s": round(build_s, 2), "html_s": round(html_s, 2), "pdf_s": round(pdf_s, 2),
           "report_html_s": round(build_s + html_s, 2), "report_pdf_s": round(build_s + pdf_s, 2),
           "html_bytes": len(page), "pdf_bytes": len(doc),
           "hours": rep.tally.hours, "substituted_hours": rep.tally.substituted_hours,
           "total_t": round(rep.tally.total / 100_000, 3)}
    if a.json:
        print(json.dumps(out))
        return
    print(f"report benchmark: {a.points} points × {a.days} days "
          f"({records:,} records, database {size / 1e6:,.0f} MB)")
    rows = [("generate the database (not part of the report)",
             "-" if gen_s is None else f"{gen_s:,.1f} s"),
            ("figures: hour series, substitution, quality, traceability", f"{build_s:,.2f} s"),
            ("render HTML", f"{html_s:,.2f} s"), ("render PDF", f"{pdf_s:,.2f} s"),
            ("report, HTML (figures + render)", f"{build_s + html_s:,.2f} s"),
            ("report, PDF (figures + render)", f"{build_s + pdf_s:,.2f} s"),
            ("HTML size", f"{len(page) / 1e3:,.0f} kB"), ("PDF size", f"{len(doc) / 1e3:,.0f} kB"),
            ("hours (point-hours) / substituted", f"{rep.tally.hours:,} / "
                                                  f"{rep.tally.substituted_hours:,}")]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v:>12}")


if __name__ == "__main__":
    main()
