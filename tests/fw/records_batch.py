"""Batch driver for host interop tests: one request per stdin line, one answer per stdout line.

Requests: ``rec-encode TOKENS``, ``rec-decode HEX``, ``cbor-encode TOKENS``, ``cbor-decode HEX``.
Answers: ``OK HEX`` (encodings), ``OK END TOKENS`` (decodings), ``ERR message`` for a ValueError,
``CRASH message`` for any other exception (a bug: decoders must only raise ValueError).

TOKENS write a value in prefix order, space separated: ``i<int>``, ``b<hex>``, ``s<hex of UTF-8>``,
``a<n>`` (array of the next n values), ``m<n>`` (map of the next n key/value pairs), ``T``, ``F``,
``N``. The host writes and reads the same notation, so values cross without either side's codec.
"""
import gc
import sys

from cemt import cbor, records


def build(tokens, i=0):
    tok = tokens[i]
    tag, arg = tok[0], tok[1:]
    if tag == "i":
        return int(arg), i + 1
    if tag == "b":
        return bytes.fromhex(arg), i + 1
    if tag == "s":
        return str(bytes.fromhex(arg), "utf-8"), i + 1
    if tag == "a":
        items = []
        i += 1
        for _ in range(int(arg)):
            item, i = build(tokens, i)
            items.append(item)
        return items, i
    if tag == "m":
        items = {}
        i += 1
        for _ in range(int(arg)):
            key, i = build(tokens, i)
            items[key], i = build(tokens, i)
        return items, i
    return {"T": True, "F": False, "N": None}[tag], i + 1


def describe(obj, out):
    if obj is True or obj is False or obj is None:
        out.append("T" if obj is True else "F" if obj is False else "N")
    elif type(obj) is int:
        out.append("i%d" % obj)
    elif type(obj) is bytes:
        out.append("b" + obj.hex())
    elif type(obj) is str:
        out.append("s" + obj.encode().hex())
    elif type(obj) is list:
        out.append("a%d" % len(obj))
        for x in obj:
            describe(x, out)
    else:
        out.append("m%d" % len(obj))
        for k, v in obj.items():
            describe(k, out)
            describe(v, out)
    return out


def answer(op, arg):
    if op == "rec-encode":
        return "OK " + records.encode(build(arg.split())[0]).hex()
    if op == "cbor-encode":
        return "OK " + cbor.dumps(build(arg.split())[0]).hex()
    data = bytes.fromhex(arg)
    if op == "rec-decode":
        obj, end = records.decode(data)
    else:
        obj, end = cbor.decode_from(data)
    return "OK %d %s" % (end, " ".join(describe(obj, [])))


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        op, _, arg = line.strip().partition(" ")
        try:
            print(answer(op, arg))
        except ValueError as e:
            print("ERR", e)
        except Exception as e:
            print("CRASH", type(e).__name__, e)
        gc.collect()


main()
