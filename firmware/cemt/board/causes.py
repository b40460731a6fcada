"""``machine.reset_cause()`` as the boot record codes it, for the ports that have ``machine``.

Causes are matched by constant name, in the order of the boot record's codes
(cemt.records.RESET_POWER_ON = 1 ... RESET_BROWNOUT = 6), since each port numbers them its own
way; a name the port lacks never matches.
"""
import machine

_CAUSES = ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET",
           "BROWNOUT_RESET")


def reset_cause():
    """The boot record's ``reset`` code of this start; 0 when the port names no known cause."""
    cause = machine.reset_cause()
    for code, name in enumerate(_CAUSES, 1):
        if getattr(machine, name, None) == cause:
            return code
    return 0
