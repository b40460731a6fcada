"""cemt.uplink under MicroPython: failures, backoff on the board clock, oversize records."""

from cemt import uplink
from cemt.board.clock import VirtualClock
from uplink_logs import MemLog, boot, minute
from uplink_peer import Peer
from uplink_run import T0, make as _uplink, run as _run


def _refused(mode, err):
    logs = (MemLog(minute, 30), MemLog(boot, 2))
    peer = Peer(mode=mode)
    up = _uplink(peer, logs)
    _run(up, lambda: up.errors >= 2, steps=3000)
    assert up.errors >= 2, mode
    assert up.last_error == err, (mode, up.last_error)
    assert logs[0].acked == 0 and logs[1].acked == 0 and not logs[0].acks, mode
    assert up.acks == 0 and up.records == 0
    if mode == "nak":
        assert up.naks >= 2
    if mode in ("forged-welcome", "silent"):
        assert not peer.sizes  # no batch before a genuine welcome


def test_cursor_moves_only_on_a_genuine_ack():
    for mode, err in (("forged-ack", uplink.E_MAC), ("wrong-seq", uplink.E_MESSAGE),
                      ("noack", uplink.E_TIMEOUT), ("nak", uplink.E_NAK + 6),
                      ("forged-welcome", uplink.E_MAC), ("silent", uplink.E_TIMEOUT)):
        _refused(mode, err)


def test_backoff_grows_is_bounded_and_resets_on_ack():
    logs = (MemLog(minute, 5), MemLog(boot))
    clock = VirtualClock(T0)
    peer = Peer()
    peer.refuse = 12
    up = _uplink(peer, logs, clock)
    up.backoff_min_ms = 5000
    up.backoff_max_ms = 600000
    waits = []
    orig = clock.asleep_ms

    async def asleep(ms):
        waits.append(ms)
        await orig(ms)
    clock.asleep_ms = asleep
    _run(up, lambda: logs[0].acked == 5)
    assert logs[0].acked == 5 and up.errors == 12 and up.last_error == uplink.E_CONNECT
    assert up.fails == 0  # the ack reset it
    backoffs = waits[:12]
    for k, w in enumerate(backoffs):
        step = min(600000, 5000 << k)
        assert step // 2 <= w <= step, (k, w)
    assert max(backoffs) <= 600000 and backoffs[-1] >= 300000
    # the waits ran on the board clock (virtual here), not in real time
    assert clock.now() - T0 >= sum(backoffs) // 1000


def test_a_record_too_large_for_any_batch_is_skipped_and_counted():
    logs = (MemLog(minute, 3), MemLog(boot))
    logs[1].add([19, 0, T0, 2, 3, "site.note", "x" * 1000, "y", 0])
    logs[1].add()
    peer = Peer()
    up = _uplink(peer, logs)
    _run(up, lambda: up.backlog() == 0 and up.state == uplink.IDLE)
    assert up.oversize == 1
    assert peer.stored(1) == [2] and logs[1].acked == 2


def test_idle_uplink_sleeps_on_the_board_clock_without_connecting():
    logs = (MemLog(minute), MemLog(boot))
    clock = VirtualClock(T0)
    peer = Peer()
    up = _uplink(peer, logs, clock)
    up.poll_ms = 1000
    _run(up, lambda: clock.now() >= T0 + 60)
    assert peer.connects == 0 and up.state == uplink.IDLE
