"""Calibration and maintenance mode on the real app under MicroPython (tests/fw/maint_app.py),
from source and from .mpy, with the device's heap (the app does not fit 64K on the 64-bit unix
port; tests/test_app.py)."""
import pytest

import fwtest

HEAP = "256K"


@pytest.mark.parametrize("mode", ["src", "mpy"])
def test_node_maint(mode):
    proc = fwtest.run_micropython([str(fwtest.ROOT / "tools" / "fwrun.py"), "maint_app"], mode,
                                  HEAP, timeout=120)
    out = proc.stdout + proc.stderr
    passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("PASS ")]
    assert proc.returncode == 0 and "RESULT" in proc.stdout and "FAIL" not in proc.stdout, out
    assert len(passed) == 12, out
