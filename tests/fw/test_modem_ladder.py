"""The escalation ladder: counts that survive reboots, and the driver's reset and power-cycle."""
from cemt.modem import driver  # noqa: F401  (compiled before the helpers, heap still empty)
from cemt.modem.ladder import BOARD, POWER, RESET, RETRY, Ladder
from modem_models import run
from modem_steps import DictStore, KeyPin, modem, ok


def test_every_third_failure_climbs_a_rung_and_success_drops_back():
    lad = Ladder(DictStore(), retries=3, board_holdoff_ms=0)
    seq = [lad.failure() for _ in range(12)]
    assert seq == [RETRY, RETRY, RESET, RETRY, RETRY, POWER, RETRY, RETRY, BOARD,
                   RETRY, RETRY, RESET]
    lad.success()
    assert [lad.failure() for _ in range(3)] == [RETRY, RETRY, RESET]


def test_counts_survive_a_reboot_through_the_store():
    store = DictStore()
    lad = Ladder(store, retries=1, board_holdoff_ms=0)
    for _ in range(4):
        lad.failure()
    again = Ladder(store, retries=1)
    assert again.counts == [4, 2, 1, 1] == lad.counts


def test_board_reset_waits_for_the_holdoff():
    lad = Ladder(None, retries=1, board_holdoff_ms=60000)
    assert [lad.failure() for _ in range(4)] == [RESET, POWER, RESET, POWER]
    lad = Ladder(None, retries=1, board=False, board_holdoff_ms=0)
    assert [lad.failure() for _ in range(3)] == [RESET, POWER, RESET]


def test_hung_modem_is_reset_then_power_cycled():
    silent = (b"AT\r", None)
    steps = [silent] * 3 + [(b"AT+CRESET\r", None), silent] + [silent] * 3
    steps.append(ok(b"AT"))  # after the power-cycle's second press (KeyPin sends RDY)
    store = DictStore()
    u, m = modem(steps, store=store)
    key = KeyPin(u)
    m.pwrkey = key

    async def attempts():
        out = []
        for _ in range(6):
            out.append(await m.up())
        return out

    assert run(attempts()) == [False] * 6
    assert u.done()
    presses = [t for v, t in key.log if v]
    assert len(presses) == 2
    held = [key.log[i + 1][1] - key.log[i][1] for i in range(len(key.log) - 1) if key.log[i][0]]
    assert held[0] >= m.t_key_off and held[1] >= m.t_key_on
    assert store.d == {"mdm_fail": 6, "mdm_reset": 1, "mdm_power": 1}
    assert m.summary()["err"] == 1 * 16 + 4  # probe stage, timeout


def test_board_reset_calls_the_app():
    called = []
    u, m = modem([(b"AT\r", None)] * 2, board_reset=lambda: called.append(1), retries=1,
                 board_holdoff_ms=0)
    m.ladder.rung = POWER  # already reset and power-cycled
    assert run(m.up()) is False and called == [1]
