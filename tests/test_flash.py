"""cemtool flash: the deploy through mpremote (as a library) to a MicroPython board behind a pty.

The board is the real unix port under ``micropython -i`` with a temporary folder as its
filesystem (cwd), behind a relay pty that the host opens like a USB serial port.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

import fwtest
from cemtool import build, deploy
from cemtool.cli import main
from cemtool.sim.rs485 import BusHub

FIRMWARE = Path(fwtest.ROOT) / "firmware"


class BareBoard:
    """MicroPython and nothing else (the state after flash-runtime), its filesystem ``fs``."""

    def __init__(self, fs: Path) -> None:
        self.fs = fs
        fs.mkdir(parents=True, exist_ok=True)
        self.hub = BusHub(1, collide=False).start()
        self.port = self.hub.master_path
        self.proc = None
        self.start()

    def start(self) -> None:
        fd = os.open(self.hub.device_paths[0], os.O_RDWR | os.O_NOCTTY)
        self.proc = subprocess.Popen([fwtest.tool("micropython"), "-X", "heapsize=256K", "-i"],
                                     stdin=fd, stdout=fd, stderr=fd, cwd=self.fs)
        os.close(fd)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        self.hub.stop()

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.fs).as_posix(): p.read_bytes()
                for p in self.fs.rglob("*") if p.is_file()}


@pytest.fixture
def board(tmp_path):
    b = BareBoard(tmp_path / "fs")
    try:
        yield b
    finally:
        b.close()


def flash(port: str, *args: str):
    return CliRunner().invoke(main, ["flash", "--port", port, "--no-reset", "--json", *args])


def expected_files(board_name: str) -> dict[str, bytes]:
    files = {f"lib/{rel}": p.read_bytes() for rel, p in build.build(None).files.items()}
    files["boot.py"] = (FIRMWARE / "boot.py").read_bytes()
    files["main.py"] = (FIRMWARE / "main.py").read_bytes()
    files["board.json"] = (Path(fwtest.ROOT) / "boards" / f"{board_name}.json").read_bytes()
    return files


def test_first_flash_copies_everything_then_nothing(board):
    res = flash(board.port, "--board", "sim")
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    want = expected_files("sim")
    assert board.files() == want
    assert first["copied"] == len(want) and first["unchanged"] == first["removed"] == 0
    assert first["bytes"] == sum(map(len, want.values())) and first["board"] == "sim"
    again = json.loads(flash(board.port).stdout)  # the board keeps its own profile
    assert again["copied"] == 0 and again["unchanged"] == len(want) - 1 and again["bytes"] == 0
    forced = json.loads(flash(board.port, "--board", "sim", "--force").stdout)
    assert forced["copied"] == len(want) and board.files() == want


def test_one_changed_source_copies_one_file(board, tmp_path, monkeypatch):
    assert flash(board.port, "--board", "sim").exit_code == 0
    src = tmp_path / "firmware"
    subprocess.run(["cp", "-r", str(FIRMWARE), str(src)], check=True)
    (tmp_path / "boards").symlink_to(Path(fwtest.ROOT) / "boards")
    with open(src / "cemt" / "pack.py", "a") as f:
        f.write(f"\n_FLASH_TEST = {os.urandom(8).hex()!r}\n")  # new to the compile cache
    monkeypatch.setattr(build, "firmware_dir", lambda: src)
    res = json.loads(flash(board.port, "--board", "sim").stdout)
    assert (res["copied"], res["compiled"]) == (1, 1)
    assert b"_FLASH_TEST" in board.files()["lib/cemt/pack.mpy"]
    # a module gone from the firmware is removed from the board
    (src / "cemt" / "packdelta.py").unlink()
    res = json.loads(flash(board.port, "--board", "sim").stdout)
    assert (res["copied"], res["removed"]) == (0, 1)
    assert "lib/cemt/packdelta.mpy" not in board.files()


def test_corruption_on_the_device_is_found_and_repaired(board):
    assert flash(board.port, "--board", "sim").exit_code == 0
    want = expected_files("sim")
    (board.fs / "lib/cemt/app.mpy").write_bytes(want["lib/cemt/app.mpy"][:-1] + b"\x00")
    (board.fs / "lib/cemt/edge.mpy").unlink()
    (board.fs / "lib/cemt/leftover.mpy.new").write_bytes(b"half")  # from a cut transfer
    res = json.loads(flash(board.port).stdout)
    assert (res["copied"], res["removed"]) == (2, 1)
    assert board.files() == want


def test_settings_and_key_survive(board):
    (board.fs / "config.json").write_text('{"device": {"id": "dev-7"}}')
    (board.fs / "device.key").write_bytes(b"\x01" * 32)
    assert flash(board.port, "--board", "sim", "--force").exit_code == 0
    assert (board.fs / "config.json").read_text() == '{"device": {"id": "dev-7"}}'
    assert (board.fs / "device.key").read_bytes() == b"\x01" * 32


def test_board_profile_errors(board):
    res = flash(board.port)
    assert res.exit_code == 1
    assert res.stderr == "error: no board profile on the device; give --board NAME\n"
    res = flash(board.port, "--board", "nope")
    assert res.exit_code == 1
    assert res.stderr == "error: unknown board 'nope': one of esp32_4g, pico_rs485, sim\n"
    (board.fs / "board.json").write_text('{"name": "x", "port": "stm32"}')
    res = flash(board.port)
    assert res.exit_code == 1 and "unknown port 'stm32'" in res.stderr
    assert not (board.fs / "lib").exists()


def test_a_board_is_named_by_its_file_or_its_profile_name():
    assert deploy.load_board("esp32-4g") == deploy.load_board("esp32_4g")
    assert json.loads(deploy.load_board("pico-rs485"))["name"] == "pico-rs485"


def test_architecture_follows_the_profile(board, monkeypatch):
    asked = []
    real = build.build
    monkeypatch.setattr(build, "build", lambda arch=None, *a: asked.append(arch) or real(arch, *a))
    res = flash(board.port, "--board", "pico_rs485")
    assert res.exit_code == 0, res.output
    got = board.files()
    assert asked == ["armv6m"] and got["board.json"] == expected_files("pico_rs485")["board.json"]
    assert got["lib/cemt/app.mpy"] == real("armv6m").files["cemt/app.mpy"].read_bytes()
    assert [deploy.arch_of(json.dumps({"port": p}).encode(), "x") for p in ("esp32", "rp2", "unix")] \
        == ["xtensawin", "armv6m", None]


def test_board_killed_mid_transfer_then_repaired(board):
    def killer():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any((board.fs / "lib" / "cemt").glob("*.new")):
                board.kill()
                return
            time.sleep(0.001)
    threading.Thread(target=killer, daemon=True).start()
    res = flash(board.port, "--board", "sim")
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("error: lost the board while writing lib/cemt/")
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    # no half module under its real name
    for path, data in board.files().items():
        if path.endswith(".mpy"):
            assert data == expected_files("sim")[path], path
    board.start()
    res = flash(board.port, "--board", "sim")
    assert res.exit_code == 0, res.output
    assert board.files() == expected_files("sim")


def test_out_of_space_is_one_line(board, monkeypatch):
    # /dev/full: every write fails with ENOSPC, as a full littlefs does
    os.symlink("/dev/full", board.fs / "boot.py.new")
    res = flash(board.port, "--board", "sim")
    assert res.exit_code == 1
    assert res.stderr == "error: device out of space while writing boot.py\n"
    os.unlink(board.fs / "boot.py.new")
    monkeypatch.setattr(deploy.Device, "free", lambda self: 1000)
    res = flash(board.port, "--board", "sim")
    assert res.exit_code == 1
    assert res.stderr.startswith("error: device out of space: the update needs ")
    assert res.stderr.endswith(" bytes, 1000 free\n")


def test_port_errors_are_one_line(board, tmp_path, monkeypatch):
    monkeypatch.delenv("CEMT_PORT", raising=False)
    res = flash(str(tmp_path / "ttyACM9"))
    assert res.exit_code == 1 and res.stderr == f"error: no such port: {tmp_path / 'ttyACM9'}\n"
    holder = serial.serial_for_url(board.port, exclusive=True)
    try:
        res = flash(board.port, "--board", "sim")
    finally:
        holder.close()
    assert res.exit_code == 1
    assert res.stderr == f"error: {board.port} is busy: another program has it open " \
                         "(a terminal, mpremote?)\n"


def test_a_silent_port_is_not_a_board(tmp_path):
    hub = BusHub(1, collide=False).start()  # a port with nothing behind it
    try:
        res = flash(hub.master_path, "--board", "sim")
    finally:
        hub.stop()
    assert res.exit_code == 1
    assert res.stderr == f"error: the board on {hub.master_path} does not answer " \
                         "(no MicroPython REPL)\n"


def test_plan_counts_space_for_one_new_file_beside_its_old_one():
    files = {"lib/cemt/a.mpy": b"a" * 100, "lib/cemt/b.mpy": b"b" * 300, "main.py": b"m"}
    present = {"lib/cemt/a.mpy": (deploy.sha(b"a" * 100), 100),
               "lib/cemt/b.mpy": ("0" * 64, 200), "lib/cemt/old.mpy": ("1" * 64, 50),
               "config.json": ("2" * 64, 10)}
    p = deploy.plan(files, present)
    assert p.copy == ["lib/cemt/b.mpy", "main.py"] and p.unchanged == ["lib/cemt/a.mpy"]
    assert p.remove == ["lib/cemt/old.mpy"] and p.copy_bytes == 301
    assert p.need == (100 + 1 - 50) + 300
    assert deploy.plan(files, present, force=True).copy == ["lib/cemt/a.mpy", "lib/cemt/b.mpy",
                                                           "main.py"]


class RunningApp(BareBoard):
    """A MicroPython board running an app with the USB console (the fake node of
    tests/fw/rpc_usb.py behind the real cemt.console), the REPL under it as main.py leaves it."""

    def start(self) -> None:
        fd = os.open(self.hub.device_paths[0], os.O_RDWR | os.O_NOCTTY)
        self.proc = subprocess.Popen(
            [fwtest.tool("micropython"), "-X", "heapsize=256K", "-i",
             str(Path(fwtest.ROOT) / "tests" / "fw" / "rpc_usb.py"), "10"],
            stdin=fd, stdout=fd, stderr=fd, cwd=self.fs, env=fwtest.micropython_env("mpy"))
        os.close(fd)


def test_flash_breaks_into_a_running_app(tmp_path):
    app = RunningApp(tmp_path / "fs")
    try:
        info = deploy.wait_for_app(app.port, 20)  # the app answers on its console
        assert info["device"] == "dev-1"
        res = flash(app.port, "--board", "sim")
        assert res.exit_code == 0, res.output
        assert app.files() == expected_files("sim")
    finally:
        app.close()


def test_a_board_left_at_the_repl_is_reported(board, monkeypatch):
    monkeypatch.setattr(deploy, "REPL_GIVE_UP", 1.0)
    with pytest.raises(deploy.DeployError) as e:
        deploy.wait_for_app(board.port, 10)
    assert str(e.value) == "flashed, but the app did not answer after the reset: the board " \
                           "stays at the REPL: main.py did not start the app"
