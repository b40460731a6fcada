"""The sim board's USB port: a pseudo-terminal that behaves like a MicroPython board's.

``UsbPort(fs, out)`` runs the device process (the MicroPython unix port, cwd ``fs``, modules
from ``.frozen`` and ``lib``) with its console on one end of a socket pair, and relays that
console to a pty whose slave (``.path``) a user's tool opens as the board's serial port. The
relay does what a board's firmware does around the REPL:

- **power-on**: a start script (kept outside ``fs``) runs ``boot.py``, then ``main.py``, then
  leaves the REPL (``micropython -i``); an exception in them prints its traceback first;
- **Ctrl-C**: while the process has its SIGINT handler installed (code is running with the
  interrupt character armed) a 0x03 from the user becomes SIGINT, as a board's UART interrupt
  would raise KeyboardInterrupt; otherwise (at a prompt, or the app's console disarmed it with
  ``micropython.kbd_intr(-1)``) it is passed on as data;
- **soft reset**: the unix port ends the process on Ctrl-D at the friendly REPL and at an empty
  raw-REPL prompt; the relay prints ``MPY: soft reboot`` and starts it again. From the raw REPL
  a board runs boot.py only and is back in the raw REPL: the relay starts the process without
  main.py, puts it in raw mode itself and shows only the raw prompt;
- **hard reset**: the process exiting with status 3 (``cemt.hardware`` on a port without a reset)
  or dying any other way: start it again from power-on. ``power(False)`` / ``power(True)``
  switch the board off and on (a power cut).

Each start tells the device why in ``CEMT_RESET`` (what ``machine.reset_cause()`` gives on a
board, as the boot record's code, docs/alarms.md §4): 1 power-on (the first start, after a power
cut), 2 hard reset (status 3 or a death), 5 soft reset.

The console is a socket, not a terminal, on purpose: the unix REPL sets its terminal with
``TCSAFLUSH`` at every prompt, which throws away whatever the host typed ahead (a board keeps
it). The user's pty stays open on our side too, so tools may close and reopen the port freely.
With ``baud`` both directions are paced at that rate (10 bits a byte). Bytes the device sends
while nobody reads the port are dropped once the pty's buffer is full, as a USB port does.
"""
from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from cemtool import build
from cemtool.sim.pty import Pty

RESET_EXIT = 3  # cemt.hardware.RESET_EXIT: a board reset on a port that cannot reset itself
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "
BANNER = b"MicroPython "
CTRL_A, CTRL_C = b"\x01", 0x03
SIGINT_GAP_S = 0.2     # a second SIGINT before the first is handled would end the unix port
QUICK_DEATH_S = 0.5    # a process that dies sooner than this is restarted after a pause
PAUSE_S = 0.5
POWER_ON, HARD_RESET, SOFT_RESET = 1, 2, 5  # CEMT_RESET: the boot record's reset codes

START = '''\
# The sim board's start-up (cemtool.sim.usb): boot.py, then main.py unless the board comes
# back from a soft reset in the raw REPL; micropython -i then leaves the REPL.
import sys as _sys


def _tell(what):
    import os
    with open("/dev/fd/" + os.getenv("CEMT_SIM_CTL"), "w") as f:
        f.write(what + "\\n")


def _start(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return
    try:
        exec(compile(src, name, "exec"), globals())
    except SystemExit as e:
        # -i would carry on into the REPL: the relay ends the process and resets the board
        import time
        _tell(str(e.args[0] if e.args else 0))
        while True:
            time.sleep(1)
    except BaseException as e:
        _sys.print_exception(e)


_tell("up")  # MicroPython handles SIGINT from now on
_sys.path[0] = ""
_raw = _sys.argv[-1] == "raw"
_sys.argv.clear()
_start("boot.py")
if not _raw:
    _start("main.py")
del _tell, _start, _raw, _sys
'''


def sigint_caught(pid: int) -> bool:
    """Whether process ``pid`` has a SIGINT handler installed (Linux ``/proc``)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def _die_with_parent() -> None:
    """In the child: be killed if the board's process dies without cleaning up (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Pacer:
    """Bytes a direction may carry now: unlimited, or ``rate`` bytes a second."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.credit = 0.0
        self.last = time.monotonic()

    def allowance(self, want: int) -> int:
        if not self.rate:
            return want
        now = time.monotonic()
        self.credit = min(self.credit + (now - self.last) * self.rate, max(self.rate * 0.02, 1.0))
        self.last = now
        return min(want, int(self.credit))

    def spent(self, n: int) -> None:
        if self.rate:
            self.credit -= n

    def wait(self) -> float:
        return 1.0 / self.rate if self.rate else 0.0


class UsbPort:
    def __init__(self, fs: Path, out: Path, heap: str = "512K", baud: int | None = None) -> None:
        self.fs = fs
        self.heap = heap
        self.start_script = out / "start.py"
        self.start_script.write_text(START)
        self.user = Pty()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.soft_resets = 0
        self.hard_resets = 0
        self.dropped = 0           # bytes to the user lost while nobody read the port
        self._sock: socket.socket | None = None
        self._exit_r: int | None = None
        self._born = 0.0
        self._up_at = 0.0          # when the start script said MicroPython handles SIGINT
        self._to_dev = bytearray()
        self._to_user = bytearray()
        self._held = bytearray()   # the user's bytes while the relay puts the device in raw mode
        self._pending = bytearray()
        self._entering_raw = False
        self._sent_ctrl_a = False
        self._raw = False          # the device's REPL is in raw mode, as its output last said
        self._tail = b""
        self._last_sigint = 0.0
        self._powered = True
        rate = baud / 10 if baud else None
        self._up, self._down = _Pacer(rate), _Pacer(rate)  # to the device, to the user
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._orders: list[tuple[str, threading.Event]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return self.user.path

    # -- control, from any thread ------------------------------------------------------------

    def start(self) -> UsbPort:
        self._sel.register(self.user.master, selectors.EVENT_READ, self._on_user)
        self._sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._thread = threading.Thread(target=self._run, name="sim-usb", daemon=True)
        self._thread.start()
        return self

    def power(self, on: bool, timeout: float = 10) -> None:
        """Switch the board off (the process is killed) or on (it boots from power-on)."""
        done = threading.Event()
        with self._lock:
            self._orders.append(("on" if on else "off", done))
        os.write(self._wake_w, b"x")
        done.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._stop = True
            os.write(self._wake_w, b"x")
            self._thread.join(10)
            self._thread = None
        self._kill()
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.user.close()

    # -- the relay thread --------------------------------------------------------------------

    def _run(self) -> None:
        self._spawn(raw=False, cause=POWER_ON)
        while not self._stop:
            busy = self._to_dev or self._to_user
            timeout = max(self._up.wait(), self._down.wait(), 0.002) if busy else 1.0
            for key, _ in self._sel.select(timeout):
                key.data()
            if self._stop:
                break
            self._flush()
        self._kill()

    def _on_wake(self) -> None:
        os.read(self._wake_r, 64)
        with self._lock:
            orders, self._orders = self._orders, []
        for what, done in orders:
            if what == "off":
                self._powered = False
                self._kill()
            elif not self._powered:
                self._powered = True
                self._spawn(raw=False, cause=POWER_ON)
            done.set()

    def _on_user(self) -> None:
        try:
            data = os.read(self.user.master, 4096)
        except (BlockingIOError, OSError):
            return
        if self.proc is None:
            return  # the board is off
        if self._entering_raw:
            self._held += data
        else:
            self._to_dev += data

    def _on_device(self) -> None:
        if self._sock is None:
            return  # the process was ended earlier in this round
        try:
            data = self._sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._died()
            return
        if self._entering_raw:
            self._pending += data
            self._enter_raw()
            return
        self._to_user += data
        self._note_mode(data)

    def _on_control(self) -> None:
        """A line from the start script: ``up``, or the code of a SystemExit it caught."""
        if self._exit_r is None:
            return
        try:
            lines = os.read(self._exit_r, 256).decode(errors="replace").split()
        except OSError:
            lines = []
        if not lines:  # the process closed its end: it is gone, and its console says so
            self._sel.unregister(self._exit_r)
            return
        for line in lines:
            if line == "up":
                self._up_at = time.monotonic()
            else:
                # SystemExit from boot.py or main.py soft-resets a board; the firmware's is hard
                self._died(hard=line == str(RESET_EXIT))
                return

    def _note_mode(self, data: bytes) -> None:
        """Follow the REPL's mode from its prompts (what a soft reset comes back to)."""
        seen = self._tail + data
        raw, friendly = seen.rfind(RAW_PROMPT), seen.rfind(FRIENDLY_PROMPT)
        if raw >= 0 or friendly >= 0:
            self._raw = raw > friendly
        self._tail = seen[-len(RAW_PROMPT):]

    def _enter_raw(self) -> None:
        """After a soft reset from the raw REPL: show boot.py's output, then only the raw prompt."""
        buf = self._pending
        if not self._sent_ctrl_a:
            at = buf.find(FRIENDLY_PROMPT)  # the REPL is up
            if at < 0:
                return
            banner = buf.rfind(BANNER, 0, at)
            self._to_user += buf[:banner if banner >= 0 else at]
            del buf[:at + len(FRIENDLY_PROMPT)]
            self._sock.send(CTRL_A)  # an idle socket has room for one byte
            self._sent_ctrl_a = True
        at = buf.find(RAW_PROMPT)
        if at < 0:
            return
        self._to_user += buf[at:]
        buf.clear()
        self._entering_raw = False
        self._raw = True
        self._tail = RAW_PROMPT
        self._to_dev += self._held
        self._held.clear()

    def _flush(self) -> None:
        while self._to_dev and self._sock is not None and not self._entering_raw:
            n = self._up.allowance(len(self._to_dev))
            if n <= 0:
                break
            chunk = bytes(self._to_dev[:n])
            brk = chunk.find(CTRL_C)
            if brk == 0 and self._up_at and sigint_caught(self.proc.pid):
                # the byte is an interrupt, not data, as on a board's USB port
                now = time.monotonic()
                if now - self._last_sigint >= SIGINT_GAP_S:
                    self._last_sigint = now
                    os.kill(self.proc.pid, signal.SIGINT)
                del self._to_dev[:1]
                self._up.spent(1)
                continue
            if brk > 0:
                chunk = chunk[:brk]
            elif brk == 0:
                chunk = chunk[:1]
            try:
                sent = self._sock.send(chunk)
            except BlockingIOError:
                break
            except OSError:
                self._to_dev.clear()
                break
            del self._to_dev[:sent]
            self._up.spent(sent)
        while self._to_user:
            n = self._down.allowance(len(self._to_user))
            if n <= 0:
                break
            try:
                sent = os.write(self.user.master, self._to_user[:n])
            except (BlockingIOError, OSError):
                # nobody is reading the port: what does not fit is lost, as on a USB port
                self.dropped += len(self._to_user)
                self._to_user.clear()
                break
            del self._to_user[:sent]
            self._down.spent(sent)

    # -- the device process ------------------------------------------------------------------

    def _spawn(self, raw: bool, cause: int) -> None:
        ours, theirs = socket.socketpair()
        exit_r, exit_w = os.pipe()
        env = dict(os.environ, MICROPYPATH=".frozen:lib", CEMT_SIM_CTL=str(exit_w),
                   CEMT_RESET=str(cause))
        cmd = [build.tool("micropython"), "-X", f"heapsize={self.heap}", "-i",
               str(self.start_script.resolve())]
        if raw:
            cmd.append("raw")
        try:
            self.proc = subprocess.Popen(cmd, stdin=theirs, stdout=theirs, stderr=theirs,
                                         cwd=self.fs, env=env, pass_fds=(exit_w,),
                                         preexec_fn=_die_with_parent)
        finally:
            theirs.close()
            os.close(exit_w)
        ours.setblocking(False)
        self._sock, self._exit_r = ours, exit_r
        self._sel.register(ours, selectors.EVENT_READ, self._on_device)
        self._sel.register(exit_r, selectors.EVENT_READ, self._on_control)
        self._born = time.monotonic()
        self._up_at = 0.0
        self.starts += 1
        self._to_dev.clear()  # what was typed at the dead process is lost, as in a reset
        self._raw = False
        self._tail = b""
        self._entering_raw = raw
        self._sent_ctrl_a = False
        self._pending.clear()

    def _kill(self) -> None:
        """End the device process (if any) and forget its console."""
        proc, self.proc = self.proc, None
        if self._sock is not None:
            for fd in (self._sock, self._exit_r):
                try:
                    self._sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            self._sock.close()
            os.close(self._exit_r)
            self._sock = self._exit_r = None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._held.clear()
        self._entering_raw = False

    def _died(self, hard: bool | None = None) -> None:
        """The device process ended, or its start script reported a SystemExit (``hard``).

        The process's own exit is a soft reset when it ended normally (Ctrl-D at a prompt,
        ``sys.exit()`` at the REPL), a hard reset otherwise (status 3, killed, crashed).
        """
        proc = self.proc
        if proc is None:
            return
        if hard is None:
            try:
                hard = proc.wait(5) != 0
            except subprocess.TimeoutExpired:
                hard = True
        lived = time.monotonic() - self._born
        raw = self._raw
        self._kill()
        if not self._powered or self._stop:
            return
        if not hard:
            self.soft_resets += 1
            self._to_user += SOFT_REBOOT
            self._spawn(raw=raw, cause=SOFT_RESET)
            return
        self.hard_resets += 1
        if lived < QUICK_DEATH_S:
            time.sleep(PAUSE_S)  # a board stuck in a reset loop: do not spin
        self._spawn(raw=False, cause=HARD_RESET)
