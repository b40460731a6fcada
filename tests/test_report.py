"""cemtool report on small databases built by hand: exact totals, tables that add up, the
uncertainty budget, HTML sections, the PDF rendered to an image, and one-line errors."""
from __future__ import annotations

import json
import math
import sqlite3
from decimal import Decimal
from html.parser import HTMLParser

import pypdfium2
import pytest
from click.testing import CliRunner

from cemtool.cli import main
from cemtool.records import Record
from cemtool.report import document, figures, uncertainty
from cemtool.site import parse
from cemtool.store import Store

T0 = 1_735_689_600          # 2025-01-01T00:00:00Z
H = 3600
SITE = {
    "enterprise": {"name": "Test Power Co.", "code": "91310000TEST"},
    "facility": [{"id": "F1", "source": [
        {"id": "S1", "kind": "combustion", "fuel": "coal", "duct_area_m2": 3.0,
         "shutdowns": [["2025-01-02T00:00:00Z", "2025-01-02T03:00:00Z"]],
         "point": [{"id": "P1", "mn": "MN1", "devices": ["dev-a"], "since": "2025-01-01T00:00:00Z",
                    "co2_full_scale_pct": 25}]},
        {"id": "S2", "kind": "process", "duct_area_m2": 1.5,
         "point": [{"id": "P2", "mn": "MN2", "devices": ["dev-b"],
                    "since": "2025-01-01T00:00:00Z"},
                   {"id": "P3", "mn": "MN3", "devices": ["dev-c"],
                    "since": "2025-01-01T00:00:00Z"}]}]}],
}
REQUIRED_SECTIONS = ("entity", "sources", "methodology", "totals", "monthly", "daily", "plots",
                     "quality", "substitutions", "calibrations", "gaps", "uncertainty",
                     "traceability", "firmware", "config-changes", "calibration-events",
                     "seq-ranges")


def hour(seq: int, t: int, mass: int, nv: int = 60, ver: int = 1, co2: int = 1200,
         qsn: int = 30000) -> Record:
    return Record.from_list([2, seq, t, 2, ver, 0 if nv >= 45 else 4, 60, nv, co2, co2 - 50,
                             co2 + 50, 1500, 1400, 1600, 1500, 1490, 1510, 0, 101325, 800,
                             qsn, qsn - 100, qsn + 100, mass])


def write_site(tmp_path, site: dict = SITE):
    lines = []

    def q(v):
        return json.dumps(v)

    e = site["enterprise"]
    lines += ["[enterprise]", *(f"{k} = {q(v)}" for k, v in e.items())]
    for f in site["facility"]:
        lines += ["[[facility]]", f"id = {q(f['id'])}"]
        for s in f["source"]:
            lines.append("[[facility.source]]")
            for k, v in s.items():
                if k != "point":
                    lines.append(f"{k} = {q(v)}")
            for p in s["point"]:
                lines.append("[[facility.source.point]]")
                lines += [f"{k} = {q(v)}" for k, v in p.items()]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def db(tmp_path):
    """48 hours of three devices. dev-a: hours 5-7 missing, hour 10 invalid, hours 24-26 in a
    declared shutdown (no records), a second firmware after a reboot, a config change and a
    calibration. dev-b: every hour. dev-c: every hour but the first two (substituted from the
    hours after them) and a deleted record (a seq gap)."""
    path = tmp_path / "r.sqlite"
    with Store(path) as st:
        a, seq = [], 0
        for i in range(48):
            if i in (5, 6, 7) or 24 <= i < 27:
                continue
            seq += 1
            a.append(hour(seq, T0 + i * H, 1_000_00 + i * 1_234 + (i % 7) * 17,
                          nv=30 if i == 10 else 60, ver=1 if i < 20 else 2))
        st.commit("dev-a", 1, a)
        st.commit("dev-a", 1, [
            Record.from_list([16, seq + 1, T0 + 5, 2, 1, 1, 0, 0, "cemt 0.1.0"]),
            Record.from_list([17, seq + 2, T0 + 3 * H + 60, 2, 1, 1, 4, 12000, 12150, 0, 0, 0]),
            Record.from_list([16, seq + 3, T0 + 8 * H + 5, 2, 1, 2, 3, 0, "cemt 0.1.1"]),
            Record.from_list([19, seq + 4, T0 + 20 * H - 10, 2, 2, "edge.kv", 10000, 10100, 1])])
        st.commit("dev-b", 1, [hour(i + 1, T0 + i * H, 50_000_00 + i) for i in range(48)])
        st.commit("dev-c", 1, [hour(i - 1, T0 + i * H, 2_000_00 + 3 * i) for i in range(2, 48)])
    con = sqlite3.connect(path)
    con.execute("DELETE FROM records WHERE seq = 30 AND dev = (SELECT id FROM devices "
                "WHERE name = 'dev-c')")
    con.commit()
    con.close()
    return path


def valid_sums(path, start: int, end: int) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return dict(con.execute(
            "SELECT d.name, sum(r.mass) FROM records r JOIN devices d ON d.id = r.dev "
            "WHERE r.kind = 2 AND r.valid = 1 AND r.t >= ? AND r.t < ? GROUP BY d.name",
            (start, end)))
    finally:
        con.close()


def build(path, tmp_path, rule="hj75", start=T0, end=T0 + 48 * H):
    site = parse(SITE, write_site(tmp_path))
    with Store(path, readonly=True) as st:
        return figures.build(st, site, start, end, rule, db="r.sqlite", now=T0 + 49 * H)


def test_totals_equal_the_database(db, tmp_path):
    r = build(db, tmp_path)
    sums = valid_sums(db, T0, T0 + 48 * H)
    by_point = {p.point.id: p.tally for p in r.points()}
    assert by_point["P1"].measured == sums["dev-a"]
    assert by_point["P2"].measured == sums["dev-b"]
    assert by_point["P3"].measured == sums["dev-c"]   # the deleted hour counts nowhere
    s1, s2 = r.sources
    assert s1.tally.measured == sums["dev-a"]
    assert s2.tally.measured == sums["dev-b"] + sums["dev-c"]
    assert r.tally.measured == sum(sums.values())
    assert r.tally.total == r.tally.measured + r.tally.substituted
    # every substituted mass is in the total exactly once
    assert r.tally.substituted == sum(f.mass for p in r.points() for f in p.hours if f.substituted)


def test_substituted_exactly_where_data_is_missing(db, tmp_path):
    r = build(db, tmp_path)
    p1, p2, p3 = r.points()
    assert [f.t for f in p1.substituted] == [T0 + i * H for i in (5, 6, 7, 10)]
    assert {f.status for f in p1.substituted} == {"missing", "invalid"}
    assert [f.status for f in p1.hours[24:27]] == ["shutdown"] * 3
    assert all(f.mass == 0 and not f.substituted for f in p1.hours[24:27])
    assert p2.substituted == []
    assert [f.t for f in p3.substituted] == [T0, T0 + H, T0 + 31 * H]  # seq 30 is hour 31
    assert p3.substituted[0].inputs["direction"] == "following"
    # the capture rate leaves the declared shutdown out: 41 valid of 45 hours
    assert p1.tally.capture_rate == pytest.approx(41 / 45)
    assert r.tally.substituted_hours == 7 and r.tally.shutdown == 3


def test_daily_and_monthly_tables_add_up(db, tmp_path):
    r = build(db, tmp_path)
    assert [d.label for d in r.daily] == ["2025-01-01", "2025-01-02"]
    assert [m.label for m in r.monthly] == ["2025-01"]
    for rows in (r.daily, r.monthly):
        assert sum(x.tally.measured for x in rows) == r.tally.measured
        assert sum(x.tally.substituted for x in rows) == r.tally.substituted
        assert sum(x.tally.hours for x in rows) == 3 * 48


def test_mrr_rule_changes_only_the_substitutes(db, tmp_path):
    hj, mrr = build(db, tmp_path), build(db, tmp_path, rule="mrr")
    assert mrr.tally.measured == hj.tally.measured
    assert mrr.rule == "mrr" and {f.rule for p in mrr.points() for f in p.substituted} == {
        "mrr:mean+2sd"}
    assert mrr.tally.substituted != hj.tally.substituted


def test_uncertainty_budget(db, tmp_path):
    r = build(db, tmp_path)
    u = r.uncertainty
    rel = math.sqrt(sum((b[1] / (math.sqrt(3) if b[2] == "rect" else 1) * b[3]) ** 2
                        for b in uncertainty.BUDGET))
    assert u.rel_standard_pct == pytest.approx(rel)
    assert u.total == r.tally.total
    assert u.u_measurement == pytest.approx(rel / 100 * r.tally.total)
    # P1's gaps: hours 5-7 (one gap of three) and hour 10; P3: hours 0-1 and hour 31
    assert [(g.point, g.hours) for g in u.gaps] == [("P1", 3), ("P1", 1), ("P3", 2), ("P3", 1)]
    p1 = r.points()[0]
    valid = [f.mass for f in p1.hours if f.rule == "measured"]
    mean = sum(valid) / len(valid)
    sd = math.sqrt(sum((v - mean) ** 2 for v in valid) / len(valid))
    gap = u.gaps[0]
    assert gap.u == pytest.approx(3 * math.hypot(sd, p1.hours[5].mass - mean))
    assert u.expanded == pytest.approx(2 * math.hypot(u.u_measurement, u.u_substitution))
    assert u.tier == next(t for t, lim in uncertainty.MRR_TIERS if u.expanded_pct <= lim)


def test_mass_text_is_exact():
    assert document.kg_text(123456789) == "1,234,567.89"
    assert document.kg_text(5) == "0.05"
    assert document.t_text(123456749) == "1,234.567"   # 1 234 567.49 kg
    assert document.t_text(123456750) == "1,234.568"   # half a kilogram rounds up


class Page(HTMLParser):
    """The ids of headings and the cell texts of every table of an HTML page."""

    def __init__(self):
        super().__init__()
        self.headings: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs = 0
        self._table = self._cell = None
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self.headings.append(a.get("id"))
        elif tag == "table":
            self._table = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "svg":
            self.svgs += 1
        if tag in ("link", "script", "img") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src"))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_page(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def cents(text: str) -> int:
    """0.01 kg units of a '1,234.56' kg cell."""
    return int(Decimal(text.replace(",", "")) * 100)


def column(table: list[list[str]], name: str) -> list[str]:
    i = table[0].index(name)
    return [row[i] for row in table[1:]]


def run_report(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def test_cli_html_and_json(db, tmp_path):
    site = write_site(tmp_path)
    out = tmp_path / "report.html"
    res = run_report("--db", str(db), "--site", str(site), "--from", "2025-01-01", "--to",
                     "2025-01-02", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    fig = json.loads(res.stdout, parse_float=Decimal)
    sums = valid_sums(db, T0, T0 + 48 * H)
    assert fig["period"] == {"from": "2025-01-01T00:00:00Z", "to": "2025-01-03T00:00:00Z",
                             "hours": 48}
    assert cents(str(fig["totals_kg"]["measured"])) == sum(sums.values())
    assert cents(str(fig["sources_kg"]["S1"]["measured"])) == sums["dev-a"]
    assert cents(str(fig["sources_kg"]["S2"]["measured"])) == sums["dev-b"] + sums["dev-c"]
    total = fig["totals_kg"]
    assert total["total"] == total["measured"] + total["substituted"]
    assert fig["substituted_hours"] == 7
    assert fig["data_through"] == "2025-01-03T00:00:00Z"
    assert fig["capture_rate"]["P2"] == 1.0 and float(fig["capture_rate"]["P1"]) == pytest.approx(41 / 45)

    page = parse_page(out.read_text())
    for section in REQUIRED_SECTIONS:
        assert section in page.headings, section
    assert page.svgs == 2 + 3 + 2 and page.links == []   # self-contained
    totals = page.tables["totals-table"]
    kg = dict(zip(column(totals, "source"), column(totals, "total kg")))
    for ident in ("S1", "S2"):
        assert cents(kg[ident]) == cents(str(fig["sources_kg"][ident]["total"]))
    assert cents(kg["all"]) == cents(str(total["total"]))
    subs = page.tables["substitutions-table"]
    assert len(subs) - 1 == 7
    assert sum(cents(v) for v in column(subs, "kg")) == cents(str(total["substituted"]))
    fw = page.tables["firmware-table"]
    assert column(fw, "firmware") == ["cemt 0.1.0", "cemt 0.1.1"]
    assert column(page.tables["config-table"], "key") == ["edge.kv"]
    assert column(page.tables["calibrations-table"], "drift % FS") == ["+0.60"]
    assert column(page.tables["calibration-events-table"], "time") == ["2025-01-01T03:01:00Z"]
    gaps = page.tables["gaps-table"]
    assert [(r[1], r[3]) for r in gaps[1:]] == [("dev-c", "30–30")]


def test_pdf_renders(db, tmp_path):
    site = write_site(tmp_path)
    out = tmp_path / "report.pdf"
    res = run_report("--db", str(db), "--site", str(site), "--from", "2025-01-01", "--to",
                     "2025-01-02", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "t CO2" in res.output
    pdf = pypdfium2.PdfDocument(str(out))
    assert len(pdf) >= 3
    image = pdf[0].render(scale=1).to_pil().convert("L")
    hist = image.histogram()                    # 256 grey levels
    dark = sum(hist[:128]) / sum(hist)
    assert 0.005 < dark < 0.5, dark             # text on a white page, not blank, not black
    assert sum(1 for n in hist if n) > 10
    text = pdf[0].get_textpage().get_text_range()
    assert "Carbon inventory report: Test Power Co." in text


@pytest.mark.parametrize("change, message", [
    ({"--from": "2025-13-01"}, "--from: '2025-13-01' is not a date"),
    ({"--to": "yesterday"}, "--to: 'yesterday' is not a date"),
    ({"--from": "2025-01-03", "--to": "2025-01-01"}, "is not after --from"),
    ({"--from": "2025-01-01T00:30:00Z"}, "whole UTC hours"),
    ({"--db": "nowhere.sqlite"}, "no database at nowhere.sqlite"),
    ({"--site": "nowhere.toml"}, "nowhere.toml: cannot read"),
    ({"--from": "2024-01-01", "--to": "2024-01-31"}, "no hour records"),
    ({"--out": "report.docx"}, "must end in .html or .pdf"),
])
def test_bad_input_is_one_line(db, tmp_path, monkeypatch, change, message):
    monkeypatch.chdir(tmp_path)
    opts = {"--db": str(db), "--site": str(write_site(tmp_path)), "--from": "2025-01-01",
            "--to": "2025-01-02", "--out": "report.html", **change}
    res = run_report(*[x for kv in opts.items() for x in kv])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not (tmp_path / "report.html").exists()


def test_hours_after_the_data_are_said_to_be_substituted(db, tmp_path):
    r = build(db, tmp_path, end=T0 + 50 * H)
    assert r.data_through == T0 + 48 * H
    assert [f.status for f in r.points()[1].hours[48:]] == ["missing", "missing"]
    intro = document.blocks(r)[1].text
    assert "Newest hour record: 2025-01-02T23:00:00Z; the hours after it have no data" in intro
