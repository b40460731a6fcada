"""cemtool hj212 forward against a fake HJ 212 platform (asyncio TCP server in a thread) that
parses every frame with cemtool.hj212 and acks with 9014, or drops, delays or corrupts acks."""
import asyncio
import json
import threading
import time

import pytest
from click.testing import CliRunner

from cemtool import hj212
from cemtool import hj212_forward as fw
from cemtool.cli import main
from cemtool.records import Record
from cemtool.store import LONG_LOG, MINUTE_LOG, Store

DEV = "dev-1"
T0 = 1735689600  # 2025-01-01T00:00:00Z: long past, so every message is a back-fill


class Platform:
    """``policy(n, msg)`` for the n-th data message received (0-based, resends counted):
    "ack", "drop", "corrupt", "other-qn" (a 9014 of another QN), "close" or ("delay", seconds)."""

    def __init__(self, policy=lambda n, msg: "ack"):
        self.policy = policy
        self.received: list[hj212.Message] = []
        self.bad: list[str] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer):
        frames = hj212.FrameReader()
        try:
            while data := await reader.read(4096):
                frames.feed(data)
                for f in frames.frames():
                    try:
                        msg = hj212.parse(f)
                    except hj212.Hj212Error as e:
                        self.bad.append(str(e))
                        continue
                    action = self.policy(len(self.received), msg)
                    self.received.append(msg)
                    ack = hj212.encode(hj212.data_ack(msg))[0]
                    if action == "ack":
                        writer.write(ack)
                    elif action == "corrupt":
                        writer.write(ack[:-6] + (b"FFFF" if ack[-6:-2] != b"FFFF" else b"0000")
                                     + b"\r\n")
                    elif action == "other-qn":
                        other = hj212.Message("20000101000000000", "91", "9014", msg.pw, msg.mn, 4)
                        writer.write(hj212.encode(other)[0])
                    elif action == "close":
                        writer.close()
                        return
                    elif isinstance(action, tuple):
                        self.loop.call_later(action[1], writer.write, ack)
                await writer.drain()
        except ConnectionError:
            pass

    @property
    def to(self):
        return f"127.0.0.1:{self.port}"

    def data_times(self):
        return [m.get("DataTime") for m in self.received]

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def platforms():
    started = []

    def start(policy=lambda n, msg: "ack"):
        p = Platform(policy)
        started.append(p)
        return p
    yield start
    for p in started:
        p.stop()


def hour(seq, t, tq=2):
    return Record.from_list([2, seq, t, tq, 1, 0, 60, 60, 1200, 1190, 1210, 1500, 1490, 1510,
                             1500, 1490, 1510, -200, 101325, 800, 96000, 95900, 96100, 2223980 + seq])


def minute(seq, t):
    return Record.from_list([1, seq, t, 2, 1, 0, 60, 60, 1200, 1190, 1210, 1500, 1500, -200,
                             96000, 37066 + seq])


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "rx.sqlite"
    with Store(path) as s:
        s.commit(DEV, LONG_LOG, [hour(i, T0 + 3600 * (i - 1)) for i in range(1, 6)])
        s.commit(DEV, MINUTE_LOG, [minute(i, T0 + 60 * (i - 1)) for i in range(1, 11)])
    return path


def forward(db, platform_to, *args, state=None):
    state = state or f"{db}.state.json"
    result = CliRunner().invoke(main, ["hj212", "forward", "--db", str(db), "--to", platform_to,
                                       "--state", str(state), "--timeout", "0.3", "--json",
                                       *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = result.stdout.strip().splitlines()
    return result.exit_code, (json.loads(lines[-1]) if lines else None), result


def cursors(db):
    return json.loads(open(f"{db}.state.json").read())["cursors"]


def test_every_message_acked_once_and_cursor_kept(db, platforms):
    p = platforms()
    code, summary, _ = forward(db, p.to, "--mn", f"{DEV}=010000A8900016F000169DC0")
    assert code == 0 and summary["ok"] and summary["unacked"] == 0
    assert summary["messages"] == summary["frames"] == len(p.received) == 15
    assert summary["backfilled"] == 15 and summary["resends"] == 0
    assert {m.cn for m in p.received} == {"2051", "2061"} and not p.bad
    assert all(m.mn == "010000A8900016F000169DC0" and m.flag == 5 and not m.rf for m in p.received)
    assert cursors(db) == {f"{DEV}/hour": 5, f"{DEV}/minute": 10}
    code, summary, _ = forward(db, p.to)
    assert code == 0 and summary["messages"] == 0 and len(p.received) == 15


def test_lost_acks_are_resent_with_the_same_qn(db, platforms):
    seen = set()

    def drop_first(n, msg):
        if msg.qn in seen:
            return "ack"
        seen.add(msg.qn)
        return "drop"
    p = platforms(drop_first)
    code, summary, _ = forward(db, p.to, "--kind", "hour")
    assert code == 0 and summary["messages"] == 5 and summary["resends"] == 5
    assert [m.qn for m in p.received][::2] == [m.qn for m in p.received][1::2]
    assert len({m.qn for m in p.received}) == 5


def test_no_ack_after_retries_ends_round_and_restart_backfills(db, platforms):
    p = platforms(lambda n, msg: "ack" if n < 3 else "drop")
    code, summary, result = forward(db, p.to, "--kind", "hour", "--retries", "2")
    assert code == 1 and summary["messages"] == 3 and summary["unacked"] == 2
    assert "no ack" in summary["error"] and "seq 4" in summary["error"]
    assert len(p.received) == 3 + 3  # the 4th message sent once and resent twice
    assert cursors(db) == {f"{DEV}/hour": 3}
    q = platforms()
    code, summary, _ = forward(db, q.to, "--kind", "hour", state=f"{db}.state.json")
    # the state belongs to the first platform's address: another destination is refused
    assert code == 2
    code, summary, _ = forward(db, p.to.replace(str(p.port), str(q.port)), "--kind", "hour",
                               state=f"{db}.other.json")
    assert code == 0 and summary["messages"] == 5  # a fresh state sends everything
    p.policy = lambda n, msg: "ack"
    code, summary, _ = forward(db, p.to, "--kind", "hour")
    assert code == 0 and summary["messages"] == 2
    assert p.data_times()[-2:] == [hj212.local_time(T0 + 3600 * i, 8) for i in (3, 4)]


def test_corrupt_and_late_acks(db, platforms):
    p = platforms(lambda n, msg: {0: "corrupt", 2: ("delay", 0.45)}.get(n, "ack"))
    code, summary, _ = forward(db, p.to, "--kind", "hour")
    assert code == 0 and summary["messages"] == 5
    assert summary["bad_frames"] == 1 and summary["resends"] >= 2
    assert [m.qn for m in p.received][:2] == [p.received[0].qn] * 2


def test_an_ack_of_another_qn_is_not_an_ack(db, platforms):
    p = platforms(lambda n, msg: "other-qn" if n == 0 else "ack")
    code, summary, _ = forward(db, p.to, "--kind", "hour")
    assert code == 0 and summary["messages"] == 5 and summary["resends"] == 1


def test_platform_closing_mid_round_then_restart(db, platforms):
    p = platforms(lambda n, msg: "close" if n == 2 else "ack")
    code, summary, _ = forward(db, p.to, "--kind", "minute")
    assert code == 1 and "closed" in summary["error"] and summary["messages"] == 2
    q = platforms()
    state = json.loads(open(f"{db}.state.json").read())
    state["to"] = q.to
    open(f"{db}.state.json", "w").write(json.dumps(state))
    code, summary, _ = forward(db, q.to, "--kind", "minute")
    assert code == 0 and summary["messages"] == 8
    assert q.data_times() == [hj212.local_time(T0 + 60 * i, 8) for i in range(2, 10)]


def test_connection_refused_leaves_state_alone(db, platforms):
    p = platforms()
    p.stop()
    code, summary, _ = forward(db, p.to)
    assert code == 1 and "cannot connect" in summary["error"] and summary["unacked"] == 15


def test_2025_marks_only_late_messages_as_backfill(tmp_path, platforms):
    now = int(time.time())
    recent = now // 3600 * 3600 - 3600  # the last whole hour: still real time
    path = tmp_path / "rx.sqlite"
    with Store(path) as s:
        s.commit(DEV, LONG_LOG, [hour(1, T0), hour(2, recent)])
    p = platforms()
    code, summary, _ = forward(path, p.to, "--version", "2025")
    assert code == 0 and summary["backfilled"] == 1 and summary["version"] == 2025
    assert [(m.flag, m.rf) for m in p.received] == [(9, True), (9, False)]


def test_unsynced_records_are_skipped_and_passed(tmp_path, platforms):
    path = tmp_path / "rx.sqlite"
    with Store(path) as s:
        s.commit(DEV, LONG_LOG, [hour(1, 3600, tq=0), hour(2, T0)])
    p = platforms()
    code, summary, _ = forward(path, p.to)
    assert code == 0 and summary["skipped_unsynced"] == 1 and summary["messages"] == 1
    assert cursors(path) == {f"{DEV}/hour": 2}


def test_follow_rounds_pick_up_new_records(db, platforms):
    p = platforms()
    opts = fw.Options("127.0.0.1", p.port, kinds=(2,), timeout=0.3)
    state = fw.State.load(db.with_suffix(".f.json"), opts.to, 2017)
    summaries = []

    def one_round():
        s = fw.forward_round(store, state, opts, lambda d, t: "MN1")
        with Store(db) as w:
            w.commit(DEV, LONG_LOG, [hour(6 + len(summaries), T0 + 3600 * (5 + len(summaries)))])
        return s
    with Store(db, readonly=True) as store:
        last = fw.run(range(3), one_round, 0.01, summaries.append)
    assert [s.messages for s in summaries] == [5, 1, 1] and last.ok
    assert state.cursors == {f"{DEV}/hour": 7}


def test_bad_state_and_address_are_one_line_usage_errors(db, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args, text in ((["--to", "nowhere"], "HOST:PORT"),
                       (["--to", "127.0.0.1:9", "--state", str(bad)], "state file")):
        result = CliRunner().invoke(main, ["hj212", "forward", "--db", str(db), *args])
        assert result.exit_code == 2 and text in result.output
        assert "Traceback" not in result.output
