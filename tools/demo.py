"""`make demo`: 24 simulated hours of a stack with a daily load profile, on the real firmware,
delivering its records over an emulated 4G modem that loses the network for 2 hours mid-run.

Runs `cemtool sim run` as a user would (its summary: records generated, delivered, duplicates
rejected, device totals vs truth from the receiver's database), then prints the hour records the
receiver stored beside the model's truth.
"""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

OUT = Path("out/demo")
OUTAGE = "link:outage@11h+2h"


def main() -> int:
    cmd = [str(Path(sys.executable).parent / "cemtool"), "sim", "run", "--out", str(OUT),
           "--scenario", "daily", "--hours", "24", "--fault", OUTAGE]
    print("$ cemtool", " ".join(cmd[1:]), flush=True)
    if subprocess.run(cmd).returncode:
        return 1
    from cemtool.records import decode
    truth = {h["t"]: h["co2_kg"] for h in json.loads((OUT / "truth.json").read_text())["hours"]}
    con = sqlite3.connect((OUT / "receiver.sqlite").resolve().as_uri() + "?mode=ro", uri=True)
    try:
        rows = [decode(blob).row() for (blob,) in
                con.execute("SELECT cbor FROM records WHERE kind = 2 ORDER BY seq")]
    finally:
        con.close()
    print(f"\nHour records in the receiver's database ({OUT / 'receiver.sqlite'}), the 4G network "
          f"down from 11:00 to 13:00 UTC:\n")
    print(f"{'hour (UTC)':20} {'flag':4} {'valid':5} {'CO2 %':>6} {'v m/s':>6} {'t °C':>6} "
          f"{'Qsn m³/h':>9} {'CO2 kg':>9} {'truth kg':>9} {'diff %':>7}")
    for r in rows:
        true = truth.get(r["t"], 0.0)
        diff = (r["co2_kg"] - true) / true * 100 if true else 0.0
        print(f"{r['t']:20} {r['flag']:4} {str(r['valid']):5} {r['co2_pct']:6.2f} {r['velocity_ms']:6.2f} "
              f"{r['temp_c']:6.1f} {r['qsn_m3h']:9,.0f} {r['co2_kg']:9,.1f} {true:9,.1f} {diff:+7.2f}")
    print(f"\nAll records: {OUT / 'records.jsonl'} (flash), {OUT / 'receiver.sqlite'} (receiver);"
          f" `cemtool export --db {OUT / 'receiver.sqlite'}` prints them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
