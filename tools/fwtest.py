"""Firmware test runner: compiles the firmware with mpy-cross and runs firmware tests under MicroPython.

A firmware test is a file ``tests/fw/test_*.py`` whose ``test_*`` functions run inside the real
MicroPython unix port with a board-sized heap. Mode ``mpy`` imports only the bytecode ``.mpy`` files
that would be deployed, under the heap given (64K by default). Mode ``src`` imports the firmware from
its ``.py`` sources, which the unix port must compile first: a board never does (it runs ``.mpy``),
and the compiler's peak for the larger modules sits right at 64K, where a few bytes of path names
decide, so source mode adds SRC_COMPILER_HEAP for the compiler.

    python tools/fwtest.py [--mode src|mpy|both] [--heap 64K] [tests/fw/test_x.py ...]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cemtool.build import ARCHS, compile_firmware as _compile, modules, tool  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
FW_TESTS = ROOT / "tests" / "fw"
BUILD = ROOT / "build"
DEFAULT_HEAP = "64K"
SRC_COMPILER_HEAP = 32 * 1024


def heap_for(mode: str, heap: str) -> str:
    """The -X heapsize for a run: ``heap``, plus the compiler's room when compiling from source."""
    if mode != "src":
        return heap
    units = {"K": 1024, "M": 1024 * 1024}
    n = int(heap[:-1]) * units[heap[-1].upper()] if heap[-1].upper() in units else int(heap)
    return str(n + SRC_COMPILER_HEAP)


def firmware_sources() -> list[Path]:
    return modules(FIRMWARE)


def compile_firmware(arch: str | None = None, out: Path | None = None) -> Path:
    """Compile every firmware module to ``.mpy`` under ``out`` (cached by content hash)."""
    return _compile(out or BUILD / ("mpy" if arch is None else "mpy-" + arch), arch, FIRMWARE)


@dataclass
class FileResult:
    path: Path
    mode: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    output: str = ""
    returncode: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed and bool(self.passed)


def micropython_env(mode: str) -> dict[str, str]:
    fw = str(compile_firmware()) if mode == "mpy" else str(FIRMWARE)
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([fw, str(FW_TESTS), ".frozen"])
    return env


def run_micropython(args: list[str], mode: str = "src", heap: str = DEFAULT_HEAP,
                    timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run the unix port with the firmware importable (from source or from .mpy)."""
    cmd = [tool("micropython"), "-X", "heapsize=" + heap_for(mode, heap)] + args
    return subprocess.run(cmd, env=micropython_env(mode), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def run_file(path: Path, mode: str = "src", heap: str = DEFAULT_HEAP) -> FileResult:
    proc = run_micropython([str(ROOT / "tools" / "fwrun.py"), path.stem], mode, heap)
    res = FileResult(path, mode, output=proc.stdout + proc.stderr, returncode=proc.returncode)
    for line in proc.stdout.splitlines():
        word, _, name = line.partition(" ")
        if word == "PASS":
            res.passed.append(name)
        elif word == "FAIL":
            res.failed.append(name)
    if "RESULT" not in proc.stdout and not res.returncode:
        res.returncode = 1  # the module died before finishing its tests
    return res


def test_files() -> list[Path]:
    return sorted(FW_TESTS.glob("test_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--mode", choices=("src", "mpy", "both"), default="both")
    ap.add_argument("--heap", default=DEFAULT_HEAP)
    args = ap.parse_args(argv)
    modes = ("src", "mpy") if args.mode == "both" else (args.mode,)
    passed = failed = 0
    for path in args.files or test_files():
        for mode in modes:
            res = run_file(path.resolve(), mode, args.heap)
            passed += len(res.passed)
            failed += len(res.failed) + (0 if res.ok or res.failed else 1)
            status = "ok" if res.ok else "FAILED"
            print(f"{path.name:32} {mode:4} {len(res.passed):4} passed {len(res.failed):3} failed  {status}")
            if not res.ok:
                print(res.output)
    print(f"firmware: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
