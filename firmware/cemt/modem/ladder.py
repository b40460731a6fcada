"""The escalation ladder: retry, then modem reset, then power-cycle, then board reset.

``act(modem, action)`` carries an action out: the family's reset command, a PWRKEY (and
optional supply switch) power-cycle, or the app's board-reset callback.

``failure()`` says which action the next failure calls for; ``success()`` drops back to plain
retries. The counts of each action survive board resets through a ``store`` object the app
supplies (``get(key, default)`` / ``set(key, value)``, e.g. over a small JSON file). A board
reset is only taken once the board has been up ``board_holdoff_ms``, so a long network outage
cannot turn into a reset loop that stops the sampling.
"""
import asyncio
import time

from micropython import const

RETRY = const(0)
RESET = const(1)
POWER = const(2)
BOARD = const(3)

_KEYS = ("mdm_fail", "mdm_reset", "mdm_power", "mdm_board")


class Ladder:
    def __init__(self, store=None, retries=3, board_holdoff_ms=3600000, board=True):
        self._store = store
        self.retries = retries
        self.board_holdoff_ms = board_holdoff_ms
        self.board = board
        self._t0 = time.ticks_ms()
        self.streak = 0  # consecutive failures since the last success
        self.rung = RETRY
        # totals: failures, modem resets, power-cycles, board resets (persisted)
        self.counts = [store.get(k, 0) if store is not None else 0 for k in _KEYS]

    def _bump(self, i):
        self.counts[i] += 1
        if self._store is not None:
            self._store.set(_KEYS[i], self.counts[i])

    def failure(self):
        """Count a failure; returns the action to take now (RETRY, RESET, POWER or BOARD).

        Every ``retries``-th failure in a row climbs one rung; past the top (or when a board
        reset is not allowed yet) the climb starts again at the modem reset.
        """
        self.streak += 1
        self._bump(0)
        if self.streak % self.retries:
            return RETRY
        self.rung = RESET if self.rung == BOARD else self.rung + 1
        if self.rung == BOARD and not (self.board and time.ticks_diff(
                time.ticks_ms(), self._t0) >= self.board_holdoff_ms):
            self.rung = RESET
        self._bump(self.rung)
        return self.rung

    def success(self):
        self.streak = 0
        self.rung = RETRY


async def _boot_wait(m):
    # Modems without RDY (autobaud) just take longer; with it, the old socket is surely gone.
    if await m.at.wait(m.t_boot, want=b"RDY") == 0:
        m.link.dirty = False
    return await m.probe()


async def _press(m, ms):
    m.pwrkey.value(m.key_on)
    await asyncio.sleep_ms(ms)
    m.pwrkey.value(0 if m.key_on else 1)


async def act(m, action):
    """Carry out ``action`` (from ``Ladder.failure``) on the driver ``m``."""
    if action == BOARD:
        m.board_reset()
        return
    if action == RETRY:
        return
    if action == RESET or (m.pwrkey is None and m.power is None):
        await m.at.cmd(m.fam.RESET, m.t_cmd)  # a hung modem ignores it: no check
        await _boot_wait(m)
        return
    if m.power is not None:
        m.power.value(0)
        await asyncio.sleep_ms(m.t_power_gap)
        m.power.value(1)
    else:
        await _press(m, m.t_key_off)
        await asyncio.sleep_ms(m.t_power_gap)
    m.at.flush()
    if m.pwrkey is None:
        await _boot_wait(m)
        return
    await _press(m, m.t_key_on)
    if not await _boot_wait(m) and m.power is None:
        # The modem may have been off already, so the first press switched it on, the second off.
        await _press(m, m.t_key_on)
        await _boot_wait(m)
