"""The simulator as a board: `cemtool sim board` and `cemtool.sim.board.Board`.

Each test starts a board (the real firmware, .mpy, on the unix port; about a second) and talks
to its USB pty as a user would: with the pinned mpremote and with `cemtool.link`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fwtest
from cemtool.link import AtRepl, Link, LinkTimeout, SerialTransport
from cemtool.sim import scenario as scen
from cemtool.sim.board import Board, order, parse_clear, parse_runtime_fault
from cemtool.sim.model import StackModel
from cemtool.sim.runner import SimError, device_config

CEMTOOL = [sys.executable, "-m", "cemtool"]
MPREMOTE = fwtest.tool("mpremote")


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    run = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True,
                         timeout=timeout)
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return run


def app_link(port: str, timeout: float = 20) -> tuple[Link, dict]:
    """A link to the board's app, once it answers (it starts in about a second)."""
    link = Link(SerialTransport(port), timeout=2)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return link, link.probe()
        except LinkTimeout:
            if time.monotonic() > deadline:
                link.close()
                raise


class Terminal:
    """The board's port opened as a terminal program would, reading until a marker."""

    def __init__(self, port: str) -> None:
        self.port = SerialTransport(port)
        self.seen = b""

    def send(self, data: bytes) -> None:
        self.port.write(data)

    def expect(self, marker: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while marker not in self.seen[start:] and time.monotonic() < deadline:
            self.seen += self.port.read(0.1)
        got = self.seen[start:]
        assert marker in got, (marker, got[-600:])
        return got

    def close(self) -> None:
        self.port.close()


def children(pid: int) -> list[int]:
    """Every process descended from ``pid`` (Linux /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


@pytest.fixture
def board(tmp_path):
    with Board(tmp_path / "board") as b:
        yield b


@pytest.fixture
def bare(tmp_path):
    with Board(tmp_path / "bare", bare=True) as b:
        yield b


# -- the command line ----------------------------------------------------------------------------

def test_cli_prints_the_port_first_and_sigterm_leaves_no_process(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.Popen(CEMTOOL + ["sim", "board", "--out", str(out), "--bare"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("/dev/pts/") and os.path.exists(first), first
        assert (out / "usb.path").read_text().strip() == first
        assert (out / "fs").is_dir() and not (out / "fs" / "main.py").exists()
        assert mpremote(first, "exec", "print(6 * 7)").stdout.strip() == "42"
        assert children(proc.pid), "the device process runs under the CLI"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read()
    assert children(proc.pid) == []
    assert not (out / "usb.path").exists()
    assert proc.stderr.read() == ""


def test_cli_rejects_bad_arguments_in_one_line(tmp_path):
    cases = [(["--speed", "0"], "--speed"), (["--scenario", "nowhere"], "nowhere"),
             (["--fault", "co2:gas=1"], "co2:gas=1"), (["--fault", "link:outage@1h"], "sensor faults"),
             (["--fault", "temp:gas=1@1h"], "gas is for co2 and dp only")]
    for args, words in cases:
        run = subprocess.run(CEMTOOL + ["sim", "board", "--out", str(tmp_path / "x"), *args],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode != 0 and run.stdout == ""
        lines = run.stderr.strip().splitlines()
        assert words in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert len([ln for ln in lines if ln.startswith("Error")]) == 1


def test_inject_and_clear_need_a_running_board(tmp_path):
    run = subprocess.run(CEMTOOL + ["sim", "inject", "--out", str(tmp_path), "co2:gas=0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stderr.strip() == f"Error: no sim board is running in {tmp_path}"
    with pytest.raises(SimError, match="no sim board"):
        order(tmp_path, "clear", "co2:gas")


# -- mpremote ------------------------------------------------------------------------------------

def test_mpremote_exec_ls_and_copies_both_ways(bare, tmp_path):
    port = bare.port
    assert mpremote(port, "exec", "import sys; print(sys.platform, 6 * 7)").stdout.split() == \
        ["linux", "42"]
    src = tmp_path / "hello.py"
    body = "".join(f"x{i} = {i * i}  # line {i}\n" for i in range(400))  # > one raw-paste window
    src.write_text(body)
    mpremote(port, "fs", "cp", str(src), ":hello.py")
    assert (bare.fs / "hello.py").read_text() == body
    listing = mpremote(port, "fs", "ls").stdout
    assert "hello.py" in listing and "sim.ports.json" in listing
    back = tmp_path / "back.py"
    mpremote(port, "fs", "cp", ":hello.py", str(back))
    assert back.read_text() == body
    assert mpremote(port, "exec", "import hello; print(hello.x399)").stdout.strip() == str(399 * 399)


def test_soft_reset_from_raw_repl_skips_main_and_ctrl_d_runs_it(bare, tmp_path):
    main = tmp_path / "main.py"
    main.write_text("print('main ran')\n")
    boot = tmp_path / "boot.py"
    boot.write_text("print('boot ran')\n")
    mpremote(bare.port, "fs", "cp", str(main), ":main.py", "+", "fs", "cp", str(boot), ":boot.py")
    run = mpremote(bare.port, "soft-reset", "exec", "print('after')")
    assert "main ran" not in run.stdout and run.stdout.strip().endswith("after")
    term = Terminal(bare.port)
    try:
        term.send(b"\x03")
        term.expect(b">>> ")
        term.send(b"\x04")  # Ctrl-D at the friendly REPL: a soft reboot runs boot.py, main.py
        got = term.expect(b">>> ")
        assert b"MPY: soft reboot\r\n" in got
        assert got.index(b"boot ran") < got.index(b"main ran")
        # from the raw REPL: boot.py, not main.py, and back in the raw REPL
        term.send(b"\x01")
        term.expect(b"raw REPL; CTRL-B to exit\r\n>")
        term.send(b"\x04")
        got = term.expect(b"raw REPL; CTRL-B to exit\r\n>")
        assert got.startswith(b"OK\r\nMPY: soft reboot\r\n") and b"boot ran" in got
        assert b"main ran" not in got and b">>> " not in got and b"MicroPython" not in got
        term.send(b"print(6 * 7)\x04")
        assert b"OK42\n\x04\x04>" in term.expect(b"\x04>")
    finally:
        term.close()
    assert bare.usb.soft_resets >= 3 and bare.usb.hard_resets == 0


def test_an_exception_in_main_leaves_the_repl(bare, tmp_path):
    main = tmp_path / "main.py"
    main.write_text("x = 1\nraise ValueError('broken main')\n")
    mpremote(bare.port, "fs", "cp", str(main), ":main.py")
    term = Terminal(bare.port)
    try:
        term.send(b"\x04")  # soft reboot: main.py runs and fails
        got = term.expect(b">>> ")
        assert b'File "main.py", line 2' in got and b"ValueError: broken main" in got
        term.send(b"print(x + 1)\r")  # main.py ran in the REPL's namespace, as on a board
        assert b"2" in term.expect(b">>> ")
    finally:
        term.close()


# -- the app -------------------------------------------------------------------------------------

def test_app_answers_with_live_values_close_to_the_world(board):
    link, info = app_link(board.port)
    try:
        assert info["board"] == "sim" and info["fw"].startswith("cemt ")
        deadline = time.monotonic() + 20
        while True:  # until every channel was read once (the slow ones every 5 or 10 s)
            live = link.call("live").ok
            if all(value for value, _ in live["ch"].values()):
                break
            assert time.monotonic() < deadline, live
            time.sleep(0.5)
        state = StackModel(board.sc).state(live["t"])
        ch = live["ch"]
        # the board's analyser, not yet calibrated, reads with its zero and span error
        assert (board.sc.co2_zero_error_pct, board.sc.co2_gain_error) == (0.15, 0.02)
        assert ch["co2"][0] == pytest.approx((state.co2_pct * 1.02 + 0.15) * 100, abs=2)
        assert ch["dp"][0] == pytest.approx(state.dp_pa * 100, rel=0.01)      # 0.01 Pa
        assert ch["temp"][0] == pytest.approx(state.temp_c * 10, abs=3)       # 0.1 degC
        assert ch["pa"][0] == pytest.approx(state.ambient_pa, abs=20)         # Pa
        assert ch["ps"][0] == pytest.approx(state.static_pa, abs=5)           # Pa
    finally:
        link.close()


def test_ctrl_c_breaks_into_the_app_and_mpremote_resume_works(board):
    link, _ = app_link(board.port)
    link.close()
    run = mpremote(board.port, "resume", "exec", "import cemt; print('at the REPL', cemt.VERSION)")
    assert run.stdout.startswith("at the REPL ")
    link = Link(SerialTransport(board.port), timeout=3)
    try:
        with pytest.raises(AtRepl):
            link.probe()
    finally:
        link.close()
    # a plain mpremote (auto soft reset: raw REPL, no main.py) works just as well
    assert mpremote(board.port, "exec", "print(6 * 7)").stdout.strip() == "42"


def test_gas_injection_moves_the_co2_reading_and_clear_restores_it(tmp_path):
    exact = ["co2_zero_error_pct=0", "co2_gain_error=0"]  # an analyser without error
    with Board(tmp_path / "gas", speed=10, sets=exact) as b:  # the warm-up minute in 6 s
        link, _ = app_link(b.port)
        try:
            def co2_after(wanted, timeout=20):
                deadline = time.monotonic() + timeout
                while True:
                    value, status = link.call("live").ok["ch"]["co2"]
                    if status == 0 and wanted(value):
                        return value
                    assert time.monotonic() < deadline, (value, status)
                    time.sleep(0.3)
            assert co2_after(lambda v: v > 1000) == 1200
            assert str(b.inject("co2:gas=0")).startswith("co2:gas=0@")
            assert co2_after(lambda v: v < 1000) == 0
            reply = order(b.out, "inject", "co2:gas=8.5")  # another process: sim inject
            assert reply["fault"].startswith("co2:gas=8.5@")
            assert co2_after(lambda v: v != 0) == 850  # the newest fault wins
            assert b.clear("co2:gas") == 2
            assert co2_after(lambda v: v > 1000) == 1200
            b.inject("dp:gas=0")  # pitot lines vented
            deadline = time.monotonic() + 10
            while link.call("live").ok["ch"]["dp"][0] != 0:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        finally:
            link.close()


def test_speed_runs_device_time_faster_than_wall_time(tmp_path):
    with Board(tmp_path / "fast", speed=10) as b:
        link, _ = app_link(b.port)
        try:
            t0, w0 = link.call("time.get").ok["t"], time.monotonic()
            time.sleep(3)
            t1, w1 = link.call("time.get").ok["t"], time.monotonic()
        finally:
            link.close()
    ratio = (t1 - t0) / (w1 - w0)
    assert 5 < ratio < 15, ratio


def test_reboot_op_and_power_cut_restart_the_app(board):
    link, info = app_link(board.port)
    try:
        assert info["boots"] == 1
        link.call("reboot")
        link.close()
        link, info = app_link(board.port)
        assert info["boots"] == 2 and board.usb.hard_resets == 1
        link.close()
        cut = board.inject("power+30")
        assert (cut.kind, cut.duration) == ("power", 30) and board.usb.hard_resets == 1
        link, info = app_link(board.port)
        assert info["boots"] == 3
    finally:
        link.close()
    assert json.loads((board.fs / "state.json").read_text())["boots"] == 3


def test_a_bare_board_answers_mpremote_but_not_the_link(bare):
    link = Link(SerialTransport(bare.port), timeout=3)
    try:
        with pytest.raises(AtRepl):
            link.probe()
    finally:
        link.close()
    assert sorted(p.name for p in bare.fs.iterdir()) == ["sim.ports.json"]
    ports = json.loads((bare.fs / "sim.ports.json").read_text())
    assert ports["speed"] == 1 and Path(ports["bridge"]).exists() and "modem" in ports


def test_the_deployed_template_runs_unchanged_on_a_bare_board(bare):
    """What `cemtool flash --board sim` puts on the board: boards/sim.json as it is."""
    template = Path(fwtest.ROOT) / "boards" / "sim.json"
    lib = bare.fs / "lib"
    from cemtool import build
    build.compile_firmware(lib)
    build.install_sources_only(bare.fs)
    (bare.fs / "board.json").write_text(template.read_text())
    term = Terminal(bare.port)
    try:
        term.send(b"\x03")
        term.expect(b">>> ")
        term.send(b"\x04")
        term.expect(b"MPY: soft reboot\r\n")
    finally:
        term.close()
    link, info = app_link(bare.port)
    link.close()
    assert info["board"] == "sim"


# -- pieces --------------------------------------------------------------------------------------

def test_runtime_faults_count_from_now():
    f = parse_runtime_fault("co2:gas=0", 100)
    assert (f.device, f.kind, f.param, f.start, f.duration) == ("co2", "gas", 0.0, 100, None)
    f = parse_runtime_fault("dp:disconnect@30s+2m", 100)
    assert (f.start, f.duration) == (130, 120)
    f = parse_runtime_fault("power+10", 5)
    assert (f.kind, f.duration) == ("power", 10)
    with pytest.raises(scen.ScenarioError, match="'co2:wobble'"):
        parse_runtime_fault("co2:wobble", 0)
    with pytest.raises(scen.ScenarioError, match="link faults belong to sim run"):
        parse_runtime_fault("link:outage", 0)
    assert parse_clear("co2:gas") == ("co2", "gas")
    for bad in ("co2", "oven:gas", "co2:wobble"):
        with pytest.raises(scen.ScenarioError):
            parse_clear(bad)


def test_gas_reads_the_gas_not_the_stack():
    sc = scen.load("daily", faults=["co2:gas=4.5@60+60", "dp:gas=0@60"])
    from cemtool.sim.simbus import World
    world = World(sc)
    world.advance_to((sc.start + 30) * 1000)
    assert world.measure("co2")[0] != 4.5 and world.measure("dp")[0] > 10
    world.advance_to((sc.start + 90) * 1000)
    assert world.measure("co2") == (4.5, None) and world.measure("dp") == (0.0, None)
    world.advance_to((sc.start + 150) * 1000)
    assert world.measure("co2")[0] != 4.5 and world.measure("dp") == (0.0, None)
    assert world.clear("dp", "gas") == 1 and world.measure("dp")[0] > 10


def test_baud_paces_the_port(tmp_path):
    with Board(tmp_path / "slow", bare=True, baud=9600) as b:  # 960 bytes a second
        t0 = time.monotonic()
        run = mpremote(b.port, "exec", "print('x' * 2400)")
        took = time.monotonic() - t0
    assert run.stdout.strip() == "x" * 2400
    assert took > 2.0, took  # 2.5 s of output at 9600 baud; unpaced it is a few ms


# -- the clock -----------------------------------------------------------------------------------

def wait_network_time(link: Link, timeout: float = 90) -> dict:
    """time.get once the board's clock comes from the network (its modem registered)."""
    deadline = time.monotonic() + timeout
    while True:
        got = link.call("time.get").ok
        if got["tq"] == 2:
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.5)


def with_uplink(b: Board) -> Board:
    """The board provisioned with an uplink (to a port where nobody listens): its modem starts."""
    b.fs.mkdir(parents=True)
    (b.fs / "config.json").write_text(json.dumps(device_config(b.sc, ("127.0.0.1", 9))))
    (b.fs / "device.key").write_bytes(bytes(range(32)))
    return b


def test_network_time_is_the_hosts_clock(tmp_path):
    with with_uplink(Board(tmp_path / "now")) as b:
        assert abs(b.sc.start - time.time()) < 5  # the world starts now, not on 2025-01-01
        link, _ = app_link(b.port)
        try:
            got = wait_network_time(link)
            assert abs(got["t"] - time.time()) <= 3, got
        finally:
            link.close()


def test_the_world_catches_up_with_the_clock_after_the_repl(tmp_path):
    """A bare board sits at the REPL until flashed; its world then starts from the host's clock,
    not from where it stood (a real stack went on meanwhile)."""
    with with_uplink(Board(tmp_path / "late", bare=True)) as b:
        time.sleep(6)
        from cemtool import build
        build.compile_firmware(b.fs / "lib")
        build.install_sources_only(b.fs)
        (b.fs / "board.json").write_text((Path(fwtest.ROOT) / "boards" / "sim.json").read_text())
        term = Terminal(b.port)
        try:
            term.send(b"\x03")
            term.expect(b">>> ")
            term.send(b"\x04")
            term.expect(b"MPY: soft reboot\r\n")
        finally:
            term.close()
        link, _ = app_link(b.port)
        try:
            got = wait_network_time(link)
            assert abs(got["t"] - time.time()) <= 3, got
        finally:
            link.close()


def test_a_start_set_by_the_user_still_wins(tmp_path):
    jan = int(scen.load("constant").start)
    assert jan == 1735689600  # the built-in scenario's 2025-01-01
    b = Board(tmp_path / "jan", speed=10, sets=["start=2025-01-01T00:00:00Z"])
    with with_uplink(b):
        assert b.sc.start == jan
        link, _ = app_link(b.port)
        try:
            got = wait_network_time(link)
        finally:
            link.close()
    assert jan <= got["t"] < jan + 3600, got


def test_a_scenario_files_own_start_and_errors_win(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(scen.BUILTIN_DIR.joinpath("constant.toml").read_text().replace(
        'start = "2025-01-01T00:00:00Z"', 'start = "2024-06-01T00:00:00Z"\nco2_gain_error = -0.01'))
    b = Board(tmp_path / "mine", scenario=str(path))
    assert b.sc.start == 1717200000
    assert (b.sc.co2_gain_error, b.sc.co2_zero_error_pct) == (-0.01, 0.15)
    b = Board(tmp_path / "mine", scenario="daily", sets=["co2_zero_error_pct=-0.2"])
    assert (b.sc.co2_gain_error, b.sc.co2_zero_error_pct) == (0.02, -0.2)


# -- an analyser that needs calibrating ----------------------------------------------------------

def cemtool_json(port: str, *args: str) -> dict:
    run = subprocess.run(CEMTOOL + [*args, "--port", port, "--json"], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return json.loads(run.stdout)


def test_zero_and_span_calibration_correct_the_analyser(tmp_path):
    with Board(tmp_path / "cal", speed=10) as b:
        sc = b.sc
        link, _ = app_link(b.port)

        def co2(wanted=lambda v: True, timeout=30):
            deadline = time.monotonic() + timeout
            while True:
                live = link.call("live").ok
                value, status = live["ch"]["co2"]
                if status == 0 and value and wanted(value):
                    return value
                assert time.monotonic() < deadline, live
                time.sleep(0.3)
        try:
            true = StackModel(sc).state(sc.start).co2_pct  # a constant stack
            assert co2() == round(sc.co2_read(true) * 100) == 1239  # 12.39 for 12.00 %vol
            b.inject("co2:gas=0")
            zero = cemtool_json(b.port, "calibrate", "zero")
            b.clear("co2:gas")
            b.inject("co2:gas=15")
            span = cemtool_json(b.port, "calibrate", "span", "--ref", "15")
            check = cemtool_json(b.port, "calibrate", "check", "--ref", "15")
            b.clear("co2:gas")
            cal = cemtool_json(b.port, "config", "get", "cal")["sections"]["cal"]
            after = co2(lambda v: v < 1239)
        finally:
            link.close()
    assert zero["result"] == 0 and (zero["before"], zero["after"]) == (0, 150)  # 0.001 %vol
    # gain = 15 / (15 · 1.02): round(15 000 · 10 000 / 15 300)
    assert span["result"] == 0 and (span["before"], span["after"]) == (10000, 9804)
    assert (cal["co2_zero"], cal["co2_gain"]) == (150, 9804)
    assert check["result"] == 3 and abs(check["drift"]) <= 2 and abs(check["drift"]) < check["limit"]
    assert after == round(true * 100)  # 12.00 %vol: within the 0.01 %vol the edge keeps
