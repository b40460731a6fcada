"""The app's own parts under real MicroPython (tests/fw/app_parts.py), from source and from .mpy.

They run with the device's heap on the 64-bit unix port, not the 64K of the other firmware tests:
importing the whole app (edge, ring logs, records, and the modem and uplink for the wiring test)
does not fit 64K there (the simulator measures the running app's peak at 200K, docs/simulator.md).
"""
import pytest

import fwtest

HEAP = "256K"


@pytest.mark.parametrize("mode", ["src", "mpy"])
def test_app_parts(mode):
    proc = fwtest.run_micropython([str(fwtest.ROOT / "tools" / "fwrun.py"), "app_parts"], mode, HEAP,
                                  timeout=120)
    out = proc.stdout + proc.stderr
    passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("PASS ")]
    assert proc.returncode == 0 and "RESULT" in proc.stdout and "FAIL" not in proc.stdout, out
    assert len(passed) == 9, out
