"""Runs every firmware test file under the MicroPython unix port, from source and from .mpy."""
import pytest

import fwtest
from conftest import FIRMWARE_COUNTS


@pytest.mark.parametrize("mode", ["src", "mpy"])
@pytest.mark.parametrize("path", fwtest.test_files(), ids=lambda p: p.stem)
def test_firmware_file(path, mode):
    res = fwtest.run_file(path, mode)
    FIRMWARE_COUNTS["files"] += 1
    FIRMWARE_COUNTS["passed"] += len(res.passed)
    FIRMWARE_COUNTS["failed"] += len(res.failed)
    assert res.ok, f"{path.name} ({mode}): failed {res.failed}\n{res.output}"


def test_firmware_tests_exist():
    assert fwtest.test_files(), "no firmware tests found under tests/fw"
