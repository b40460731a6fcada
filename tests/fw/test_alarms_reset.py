"""The boards' reset causes as the boot record codes them (cemt.board.*.reset_cause)."""
import os
import sys

from cemt import records


def test_unix_reset_cause_comes_from_the_environment():
    from cemt.board import unix
    os.putenv("CEMT_RESET", "3")
    assert unix.reset_cause() == records.RESET_WATCHDOG
    os.putenv("CEMT_RESET", "junk")
    assert unix.reset_cause() == 0
    os.unsetenv("CEMT_RESET")
    assert unix.reset_cause() == records.RESET_UNKNOWN


class _Machine:
    """A port's ``machine`` with its own numbering of reset causes (and no brown-out name)."""
    PWRON_RESET = 11
    HARD_RESET = 12
    WDT_RESET = 13
    DEEPSLEEP_RESET = 14
    SOFT_RESET = 15
    cause = 0

    def reset_cause(self):
        return self.cause


def test_esp32_and_rp2_map_machine_reset_causes_by_name():
    m = _Machine()
    sys.modules["machine"] = m
    try:
        from cemt.board import esp32, rp2
        for mod in (esp32, rp2):
            got = []
            for c in (11, 12, 13, 14, 15, 16, 0):
                m.cause = c
                got.append(mod.reset_cause())
            assert got == [records.RESET_POWER_ON, records.RESET_HARD, records.RESET_WATCHDOG,
                           records.RESET_DEEPSLEEP, records.RESET_SOFT, 0, 0], got
        _Machine.BROWNOUT_RESET = 16
        m.cause = 16
        assert esp32.reset_cause() == records.RESET_BROWNOUT
    finally:
        del sys.modules["machine"]
