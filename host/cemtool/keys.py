"""Device keys on the host: the key file that ``cemtool provision`` writes and the receiver reads.

The file is JSON, readable and writable by its owner only (mode 0600)::

    {"format": "cemt-keys", "version": 1,
     "devices": {"stack-01": "<64 hex digits>", "stack-02": "..."}}

A device id is 1-32 characters from ``A-Z a-z 0-9 . _ -``; a key is 32 bytes. ``load`` refuses a
file that group or others may read, as ssh does. Keys never appear in errors, logs or reprs.
"""
from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path

FORMAT = "cemt-keys"
VERSION = 1
KEY_SIZE = 32
_DEVICE_ID = re.compile(r"[A-Za-z0-9._-]{1,32}\Z")


class KeyFileError(Exception):
    """The key file cannot be used; the message is one line and names no key."""


def valid_device_id(device: object) -> bool:
    return isinstance(device, str) and _DEVICE_ID.match(device) is not None


def load(path: str | os.PathLike) -> dict[str, bytes]:
    """The device keys of the file at ``path``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read()
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is accessible by others (mode {stat.S_IMODE(mode):04o});"
                           f" run: chmod 600 {path}")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise KeyFileError(f"key file {path} is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise KeyFileError(f"key file {path} is not a {FORMAT} version {VERSION} file")
    devices = doc.get("devices")
    if not isinstance(devices, dict):
        raise KeyFileError(f"key file {path} has no \"devices\" object")
    keys = {}
    for device, hexkey in devices.items():
        if not valid_device_id(device):
            raise KeyFileError(f"key file {path}: bad device id {device!r}")
        try:
            key = bytes.fromhex(hexkey) if isinstance(hexkey, str) else b""
        except ValueError:
            key = b""
        if len(key) != KEY_SIZE:
            raise KeyFileError(f"key file {path}: the key of {device} is not {KEY_SIZE} bytes of hex")
        keys[device] = key
    return keys


def save(path: str | os.PathLike, keys: dict[str, bytes]) -> None:
    """Write ``keys`` to ``path`` atomically (a new file renamed over the old one), mode 0600."""
    path = Path(path)
    for device, key in keys.items():
        if not valid_device_id(device):
            raise KeyFileError(f"bad device id {device!r}")
        if len(key) != KEY_SIZE:
            raise KeyFileError(f"the key of {device} is not {KEY_SIZE} bytes")
    doc = {"format": FORMAT, "version": VERSION,
           "devices": {d: keys[d].hex() for d in sorted(keys)}}
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w") as f:  # mkstemp creates the file with mode 0600
                json.dump(doc, f, indent=1)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise KeyFileError(f"cannot write key file {path}: {e.strerror}") from None


class KeyRing:
    """The keys of a key file, re-read when the file changes (new devices need no restart)."""

    def __init__(self, path: str | os.PathLike, recheck_s: float = 1.0) -> None:
        self.path = Path(path)
        self._recheck = recheck_s
        self._keys = load(self.path)
        self._stamp = self._mtime()
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"KeyRing({str(self.path)!r}, {len(self._keys)} devices)"

    def __len__(self) -> int:
        return len(self._keys)

    def _mtime(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return -1

    def get(self, device: str) -> bytes | None:
        """The key of ``device``, or None; an unknown id re-reads a changed file first."""
        key = self._keys.get(device)
        if key is None and time.monotonic() - self._checked >= self._recheck:
            self._checked = time.monotonic()
            stamp = self._mtime()
            if stamp != self._stamp:
                self._keys = load(self.path)  # a broken new file raises; the caller logs it
                self._stamp = stamp
                key = self._keys.get(device)
        return key
