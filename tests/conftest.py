"""Shared pytest setup: makes tools/ importable and reports the firmware test count."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

FIRMWARE_COUNTS = {"passed": 0, "failed": 0, "files": 0}


def pytest_terminal_summary(terminalreporter):
    if FIRMWARE_COUNTS["files"]:
        terminalreporter.write_line(
            "firmware tests under micropython: {passed} passed, {failed} failed "
            "({files} file runs, source and .mpy)".format(**FIRMWARE_COUNTS))

# tests/fw/ holds MicroPython test modules; tools/fwtest.py runs them (tests/test_firmware.py).
collect_ignore = ["fw"]
