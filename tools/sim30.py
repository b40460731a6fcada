"""The 30-day simulated run behind the report's fixture (tests/data/sim30), and its packing.

    python tools/sim30.py [--out /tmp/sim30]        # run it (≈ 45 min on 2 cores), then pack
    python tools/sim30.py --pack-only --out DIR     # pack a finished run of exactly this command

The run: the daily-load scenario for 720 simulated hours with a CO2 analyser disconnected for 3 h
on day 5, a garbled Δp sensor for 2 h on day 8, an 8 h link outage on day 10 (records wait in
flash) and the device's power off for 5 h on day 20 (hours never measured: substitution has work).
Packing writes tests/data/sim30/: receiver.sqlite.xz (checkpointed, vacuumed), truth.json,
site.toml (the run's, else ``cemtool.site.for_simulation``) and README.md with the command and versions.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "sim30"
FAULTS = ("co2:disconnect@5d+3h", "dp:garble@8d+2h", "link:outage@10d+8h", "power@20d+5h")
SCENARIO, HOURS = "daily", 720


def command(out: Path) -> list[str]:
    args = ["-m", "cemtool", "sim", "run", "--out", str(out), "--scenario", SCENARIO,
            "--hours", str(HOURS)]
    for f in FAULTS:
        args += ["--fault", f]
    return args


def check_run(out: Path) -> dict:
    """The run's saved options, if they are exactly this command's; else exit with one line."""
    try:
        opts = json.loads((out / "sim.json").read_text())
    except OSError:
        sys.exit(f"error: {out} holds no simulator run (sim.json)")
    want = {"scenario": SCENARIO, "hours": float(HOURS), "faults": list(FAULTS), "sets": []}
    got = {k: opts.get(k) for k in want}
    if got != want:
        sys.exit(f"error: {out} is not the 30-day run: {got}")
    return opts


def pack(out: Path, dest: Path, wall_s: float | None = None, run_commit: str | None = None
         ) -> None:
    from cemtool.sim import scenario as scen
    from cemtool.site import for_simulation

    opts = check_run(out)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "receiver.sqlite"
        src = sqlite3.connect(out / "receiver.sqlite")
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        src.execute(f"VACUUM INTO '{db}'")
        src.close()
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        counts = dict(con.execute("SELECT kind, count(*) FROM records GROUP BY kind"))
        con.close()
        raw = db.read_bytes()
    (dest / "receiver.sqlite.xz").write_bytes(lzma.compress(raw, preset=9))
    shutil.copyfile(out / "truth.json", dest / "truth.json")
    sc = scen.load(opts["scenario"], sets=opts["sets"], faults=opts["faults"], seed=opts["seed"])
    if (out / "site.toml").exists():   # the runner writes it (cemtool.site.for_simulation)
        shutil.copyfile(out / "site.toml", dest / "site.toml")
    else:
        for_simulation(dest, "sim-01", sc)
    commit = head()
    mp = subprocess.run([str(ROOT / ".venv" / "bin" / "micropython"), "-c",
                         "import sys; print(sys.version)"], capture_output=True, text=True)
    cmd = "python " + " ".join(command(Path("OUT")))
    (dest / "README.md").write_text(f"""# Fixture: the 30-day simulated run

Made by `tools/sim30.py` (run it again to remake this folder). The run:

    {cmd}

- scenario `{SCENARIO}`, {HOURS} simulated hours from {sc.to_dict().get('start', '?')}, seed
  {opts['seed'] if opts['seed'] is not None else "(the scenario's)"}; faults: {', '.join(FAULTS)}
- `receiver.sqlite.xz`: the receiver's database (xz of a vacuumed copy, {len(raw):,} bytes
  unpacked, sha256 {hashlib.sha256(raw).hexdigest()[:16]}…), records by kind: {counts}
- `truth.json`: the simulator's own integration of the stack (kg CO2 per UTC hour)
- `site.toml`: `cemtool.site.for_simulation` of the run's scenario
- run with the firmware and cemtool of commit {run_commit or '(not recorded)'}, packed at commit
  {commit or '?'}; Python {platform.python_version()}; MicroPython unix port
  {mp.stdout.strip() or '?'}{'' if wall_s is None else f'; the run took {wall_s / 60:.0f} min'}

Used by `tests/test_report_sim.py`.
""")
    print(f"packed {out} into {dest}: {len(raw):,} bytes of database, "
          f"{(dest / 'receiver.sqlite.xz').stat().st_size:,} compressed")


def head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/sim30"), help="the run's folder")
    ap.add_argument("--fixture", type=Path, default=FIXTURE, help="where to pack it")
    ap.add_argument("--pack-only", action="store_true", help="pack a finished run, do not run")
    ap.add_argument("--run-commit", help="with --pack-only: the commit the run was made with")
    a = ap.parse_args()
    wall, run_commit = None, a.run_commit
    if not a.pack_only:
        import time
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, *command(a.out)], cwd=ROOT)
        if proc.returncode:
            sys.exit(f"error: the simulator run failed (exit {proc.returncode})")
        wall = time.monotonic() - t0
        run_commit = head()
    pack(a.out, a.fixture, wall, run_commit)


if __name__ == "__main__":
    main()
