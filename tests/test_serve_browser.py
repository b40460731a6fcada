"""cemtool serve in a real headless browser: Debian's /usr/bin/chromium driven by playwright
(tools/ensure_chromium.sh installs it; playwright never downloads a browser here). A browser that
cannot start fails these tests: they are never skipped."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from cemtool.records import ALARM, MINUTE, Record, iso_utc
from cemtool.store import Store
from test_serve_api import (FIRST, H, H0, HIGH_HOUR, INVALID_HOUR, LOST_HOUR, NOW, Built, build,
                            cemtool_serve, hour_masses, minute_fields, newest)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 20_000


@contextmanager
def chromium() -> Iterator[Page]:
    """A page of a fresh headless chromium with its own new profile directory."""
    with tempfile.TemporaryDirectory(prefix="cemt-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert errors == [], errors
        finally:
            context.close()


@contextmanager
def dashboard(built: Built, *extra: str) -> Iterator[tuple[Page, str]]:
    with cemtool_serve("--db", str(built.db), "--site", str(built.site), "--at", iso_utc(NOW),
                       *extra) as (_, base), chromium() as page:
        page.goto(base + "/")
        page.wait_for_function("Number(document.body.dataset.refreshes) >= 1", timeout=WAIT_MS)
        yield page, base


def text(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text()


@pytest.fixture
def built(tmp_path) -> Built:
    return build(tmp_path)


def test_chromium_is_installed():
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: run tools/ensure_chromium.sh"


def test_page_shows_status_chart_warnings_and_quality_of_each_point(built):
    with dashboard(built) as (page, _):
        assert not page.locator("#error").is_visible()
        assert text(page, "#enterprise") == "Serve Test Co."
        assert page.locator("section.point").evaluate_all("s => s.map(x => x.dataset.point)") \
            == ["P1", "P2"]
        for point, device in (("P1", "dev-a"), ("P2", "dev-b")):
            row = newest(built.db, device, MINUTE).row()
            card = f'[data-point="{point}"] .reading.minute'
            shown = {f: text(page, f'{card} [data-field="{f}"]')
                     for f in ("flag", "co2_pct", "qsn_m3h", "velocity_ms", "temp_c", "rate_kg_h")}
            assert shown == {"flag": row["flag"], "co2_pct": f"{row['co2_pct']:,.2f}",
                             "qsn_m3h": f"{row['qsn_m3h']:,.0f}",
                             "velocity_ms": f"{row['velocity_ms']:,.2f}",
                             "temp_c": f"{row['temp_c']:,.1f}",
                             "rate_kg_h": f"{row['co2_kg'] * 60:,.2f}"}, point
            assert text(page, f'{card} [data-field="t"]') == \
                row["t"][:16].replace("T", " ") + " UTC"
        assert text(page, '[data-point="P1"] .reading.minute [data-field="qsn_m3h"]') == "98,767"
        assert page.locator('[data-point="P1"] [data-field="link"]').get_attribute("data-state") \
            == "fresh"
        assert page.locator('[data-point="P2"] [data-field="link"]').get_attribute("data-state") \
            == "late"
        # device warnings: the raised fault_co2, not the cleared co2_high
        assert page.locator('[data-point="P1"] li.alarm').evaluate_all(
            "l => l.map(x => x.dataset.code)") == ["11"]
        assert "fault_co2" in text(page, '[data-point="P1"] li.alarm')
        assert page.locator('[data-point="P2"] li.alarm').count() == 0

        # the chart: one bar per hour with data, substituted hours drawn apart
        held = hour_masses(built.db, "dev-a")
        bars = page.locator('[data-point="P1"] svg.chart rect.bar').evaluate_all(
            "b => b.map(x => [x.dataset.t, Number(x.dataset.kg), x.classList.contains('substituted')])")
        assert [b[0] for b in bars] == [iso_utc(t) for t in range(FIRST, H0, H)]
        assert {b[0] for b in bars if b[2]} == {iso_utc(LOST_HOUR), iso_utc(INVALID_HOUR)}
        for t, kg, substituted in bars:
            if not substituted:
                assert held[t] == (round(kg * 100), True)
        fills = page.locator('[data-point="P1"] svg.chart rect.bar.substituted').evaluate_all(
            "b => b.map(x => x.getAttribute('fill'))")
        assert fills == ["url(#hatch-0)"] * 2
        assert page.locator('[data-point="P2"] svg.chart rect.bar').count() == 3
        tallest = page.locator(f'[data-point="P1"] rect.bar[data-t="{iso_utc(HIGH_HOUR)}"]')
        assert float(tallest.get_attribute("height")) == max(
            float(h) for h in page.locator('[data-point="P1"] rect.bar').evaluate_all(
                "b => b.map(x => x.getAttribute('height'))"))

        # warnings: the rate of P1 and both projections of S1
        active = page.locator("li.warning.active").evaluate_all(
            "l => l.map(x => x.dataset.kind + ' ' + x.dataset.id)")
        assert sorted(active) == ["month S1", "rate P1", "year S1"]
        assert "2,500.00 kg/h" in text(page, 'li.warning.active[data-kind="rate"]')

        # data quality
        q = {f: text(page, f'[data-point="P1"] table.quality [data-field="{f}"]')
             for f in ("capture_rate", "substituted_hours", "gaps", "calibration_status")}
        assert q == {"capture_rate": "93.3 %", "substituted_hours": "2", "gaps": "1",
                     "calibration_status": "ok"}


def test_a_new_record_appears_after_the_refresh(built):
    with dashboard(built, "--refresh", "1") as (page, _):
        co2 = '[data-point="P1"] .reading.minute [data-field="co2_pct"]'
        assert text(page, co2) == "12.36"
        with Store(built.db) as store:  # the receiver commits while the page is open
            minute_seq = store.committed("dev-a")[0] + 1
            store.commit("dev-a", 0, [Record.from_list(
                [MINUTE, minute_seq, NOW - 60, 2, 1, *minute_fields(1500, 99999, 2000)])],
                arrived_ms=(NOW - 5) * 1000)
            long_seq = store.committed("dev-a")[1] + 1
            store.commit("dev-a", 1, [Record.from_list([ALARM, long_seq, NOW - 30, 2, 1,
                                                        20, 1, 5, 3])], arrived_ms=NOW * 1000)
        page.wait_for_function(f"document.querySelector('{co2}').textContent === '15.00'",
                               timeout=WAIT_MS)
        assert text(page, '[data-point="P1"] .reading.minute [data-field="qsn_m3h"]') == "99,999"
        assert text(page, '[data-point="P1"] .reading.minute [data-field="rate_kg_h"]') == \
            "1,200.00"
        page.wait_for_function(
            "document.querySelectorAll('[data-point=\"P1\"] li.alarm').length === 2",
            timeout=WAIT_MS)
        assert "stale" in text(page, '[data-point="P1"] li.alarm[data-code="20"]')


def test_a_chosen_day_redraws_the_chart(built):
    with dashboard(built) as (page, _):
        before = int(page.evaluate("document.body.dataset.refreshes"))
        page.fill("#day", iso_utc(FIRST)[:10])
        page.wait_for_function(f"Number(document.body.dataset.refreshes) > {before}",
                               timeout=WAIT_MS)
        bars = page.locator('[data-point="P1"] svg.chart rect.bar').evaluate_all(
            "b => b.map(x => x.dataset.t)")
        assert bars == [iso_utc(t) for t in range(FIRST, H0 - 12 * H, H)]  # up to midnight
        assert "day 2025-03-09" in text(page, '[data-point="P1"] figcaption')


def test_a_database_that_goes_away_shows_one_line_and_comes_back(built, tmp_path):
    with dashboard(built, "--refresh", "1") as (page, _):
        moved = built.db.rename(tmp_path / "moved.sqlite")
        page.wait_for_selector("#error", state="visible", timeout=WAIT_MS)
        assert text(page, "#error") == f"Cannot refresh: no database at {built.db}"
        moved.rename(built.db)
        page.wait_for_selector("#error", state="hidden", timeout=WAIT_MS)


def test_screenshot_is_not_blank(built, tmp_path):
    shot = tmp_path / "dashboard.png"
    with dashboard(built) as (page, _):
        page.screenshot(path=str(shot), full_page=True)
    image = Image.open(shot).convert("RGB")
    assert image.width == 1200 and image.height > 900
    colors = image.getcolors(maxcolors=1 << 20)
    assert len(colors) > 50
    counts = {rgb: n for n, rgb in colors}
    background = max(counts.values())
    assert background < image.width * image.height * 0.9
    assert counts.get((0x2d, 0x6a, 0x4f), 0) > 1000   # measured bars are drawn
    assert Path(shot).stat().st_size > 10_000
