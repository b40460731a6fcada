"""Deploying the firmware to a board over its USB REPL: what ``cemtool flash`` does (docs/flashing.md).

``Device`` is the thin adapter over mpremote's ``SerialTransport`` (mpremote as a library): it
breaks into the running app and enters the raw REPL, runs code, hashes, writes and removes files,
and resets, turning every failure of the transport into a ``DeployError`` with one line for the
user. ``flash()`` is the deploy: compile (``cemtool.build``, cached), hash what the board holds in
one exec, copy what differs (each file as ``PATH.new``, then renamed), remove stale modules, verify
every SHA-256 on the device, reset and check that the app answers.

Device paths are relative to the board's working directory (``/`` on a board; the simulated
board's own folder on the unix port, where an absolute path would be the host's filesystem).
``config.json`` and ``device.key`` are never written or removed.
"""
from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import json
import re
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from cemtool import build

LIB = "lib/cemt"
SOURCES = ("boot.py", "main.py")   # kept as source on the board
PROFILE = "board.json"
ARCH_BY_PORT = {"esp32": "xtensawin", "rp2": "armv6m", "unix": None}
CHUNK = 2048          # bytes per exec while writing: base64 in one short statement
PROBE_TIMEOUT = 20.0  # seconds for the app to answer after a reset
REPL_GIVE_UP = 5.0    # seconds of a plain REPL answering instead of the app

# One exec lists every deployed file as "sha256hex size path": everything under lib/cemt, plus
# boot.py, main.py and board.json when present.
_HASH_CODE = """\
import os, hashlib, binascii
def _h(p, b=bytearray(512)):
    h = hashlib.sha256(); n = s = 0
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n: break
            h.update(memoryview(b)[:n]); s += n
    print(binascii.hexlify(h.digest()).decode(), s, p)
def _w(d):
    try: es = list(os.ilistdir(d))
    except OSError: return
    for e in es:
        p = d + '/' + e[0]
        if e[1] & 0x4000: _w(p)
        else: _h(p)
_w(%r)
for p in %r:
    try: _h(p)
    except OSError: pass
"""


# MicroPython says "OSError: [Errno 28] ENOSPC", or "OSError: 28" on a port built without errno names.
_ENOSPC = re.compile(r"ENOSPC|OSError: (\[Errno )?%d\b" % errno.ENOSPC)


class DeployError(Exception):
    """The flash failed; ``str()`` is one line for the user."""


class LostBoard(DeployError):
    """The board stopped answering or its port went away."""


class OutOfSpace(DeployError):
    """The board's filesystem is full."""


def _quiet(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    # mpremote prints what it read when it cannot enter the raw REPL; keep stdout for our output.
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kw)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "error"


class Device:
    """A board's REPL over a serial port, through mpremote's ``SerialTransport``."""

    def __init__(self, port: str, baudrate: int = 115200, timeout: float = 5.0) -> None:
        self.port = port
        try:
            self.t = _quiet(SerialTransport, port, baudrate=baudrate, timeout=timeout)
        except TransportError:
            raise DeployError(_open_failure(port, baudrate)) from None

    def enter(self, tries: int = 3) -> None:
        """Break into whatever runs (Ctrl-C) and enter the raw REPL."""
        for _ in range(tries):
            try:
                _quiet(self.t.enter_raw_repl, soft_reset=False, timeout_overall=3)
                return
            except TransportError:
                continue  # a unix-port REPL drops keys typed while it sets its terminal up
            except (serial.SerialException, OSError) as e:
                raise LostBoard(f"lost the board on {self.port}: {e}") from None
        raise DeployError(f"the board on {self.port} does not answer (no MicroPython REPL)")

    def exec(self, code: str) -> str:
        """Run ``code`` in the raw REPL; its output. A device error raises ``DeployError``."""
        try:
            out, err = self.t.exec_raw(code, timeout=10)
        except (TransportError, serial.SerialException, OSError, struct.error) as e:
            raise LostBoard(f"lost the board on {self.port}: {e}") from None
        if err:
            text = err.decode(errors="replace")
            if _ENOSPC.search(text):
                raise OutOfSpace("device out of space")
            raise DeployError(f"the board said: {_last_line(text)}")
        return out.decode(errors="replace")

    def hashes(self) -> dict[str, tuple[str, int]]:
        """``{path: (sha256 hex, size)}`` of every deployed file, from one exec."""
        found = {}
        for line in self.exec(_HASH_CODE % (LIB, (*SOURCES, PROFILE))).splitlines():
            digest, size, path = line.split(" ", 2)
            found[path] = (digest, int(size))
        return found

    def free(self) -> int:
        """Bytes free on the board's filesystem."""
        out = self.exec("import os\ns = os.statvfs(os.getcwd())\nprint(s[1] * s[4])")
        return int(out.split()[-1])

    def read(self, path: str) -> bytes | None:
        """The contents of ``path`` on the board, or None when there is no such file."""
        out = self.exec("import binascii\ntry:\n with open(%r, 'rb') as f: d = f.read()\n"
                        "except OSError: d = None\n"
                        "print('-' if d is None else binascii.b2a_base64(d).decode().strip())"
                        % path).strip()
        return None if out == "-" else base64.b64decode(out)

    def mkdirs(self, dirs: list[str]) -> None:
        self.exec("import os\nfor d in %r:\n try: os.mkdir(d)\n except OSError: pass" % dirs)

    def remove(self, paths: list[str]) -> None:
        self.exec("import os\nfor p in %r:\n try: os.remove(p)\n except OSError: pass" % paths)

    def write(self, path: str, data: bytes, progress: Callable[[int], None] = lambda n: None) -> None:
        """Write ``path`` as ``path.new``, then rename it: a cut transfer leaves no half file."""
        new = path + ".new"
        self.exec("import binascii\nf = open(%r, 'wb')\nw = f.write\na = binascii.a2b_base64" % new)
        for i in range(0, len(data), CHUNK):
            chunk = data[i:i + CHUNK]
            self.exec("w(a(%r))" % base64.b64encode(chunk).decode())
            progress(len(chunk))
        self.exec("f.close()\nimport os\nos.rename(%r, %r)" % (new, path))

    def has_hard_reset(self) -> bool:
        return self.exec("import machine\nprint(hasattr(machine, 'reset'))").strip() == "True"

    def reset(self) -> str:
        """Restart the board so that it runs main.py; ``"hard"`` or ``"soft"``."""
        try:
            if self.has_hard_reset():
                self.t.exec_raw_no_follow("import machine\nmachine.reset()")
                return "hard"
            # A soft reset from the friendly REPL runs boot.py and main.py (from the raw REPL
            # it would come back to the raw REPL).
            self.t.exit_raw_repl()
            self.t.read_until(1, b">>> ", timeout=2)
            self.t.serial.write(b"\x04")
            return "soft"
        except (TransportError, serial.SerialException, OSError, struct.error) as e:
            raise LostBoard(f"lost the board on {self.port} while resetting it: {e}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.t.close()


def _open_failure(port: str, baudrate: int) -> str:
    """Why ``port`` could not be opened, in one line (mpremote only says that it failed)."""
    try:
        s = serial.serial_for_url(port, baudrate=baudrate, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as e:
        text = str(e)
        if "lock" in text or "busy" in text.lower() or getattr(e, "errno", None) == errno.EBUSY:
            return f"{port} is busy: another program has it open (a terminal, mpremote?)"
        if getattr(e, "errno", None) == errno.EACCES or "ermission" in text:
            return f"cannot open {port}: permission denied (join the dialout group?)"
        if getattr(e, "errno", None) == errno.ENOENT or "No such file" in text:
            return f"no such port: {port}"
        return f"cannot open {port}: {text}"
    s.close()
    return f"cannot open {port}"


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


def boards_dir() -> Path:
    return build.firmware_dir().parent / "boards"


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def load_board(name: str) -> bytes:
    """The profile ``boards/NAME.json``; an unknown name is an error listing the boards.

    The profile's own name (``esp32-4g``, what ``cemtool info`` shows) names its file too.
    """
    path = boards_dir() / f"{name.replace('-', '_')}.json"
    if "/" in name or not path.is_file():
        raise DeployError(f"unknown board {name!r}: one of {', '.join(board_names())}")
    return path.read_bytes()


def arch_of(profile: bytes, where: str) -> str | None:
    """The mpy-cross architecture for a profile (its ``port``)."""
    try:
        port = json.loads(profile)["port"]
    except (ValueError, KeyError, TypeError):
        raise DeployError(f"{where} is not a board profile (no \"port\")") from None
    if port not in ARCH_BY_PORT:
        raise DeployError(f"{where}: unknown port {port!r} (one of {', '.join(ARCH_BY_PORT)})")
    return ARCH_BY_PORT[port]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Plan:
    """What a flash does: ``files`` (path → content) is what the board ends up with."""
    files: dict[str, bytes]
    copy: list[str]
    unchanged: list[str]
    remove: list[str]
    need: int  # bytes of free space the copy needs at its peak

    @property
    def copy_bytes(self) -> int:
        return sum(len(self.files[p]) for p in self.copy)


def plan(files: dict[str, bytes], present: dict[str, tuple[str, int]], force: bool = False) -> Plan:
    """Compare the wanted files with what the board holds (``Device.hashes()``)."""
    copy = [p for p in files if force or present.get(p, ("",))[0] != sha(files[p])]
    unchanged = [p for p in files if p not in copy]
    remove = sorted(p for p in present if p.startswith(LIB + "/") and p not in files)
    freed = sum(present[p][1] for p in remove)
    grown = sum(len(files[p]) - present.get(p, ("", 0))[1] for p in copy)
    # Each file is written beside the old one before the rename: one extra copy at a time.
    largest = max((len(files[p]) for p in copy), default=0)
    return Plan(files, _ordered(copy), unchanged, remove, max(0, grown - freed) + largest)


def _ordered(paths: list[str]) -> list[str]:
    # Modules first, main.py last: a board cut off mid-flash does not start a new main.py
    # against old modules it has not received yet.
    rank = {"boot.py": 1, PROFILE: 2, "main.py": 3}
    return sorted(paths, key=lambda p: (rank.get(p, 0), p))


@dataclass
class Result:
    copied: int
    unchanged: int
    removed: int
    bytes: int
    seconds: float
    board: str
    compiled: int
    reset: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        line = (f"flashed {self.board}: {self.copied} copied, {self.unchanged} unchanged, "
                f"{self.removed} removed, {self.bytes} bytes in {self.seconds:.1f} s")
        if self.info:
            line += (f"; app answers: device {self.info.get('device') or '-'}, "
                     f"fw {self.info.get('fw')}, board {self.info.get('board')}")
        return line


def wanted(profile: bytes | None, arch: str | None) -> tuple[dict[str, bytes], int]:
    """Every file the board should hold (path → bytes) and how many modules were compiled."""
    built = build.build(arch)
    files = {f"lib/{rel}": path.read_bytes() for rel, path in built.files.items()}
    src = build.firmware_dir()
    for name in SOURCES:
        files[name] = (src / name).read_bytes()
    if profile is not None:
        files[PROFILE] = profile
    return files, built.compiled


def flash(port: str, board: str | None = None, *, force: bool = False, reset: bool = True,
          progress: Progress | None = None, baudrate: int = 115200,
          probe_timeout: float = PROBE_TIMEOUT) -> Result:
    """Deploy the firmware to the board on ``port``; ``DeployError`` with one line on failure."""
    progress = progress or NoProgress()
    t0 = time.monotonic()
    profile = load_board(board) if board is not None else None
    dev = Device(port, baudrate)
    try:
        dev.enter()
        if profile is None:
            profile_on_board = dev.read(PROFILE)
            if profile_on_board is None:
                raise DeployError("no board profile on the device; give --board NAME")
            arch = arch_of(profile_on_board, f"{PROFILE} on the device")
            name = _name(profile_on_board)
        else:
            arch = arch_of(profile, f"boards/{board}.json")
            name = _name(profile)
        try:
            files, compiled = wanted(profile, arch)
        except build.BuildError as e:
            raise DeployError(str(e)) from None
        p = plan(files, dev.hashes(), force)
        if p.copy:
            free = dev.free()
            if p.need > free:
                raise OutOfSpace(f"device out of space: the update needs {p.need} bytes, "
                                 f"{free} free")
        _apply(dev, p, progress)
        _verify(dev, p)
        result = Result(len(p.copy), len(p.unchanged), len(p.remove), p.copy_bytes, 0.0, name,
                        compiled)
        if reset:
            result.reset = dev.reset()
    finally:
        dev.close()
    if reset:
        result.info = wait_for_app(port, probe_timeout)
    result.seconds = round(time.monotonic() - t0, 3)
    return result


def _name(profile: bytes) -> str:
    try:
        return str(json.loads(profile).get("name", "?"))
    except (ValueError, AttributeError):
        return "?"


def _apply(dev: Device, p: Plan, progress: Progress) -> None:
    progress.start(p.copy_bytes)
    dirs = sorted({"/".join(path.split("/")[:i]) for path in p.copy
                   for i in range(1, path.count("/") + 1)}, key=lambda d: (d.count("/"), d))
    if dirs:
        dev.mkdirs(dirs)
    if p.remove:
        dev.remove(p.remove)
    for path in p.copy:
        try:
            dev.write(path, p.files[path], progress.advance)
        except LostBoard:
            raise LostBoard(f"lost the board while writing {path}") from None
        except OutOfSpace:
            raise OutOfSpace(f"device out of space while writing {path}") from None


def _verify(dev: Device, p: Plan) -> None:
    present = dev.hashes()
    bad = [path for path, data in p.files.items() if present.get(path, ("",))[0] != sha(data)]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DeployError(f"verify failed: SHA-256 differs on the device for "
                          f"{', '.join(bad[:3])}{more}")
    left = [path for path in present if path.startswith(LIB + "/") and path not in p.files]
    if left:
        raise DeployError(f"verify failed: stale file left on the device: {left[0]}")


def wait_for_app(port: str, timeout: float) -> dict[str, Any]:
    """Wait for the cemt app to answer ``info`` on ``port`` after a reset; its ``info``."""
    from cemtool.link import AtRepl, Link, LinkError, SerialTransport as LinkPort
    deadline = time.monotonic() + timeout
    last, repl_since = "no answer", None
    while time.monotonic() < deadline:
        try:
            link = Link(LinkPort(port), timeout=1.0)
        except LinkError as e:  # a native-USB board re-enumerates after a hard reset
            last = str(e)
            time.sleep(0.2)
            continue
        try:
            return link.probe()
        except AtRepl:
            # A REPL that stays means main.py ended (its traceback: mpremote connect PORT repl).
            last = "the board stays at the REPL: main.py did not start the app"
            repl_since = repl_since or time.monotonic()
            if time.monotonic() - repl_since > REPL_GIVE_UP:
                break
        except LinkError as e:
            last, repl_since = str(e), None
        finally:
            link.close()
        time.sleep(0.2)
    raise DeployError(f"flashed, but the app did not answer after the reset: {last}")
