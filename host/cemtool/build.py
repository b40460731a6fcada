"""Compiling the firmware: every module of ``firmware/`` to ``.mpy`` with mpy-cross, cached by content.

``boot.py`` and ``main.py`` stay as source on a board (tiny, and repairable from the REPL), so they
are copied, not compiled. The cache keeps one line per module (hash of source and target), so an
unchanged module is never compiled twice.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ARCHS = ("xtensawin", "armv6m")
SOURCE_ONLY = ("boot.py", "main.py")


class BuildError(Exception):
    """mpy-cross refused a module; the message names it."""


def firmware_dir() -> Path:
    """The firmware sources: beside the package in a checkout, or packaged with it."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "firmware", here / "firmware"):
        if (candidate / "cemt").is_dir():
            return candidate
    raise BuildError("firmware sources not found beside the cemtool package")


def tool(name: str) -> str:
    """A console script installed beside this interpreter (the venv), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def modules(src: Path | None = None) -> list[Path]:
    src = src or firmware_dir()
    return sorted(p for p in src.rglob("*.py") if p.name not in SOURCE_ONLY)


def compile_firmware(out: Path, arch: str | None = None, src: Path | None = None) -> Path:
    """Compile every firmware module into ``out`` (package layout kept); returns ``out``."""
    src = src or firmware_dir()
    out.mkdir(parents=True, exist_ok=True)
    cache = out / ".hashes"
    known = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            digest, _, rel = line.partition(" ")
            known[rel] = digest
    wanted, lines = set(), []
    for path in modules(src):
        rel = path.relative_to(src).with_suffix(".mpy")
        dst = out / rel
        wanted.add(dst)
        digest = hashlib.sha256(path.read_bytes() + (arch or "").encode()).hexdigest()
        if known.get(str(rel)) != digest or not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            cmd = [tool("mpy-cross"), "-o", str(dst), "-s", str(rel.with_suffix(".py"))]
            if arch:
                cmd.append("-march=" + arch)
            proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
            if proc.returncode:
                raise BuildError(f"mpy-cross failed on {path.relative_to(src)}: {proc.stderr.strip()}")
        lines.append(f"{digest} {rel}")
    for stale in out.rglob("*.mpy"):
        if stale not in wanted:
            stale.unlink()
    cache.write_text("\n".join(lines) + "\n")
    return out


def install_sources_only(dest: Path, src: Path | None = None) -> None:
    """Copy boot.py and main.py (kept as source on a board) into ``dest``."""
    src = src or firmware_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_ONLY:
        shutil.copyfile(src / name, dest / name)
