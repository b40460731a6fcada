"""cemt.uplink under MicroPython against an in-process fake receiver: delivery and resume."""
import asyncio

from cemt import uplink
from uplink_logs import MemLog, boot, minute
from uplink_peer import Peer
from uplink_run import make as _uplink, run as _run


def test_delivers_both_logs_in_signed_batches_and_acks_each():
    logs = (MemLog(minute, 120), MemLog(boot, 7))
    peer = Peer()
    up = _uplink(peer, logs)
    _run(up, lambda: up.backlog() == 0 and up.state == uplink.IDLE)
    assert logs[0].acked == 120 and logs[1].acked == 7
    assert peer.stored(0) == list(range(1, 121))  # each checked against minute(seq) on arrival
    assert peer.stored(1) == list(range(1, 8))
    hello = peer.hellos[0]
    assert hello[:3] == [1, 1, "stack-01"] and len(hello[3]) == 16
    assert hello[4:] == ["cemt 0.1.0", 4, 2, [[0, 0, 120], [1, 0, 7]]]
    assert max(peer.sizes) <= 1024
    # 120 minutes of ~40 bytes do not fit one frame: several batches, each acked in turn
    assert len(peer.sizes) >= 5
    s = up.stats()
    assert s["batches"] == s["acks"] == len(peer.sizes)
    assert s["records"] == 127 and s["sessions"] == 1 and s["errors"] == 0
    assert s["backlog"] == 0


def test_batches_are_full_but_within_the_frame_limit():
    logs = (MemLog(minute, 300), MemLog(boot))
    peer = Peer()
    up = _uplink(peer, logs)
    _run(up, lambda: logs[0].acked == 300)
    sizes = peer.sizes
    assert max(sizes) <= 1024
    assert min(sizes[:-1]) > 1024 - 60  # every batch but the last is nearly full


def test_new_records_go_out_in_the_same_session():
    logs = (MemLog(minute, 3), MemLog(boot))
    peer = Peer()
    up = _uplink(peer, logs)
    up.idle_ms = 10 ** 9

    async def go():
        task = asyncio.create_task(up.run())
        for i in range(400):
            await asyncio.sleep_ms(1)
            if i % 50 == 0:
                logs[0].add()
        task.cancel()
        await asyncio.sleep_ms(0)
    asyncio.run(go())
    assert logs[0].acked == logs[0].last_seq == 11
    assert peer.connects == 1 and up.sessions == 1


def test_resends_from_the_receivers_view_when_it_holds_less():
    logs = (MemLog(minute, 50), MemLog(boot, 2))
    logs[0].acked = 40
    logs[1].acked = 2
    peer = Peer(committed={0: 25, 1: 2})
    up = _uplink(peer, logs)
    _run(up, lambda: up.backlog() == 0 and up.state == uplink.IDLE and peer.sizes)
    assert min(peer.stored(0)) == 26 and max(peer.stored(0)) == 50
    assert not peer.stored(1)
    assert logs[0].acked == 50


def test_a_receiver_claiming_more_is_not_trusted():
    logs = (MemLog(minute, 50), MemLog(boot))
    logs[0].acked = 10
    peer = Peer(committed={0: 45})
    up = _uplink(peer, logs)
    _run(up, lambda: up.backlog() == 0 and up.state == uplink.IDLE)
    assert min(peer.stored(0)) == 11  # sends from its own cursor, not from the receiver's 45
    assert max(logs[0].acks) == 50
