"""Firmware (MicroPython, deployed .mpy) and host (cbor2) agree on records and on CBOR.

Each example runs one MicroPython process over a batch (tests/fw/records_batch.py); values cross
in a token notation that neither codec is involved in.
"""
from __future__ import annotations

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fwtest
from cemtool import records
from cemtool.records import DecodeError, Record
from test_records import INT64, VALID, record_values

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def tokens(obj: object, out: list[str] | None = None) -> list[str]:
    """``obj`` in the token notation, map items in key order (maps compare without order)."""
    out = [] if out is None else out
    if obj is True or obj is False or obj is None:
        out.append({True: "T", False: "F", None: "N"}[obj])
    elif type(obj) is int:
        out.append(f"i{obj}")
    elif type(obj) is bytes:
        out.append("b" + obj.hex())
    elif type(obj) is str:
        out.append("s" + obj.encode().hex())
    elif type(obj) is list:
        out.append(f"a{len(obj)}")
        for x in obj:
            tokens(x, out)
    else:
        out.append(f"m{len(obj)}")
        for k, v in sorted((tokens(k), tokens(v)) for k, v in obj.items()):
            out.extend(k + v)
    return out


def parse(toks: list[str], i: int = 0) -> tuple[object, int]:
    tag, arg = toks[i][0], toks[i][1:]
    if tag == "a":
        items, i = [], i + 1
        for _ in range(int(arg)):
            item, i = parse(toks, i)
            items.append(item)
        return items, i
    if tag == "m":
        pairs, i = {}, i + 1
        for _ in range(int(arg)):
            key, i = parse(toks, i)
            pairs[key], i = parse(toks, i)
        return pairs, i
    atoms = {"i": int, "b": bytes.fromhex, "s": lambda h: bytes.fromhex(h).decode()}
    if tag in atoms:
        return atoms[tag](arg), i + 1
    return {"T": True, "F": False, "N": None}[tag], i + 1


def decoded(answer: str) -> str:
    """A firmware decode answer with its value re-written in key order."""
    word, end, *toks = answer.split(" ")
    return " ".join([word, end, *tokens(parse(toks)[0])]) if word == "OK" else answer


def firmware(requests: list[str]) -> list[str]:
    proc = fwtest.run_micropython(["-m", "records_batch"], mode="mpy",
                                  input="".join(r + "\n" for r in requests), timeout=60)
    assert proc.returncode == 0, proc.stderr
    answers = proc.stdout.splitlines()
    assert len(answers) == len(requests), proc.stdout + proc.stderr
    assert not [a for a in answers if a.startswith("CRASH")], answers
    return answers


def test_firmware_and_host_agree_on_every_vector():
    answers = firmware([f"rec-decode {v['hex']}" for v in VALID]
                       + [f"rec-encode {' '.join(tokens(v['values']))}" for v in VALID])
    for v, dec, enc in zip(VALID, answers, answers[len(VALID):]):
        assert dec == f"OK {len(v['hex']) // 2} {' '.join(tokens(v['values']))}", v["name"]
        assert enc == f"OK {v['hex']}", v["name"]


@SETTINGS
@given(st.lists(record_values(), min_size=1, max_size=40))
def test_random_records_cross_both_ways(batch):
    host_bytes = [Record.from_list(values).encode() for values in batch]
    answers = firmware([f"rec-encode {' '.join(tokens(v))}" for v in batch]
                       + [f"rec-decode {data.hex()}" for data in host_bytes])
    for values, data, enc, dec in zip(batch, host_bytes, answers, answers[len(batch):]):
        fw_bytes = bytes.fromhex(enc.removeprefix("OK "))
        assert fw_bytes == data  # identical canonical bytes
        assert [r.to_list() for r in records.decode_stream(fw_bytes)] == [values]
        assert dec == f"OK {len(data)} {' '.join(tokens(values))}"


KEYS = st.one_of(st.integers(-2**64, 2**64 - 1), st.text(max_size=8))
CBOR_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), INT64, st.binary(max_size=20), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=20)


@SETTINGS
@given(st.lists(CBOR_VALUES, min_size=1, max_size=30))
def test_random_cbor_crosses_both_ways(batch):
    host_bytes = [cbor2.dumps(obj, canonical=True) for obj in batch]
    answers = firmware([f"cbor-encode {' '.join(tokens(obj))}" for obj in batch]
                       + [f"cbor-decode {data.hex()}" for data in host_bytes])
    for obj, data, enc, dec in zip(batch, host_bytes, answers, answers[len(batch):]):
        assert enc == f"OK {data.hex()}"
        assert decoded(dec) == f"OK {len(data)} {' '.join(tokens(obj))}"


def host_outcome(data: bytes) -> str:
    """What the host makes of the first record in ``data``, written like a firmware answer."""
    try:
        first = next(iter(records.decode_stream(data)), None)
    except DecodeError:
        return "ERR"
    if first is None:
        return "ERR"  # no record at all: the firmware reports truncation
    return f"OK {len(first.encode())} {' '.join(tokens(first.to_list()))}"


@st.composite
def damaged(draw):
    """A valid vector with a few bytes replaced, cut short, or grown."""
    raw = bytearray.fromhex(draw(st.sampled_from(VALID))["hex"])
    for _ in range(draw(st.integers(1, 3))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(raw) + 4))
    return bytes(raw[:cut]) + draw(st.binary(max_size=max(0, cut - len(raw))))


@st.composite
def respelled(draw):
    """A valid record with one integer head wider than needed: valid CBOR, not canonical."""
    values = draw(st.sampled_from(VALID))["values"]
    ints = [i for i, v in enumerate(values) if type(v) is int and -2**32 <= v < 2**32]
    i = draw(st.sampled_from(ints))
    v = values[i]
    major, arg = (0, v) if v >= 0 else (1, -1 - v)
    shortest = len(cbor2.dumps(v)) - 1
    width = draw(st.sampled_from([w for w in (1, 2, 4, 8) if w > shortest and (w > 1 or arg >= 0)]))
    item = bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[width]]) + arg.to_bytes(width, "big")
    parts = [cbor2.dumps(x) for x in values]
    array_head = cbor2.dumps(values)[:-sum(map(len, parts))]
    parts[i] = item
    return array_head + b"".join(parts)


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=48), damaged(), respelled()), min_size=1, max_size=60))
def test_garbage_never_crashes_and_both_sides_judge_it_alike(batch):
    answers = firmware([f"rec-decode {data.hex()}" for data in batch]
                       + [f"cbor-decode {data.hex()}" for data in batch])
    for data, fw_rec, fw_cbor in zip(batch, answers, answers[len(batch):]):
        assert fw_rec.partition(" ")[0] in ("OK", "ERR") and fw_cbor.split()[0] in ("OK", "ERR")
        fw = "ERR" if fw_rec.startswith("ERR") else fw_rec
        assert fw == host_outcome(data), data.hex()
        if fw_rec.startswith("ERR"):
            assert " at byte " in fw_rec, fw_rec
