"""docs/quickstart.md, the simulator track, run as written against `cemtool sim board`.

The commands come from the page itself (the ``$ `` lines of its ```` ```console sim ```` blocks),
never from a copy here: change the page and this test runs the new walk. Each runs in a shell in
a fresh directory, in order, and must exit 0; ``background`` blocks stay running as in another
terminal; ``again`` blocks are run until they print something. The receiver's port is the one
thing replaced (by a free port). The outcome is checked at the end: provisioned, calibrated as
the page's calibrate commands say, and the receiver's database holding the board's records.
"""
from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cemtool import keys, records

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "quickstart.md"
BIN = ROOT / ".venv" / "bin"
DOC_RECEIVER_PORT = "7070"
BLOCK = re.compile(r"^```console(?P<flags>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)
EXPORT = re.compile(r"^export (?P<name>[A-Z_][A-Z0-9_]*)=")
AGAIN_S = 120


@dataclass
class Step:
    command: str
    background: bool = False
    again: bool = False


def walk(text: str) -> list[Step]:
    """The simulator track: every ``$`` line of the ``console sim`` blocks, in page order."""
    steps = []
    for block in BLOCK.finditer(text):
        flags = block["flags"].split()
        if "sim" not in flags:
            continue
        for line in block["body"].splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:].strip(), "background" in flags, "again" in flags))
    return steps


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args_of(steps: list[Step], *prefix: str) -> list[list[str]]:
    """The argument lists of the steps whose command starts with ``prefix`` words."""
    found = []
    for step in steps:
        words = shlex.split(step.command)
        if words[:len(prefix)] == list(prefix):
            found.append(words[len(prefix):])
    return found


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


# -- the page's structure ---------------------------------------------------------------------

def test_the_page_has_a_simulator_walk_that_a_shell_can_run():
    steps = walk(DOC.read_text())
    commands = [s.command for s in steps]
    assert sum(s.background for s in steps) == 2  # the sim board and the receiver
    assert steps[0].background and commands[0].startswith("cemtool sim board ")
    assert "--bare" in commands[0].split(), "the walk starts from a bare board"
    assert any(EXPORT.match(c) and "CEMT_PORT" in c for c in commands)
    for c in commands:
        assert not c.endswith("\\"), f"one line a command: {c}"
        assert c.startswith(("cemtool ", "export ")), c
    for words in ("flash --board", "info", "time sync", "provision", "receive", "config set uplink",
                  "reboot",
                  "calibrate dp-zero", "calibrate zero", "calibrate span", "calibrate check",
                  "calibrate pitot", "live", "export --db", "dump", "decode"):
        assert any(c.startswith("cemtool " + words) for c in commands), words
    text = DOC.read_text()
    for words in ("cemtool ports", "cemtool flash-runtime"):
        assert words in text, f"the real-board track shows {words}"


# -- the walk ---------------------------------------------------------------------------------

class Background:
    """A command left running, as in another terminal; its output collected by a thread."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.proc = subprocess.Popen(["bash", "-c", "exec " + command], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def first_line(self, timeout: float = 60) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.command!r} printed nothing in {timeout} s") from None
        self.seen.append(line)
        return line

    def output(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as the page says
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def run_step(step: Step, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    deadline = time.monotonic() + AGAIN_S
    while True:
        run = subprocess.run(["bash", "-o", "pipefail", "-c", step.command], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=300)
        if not step.again or (run.returncode == 0 and run.stdout.strip()):
            return run
        assert time.monotonic() < deadline, f"{step.command!r} printed nothing in {AGAIN_S} s"
        time.sleep(3)


def cemtool_json(cwd: Path, env: dict[str, str], *args: str) -> dict:
    run = subprocess.run([str(BIN / "cemtool"), *args, "--json"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return json.loads(run.stdout)


def test_the_simulator_walk_runs_as_written(tmp_path):
    steps = walk(DOC.read_text())
    port = str(free_port())
    cwd = tmp_path / "walk"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEMT_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    background: list[Background] = []
    transcript = []
    try:
        for step in steps:
            command = re.sub(rf"\b{DOC_RECEIVER_PORT}\b", port, step.command)
            if step.background:
                bg = Background(command, cwd, env)
                background.append(bg)
                transcript.append(f"$ {command} &\n{bg.first_line()}")
                continue
            name = EXPORT.match(command)
            if name:
                run = subprocess.run(["bash", "-c", f'{command} && printf %s "${name["name"]}"'],
                                     cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
                assert run.returncode == 0 and run.stdout, (command, run.stderr)
                env[name["name"]] = run.stdout
                continue
            run = run_step(Step(command, again=step.again), cwd, env)
            transcript.append(f"$ {command}\n{run.stdout}{run.stderr}")
            assert run.returncode == 0, "\n".join(transcript[-3:])
        outcome(steps, cwd, env, port)
    finally:
        codes = [bg.stop() for bg in reversed(background)]
    assert codes == [0] * len(background), [bg.output()[-2000:] for bg in background]


def outcome(steps: list[Step], cwd: Path, env: dict[str, str], port: str) -> None:
    # Provisioned: the page's identity on the board, its key in the page's key file.
    prov = args_of(steps, "cemtool", "provision")[0]
    device = option(prov, "--device")
    info = cemtool_json(cwd, env, "info")
    assert (info["device"], info["site"], info["point"], info["board"]) == \
        (device, option(prov, "--site"), option(prov, "--point"), "sim")
    assert info["safe"] == 0
    assert len(keys.load(cwd / option(prov, "--keys"))[device]) == 32

    # Calibrated: one applied (or checked) calibration record for each calibrate command of the
    # page, in its order, and the board's settings holding what the last of each applied.
    expected = []
    pitot = {}
    for args in args_of(steps, "cemtool", "calibrate"):
        action = args[0]
        if action == "pitot":
            if "--kp" in args:
                expected.append((2, 3, 0))
                pitot["kp"] = round(float(option(args, "--kp")) * 10000)
            if "--kv" in args:
                expected.append((6, 3, 0))
                pitot["kv"] = round(float(option(args, "--kv")) * 10000)
            if "--area" in args:
                pitot["area"] = round(float(option(args, "--area")) * 10000)
        else:
            channel = 2 if action == "dp-zero" or "dp" in args else 1
            expected.append((channel, {"dp-zero": 1, "zero": 1, "span": 2, "check": 4}[action],
                             3 if action == "check" else 0))
    assert len(expected) >= 5
    dump = cwd / "walk-check.cbor"
    summary = cemtool_json(cwd, env, "dump", "--log", "long", "--out", str(dump))
    got = list(records.decode_stream(dump.read_bytes()))
    assert summary["records"] == len(got)
    cals = [r for r in got if r.kind == records.CALIBRATION]
    assert [(r.fields["channel"], r.fields["action"], r.fields["result"]) for r in cals] == expected
    got_config = cemtool_json(cwd, env, "config", "get")
    config = got_config["sections"]
    last = {(r.fields["channel"], r.fields["action"]): r.fields["after"] for r in cals
            if r.fields["result"] == 0}
    assert config["cal"]["dp_zero"] == last[(2, 1)]
    assert config["cal"]["co2_zero"] == last[(1, 1)]
    assert config["cal"]["co2_gain"] == last[(1, 2)]
    # the sim board's analyser reads off until calibrated: the zero and the span correct it
    for key in ((1, 1), (1, 2)):
        applied = [r for r in cals if (r.fields["channel"], r.fields["action"]) == key]
        assert applied[0].fields["after"] != applied[0].fields["before"], applied[0]
    assert (last[(1, 1)], last[(1, 2)]) != (0, 10000)
    co2 = cemtool_json(cwd, env, "live", "--count", "1")["channels"]["co2"]
    assert co2["status"] == "N" and abs(co2["value"] - 12.0) <= 0.01, co2  # the stack's 12 %vol
    for key, value in pitot.items():
        assert config["edge"][key] == value, key
    assert pitot.get("kv", 10000) != 10000 or pitot.get("area", 10000) != 10000, \
        "the page's pitot step changes a setting from its default"
    assert got_config["ver"] > len(cals)
    assert any(r.kind == records.CONFIG and r.fields["key"] == "uplink.port"
               and r.fields["new"] == int(port) for r in got)

    # Uploading: the receiver's database holds the board's minute records and, once the long
    # log has gone up too, the same calibration records.
    receive = args_of(steps, "cemtool", "receive")[0]
    db = option(receive, "--db")
    deadline = time.monotonic() + 60
    while True:
        rows = export(cwd, env, db, device)
        stored = [r for r in rows if r["kind"] == "calibration"]
        if len(stored) == len(cals) or time.monotonic() > deadline:
            break
        time.sleep(2)
    minutes = [r for r in rows if r["kind"] == "minute"]
    assert minutes and any(r["valid"] and r["flag"] == "N" for r in minutes), rows[-3:]
    assert sorted(r["seq"] for r in stored) == sorted(r.seq for r in cals)


def export(cwd: Path, env: dict[str, str], db: str, device: str) -> list[dict]:
    run = subprocess.run([str(BIN / "cemtool"), "export", "--db", db, "--device", device],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines() if line]
