"""cemtool.auth against docs/vectors/hmac.json (RFC 4231), and firmware cemt.hmac against the host."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import fwtest
from cemtool import auth

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "docs" / "vectors" / "hmac.json").read_text())["cases"]


@pytest.mark.parametrize("v", CASES, ids=[c["name"] for c in CASES])
def test_vector(v):
    key, data, tag = (bytes.fromhex(v[k]) for k in ("key", "data", "tag"))
    mac = auth.sign(key, data)
    assert len(mac) == auth.TAG_SIZE and mac[:len(tag)] == tag
    if len(tag) == auth.TAG_SIZE:
        assert auth.verify(key, data, tag)


def test_verify_rejects_tampering():
    key = auth.new_key()
    assert len(key) == auth.KEY_SIZE and key != auth.new_key()
    tag = auth.sign(key, b"batch")
    assert auth.verify(key, b"batch", tag)
    assert not auth.verify(key, b"batcH", tag)
    assert not auth.verify(auth.new_key(), b"batch", tag)
    assert not auth.verify(key, b"batch", tag[:-1] + bytes([tag[-1] ^ 1]))
    assert not auth.verify(key, b"batch", tag[:16])


def test_firmware_hmac_agrees_with_host_on_random_inputs(tmp_path):
    rng = random.Random(4231)
    cases = [(rng.randbytes(rng.choice([0, 1, 16, 32, 63, 64, 65, 100, 200])),
              rng.randbytes(rng.randrange(0, 600))) for _ in range(60)]
    path = tmp_path / "cases.txt"
    path.write_text("".join(f"{k.hex()} {m.hex()}\n" for k, m in cases))
    script = "\n".join([
        "from binascii import hexlify, unhexlify",
        "from cemt import hmac",
        "for line in open(%r):" % str(path),
        "    k, m = line.split(' ')",
        "    print(hexlify(hmac.digest(unhexlify(k), unhexlify(m.strip()))).decode())",
    ])
    proc = fwtest.run_micropython(["-c", script], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [auth.sign(k, m).hex() for k, m in cases]
