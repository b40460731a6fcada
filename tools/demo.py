"""`make demo`: 24 simulated hours of a stack with a daily load profile, on the real firmware.

Runs `cemtool sim run` as a user would, then prints the hour records beside the model's truth.
"""
import json
import subprocess
import sys
from pathlib import Path

OUT = Path("out/demo")


def main() -> int:
    cmd = [str(Path(sys.executable).parent / "cemtool"), "sim", "run", "--out", str(OUT),
           "--scenario", "daily", "--hours", "24"]
    print("$ cemtool", " ".join(cmd[1:]), flush=True)
    if subprocess.run(cmd).returncode:
        return 1
    truth = {h["t"]: h["co2_kg"] for h in json.loads((OUT / "truth.json").read_text())["hours"]}
    rows = [json.loads(line) for line in (OUT / "records.jsonl").read_text().splitlines()]
    print()
    print(f"{'hour (UTC)':20} {'flag':4} {'valid':5} {'CO2 %':>6} {'v m/s':>6} {'t °C':>6} "
          f"{'Qsn m³/h':>9} {'CO2 kg':>9} {'truth kg':>9} {'diff %':>7}")
    for r in rows:
        if r["kind"] != "hour":
            continue
        true = truth.get(r["t"], 0.0)
        diff = (r["co2_kg"] - true) / true * 100 if true else 0.0
        print(f"{r['t']:20} {r['flag']:4} {str(r['valid']):5} {r['co2_pct']:6.2f} {r['velocity_ms']:6.2f} "
              f"{r['temp_c']:6.1f} {r['qsn_m3h']:9,.0f} {r['co2_kg']:9,.1f} {true:9,.1f} {diff:+7.2f}")
    print(f"\nAll records: {OUT / 'records.jsonl'}   flash image: {OUT / 'flash.img'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
