"""`cemtool flash` against the simulator's board (cemtool.sim.board.Board): from bare MicroPython
to the running app, through the real mpremote transport and the board's USB pty, resets included.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

import fwtest
from cemtool import build, keys
from cemtool.cli import main
from cemtool.sim.board import Board

ROOT = Path(fwtest.ROOT)
CEMTOOL = [sys.executable, "-m", "cemtool"]


def fw_version() -> str:
    """The firmware's version string as the app reports it (cemt.app.FW)."""
    run = fwtest.run_micropython(["-c", "from cemt.app import FW; print(FW)"], heap="512K")
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def cli(port: str, *args: str):
    res = CliRunner().invoke(main, list(args), env={"CEMT_PORT": port})
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def flash(port: str, *args: str) -> dict:
    res = cli(port, "flash", "--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def info(port: str) -> dict:
    res = cli(port, "info", "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def deployed(fs: Path) -> dict[str, bytes]:
    """The firmware's files on the board: lib/cemt, boot.py, main.py, board.json."""
    names = ["boot.py", "main.py", "board.json"]
    files = {p.relative_to(fs).as_posix(): p.read_bytes() for p in (fs / "lib" / "cemt").rglob("*")
             if p.is_file()}
    files.update({n: (fs / n).read_bytes() for n in names if (fs / n).exists()})
    return files


def expected() -> dict[str, bytes]:
    files = {f"lib/{rel}": p.read_bytes() for rel, p in build.build(None).files.items()}
    for name in ("boot.py", "main.py"):
        files[name] = (ROOT / "firmware" / name).read_bytes()
    files["board.json"] = (ROOT / "boards" / "sim.json").read_bytes()
    return files


def test_a_bare_board_flashed_runs_the_app_and_keeps_settings_and_key(tmp_path):
    with Board(tmp_path / "board", bare=True) as b:
        assert not (b.fs / "main.py").exists()
        first = flash(b.port, "--board", "sim")
        want = expected()
        assert first["copied"] == len(want) and first["unchanged"] == 0
        assert first["bytes"] == sum(len(d) for d in want.values())
        assert first["reset"] == "soft" and first["board"] == "sim"
        assert first["info"]["board"] == "sim" and first["info"]["fw"] == fw_version()
        assert deployed(b.fs) == want
        got = info(b.port)
        assert (got["board"], got["fw"], got["boots"], got["safe"]) == ("sim", fw_version(), 1, 0)
        assert got["reset"] == 5  # the soft reset that ended the flash (CEMT_RESET)

        second = flash(b.port)
        assert second["copied"] == 0 and second["bytes"] == 0 and second["removed"] == 0
        assert second["unchanged"] == len(want) - 1  # board.json kept, not part of the build
        assert second["info"]["fw"] == fw_version() and info(b.port)["boots"] == 2

        key_file = tmp_path / "cemtool.keys"
        res = cli(b.port, "provision", "--device", "flash-01", "--site", "s1", "--point", "p1",
                  "--keys", str(key_file))
        assert res.exit_code == 0, res.output
        assert cli(b.port, "config", "set", "edge", "area=31416").exit_code == 0
        config, key = (b.fs / "config.json").read_bytes(), (b.fs / "device.key").read_bytes()
        assert key == keys.load(key_file)["flash-01"]

        again = flash(b.port, "--board", "sim", "--force")
        assert again["copied"] == len(want)
        assert (b.fs / "config.json").read_bytes() == config
        assert (b.fs / "device.key").read_bytes() == key
        assert again["info"]["device"] == "flash-01"
        got = cli(b.port, "config", "get", "edge", "--json")
        assert json.loads(got.output)["sections"]["edge"]["area"] == 31416


def test_flash_breaks_into_the_running_app(tmp_path):
    with Board(tmp_path / "board") as b:  # not bare: the simulator put the app there, running
        deadline = time.monotonic() + 30
        while cli(b.port, "info").exit_code != 0:
            assert time.monotonic() < deadline, "the sim board's app did not answer"
            time.sleep(0.5)
        damaged = b.fs / "lib" / "cemt" / "edge.mpy"
        damaged.write_bytes(b"not bytecode")
        (b.fs / "lib" / "cemt" / "stale.mpy").write_bytes(b"old")
        res = flash(b.port, "--board", "sim")
        assert "lib/cemt/edge.mpy" in expected() and 1 <= res["copied"] <= 2  # edge, board.json
        assert res["removed"] == 1 and not (b.fs / "lib" / "cemt" / "stale.mpy").exists()
        assert deployed(b.fs) == expected()
        assert res["info"]["board"] == "sim" and res["info"]["fw"] == fw_version()


def test_reset_cause_follows_how_the_board_started(tmp_path):
    with Board(tmp_path / "board", bare=True) as b:
        assert flash(b.port, "--board", "sim")["reset"] == "soft"
        assert info(b.port)["reset"] == 5
        res = cli(b.port, "reboot", "--json")  # the reboot op: status 3, a hard reset
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["reset"] == 2
        b.inject("power+5")
        deadline = time.monotonic() + 30
        while (res := cli(b.port, "info", "--json")).exit_code != 0:
            assert time.monotonic() < deadline, res.output
            time.sleep(0.5)
        got = json.loads(res.output)
        assert (got["reset"], got["boots"]) == (1, 3)


def test_a_board_stopped_mid_transfer_is_one_line_and_a_new_flash_repairs_it(tmp_path):
    out = tmp_path / "board"
    b = Board(out, bare=True).start()
    lib = b.fs / "lib" / "cemt"
    stopped = threading.Event()

    def stop_when_half_copied() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if lib.is_dir() and len(list(lib.glob("*.mpy"))) >= 10:
                b.stop()  # the cable pulled while files are being written
                stopped.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=stop_when_half_copied)
    watcher.start()
    try:
        run = subprocess.run(CEMTOOL + ["flash", "--board", "sim", "-p", b.port],
                             capture_output=True, text=True, timeout=120)
    finally:
        watcher.join()
        b.stop()
    assert stopped.is_set()
    assert run.returncode == 1 and run.stdout == "", run
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost the board"), run.stderr
    written = len(list(lib.rglob("*.mpy")))  # whole files only: each is written as .new first
    assert written >= 10 and not (b.fs / "main.py").exists()  # main.py goes last

    with Board(out, bare=True) as again:  # plugged in again
        res = cli(again.port, "flash")
        assert res.exit_code == 1 and res.output == \
            "error: no board profile on the device; give --board NAME\n"
        repaired = flash(again.port, "--board", "sim")
        want = expected()
        assert repaired["copied"] == len(want) - written
        assert repaired["unchanged"] == written
        assert deployed(again.fs) == want
        assert not list(lib.rglob("*.new"))
        assert repaired["info"]["board"] == "sim" and repaired["info"]["fw"] == fw_version()
