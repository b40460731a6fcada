"""Drives cemt.frame under MicroPython for host tests and the benchmark (one process per batch).

    micropython tools/frame_driver.py decode NODE CHUNK PATH   frames and counters of a byte stream
    micropython tools/frame_driver.py encode PATH              one "addr payload-hex" per line in,
                                                               one encoded hex per line out
    micropython tools/frame_driver.py bench SIZE COUNT         encode/decode throughput as JSON

NODE is 0-247 or "any". ``decode`` reads the file CHUNK bytes at a time into one buffer and prints
"F addr length crc32" per frame, then "C" and the counters as JSON.
"""
import json
import sys
import time
from binascii import crc32, hexlify, unhexlify

from cemt import frame


def decode(node, chunk, path):
    def on_frame(addr, payload):
        print("F", addr, len(payload), crc32(payload))

    dec = frame.Decoder(on_frame, None if node == "any" else int(node))
    buf = bytearray(int(chunk))
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            dec.feed(mv[:n])
    print("C", json.dumps(dec.counters()))


def encode(path):
    out = bytearray(frame.encoded_size(frame.MAX_PAYLOAD))
    with open(path) as f:
        for line in f:
            addr, _, payload = line.strip().partition(" ")
            n = frame.encode_into(out, int(addr), unhexlify(payload))
            print(hexlify(memoryview(out)[:n]).decode())


def bench(size, count):
    size, count = int(size), int(count)
    payload = bytes((i * 7) & 0xFF for i in range(size))
    out = bytearray(frame.encoded_size(size))
    t0 = time.ticks_us()
    for _ in range(count):
        n = frame.encode_into(out, 1, payload)
    t_enc = time.ticks_diff(time.ticks_us(), t0)
    wire = bytes(out[:n])
    got = [0]

    def on_frame(addr, p):
        got[0] += 1

    dec = frame.Decoder(on_frame, None)
    t0 = time.ticks_us()
    for _ in range(count):
        dec.feed(wire)
    t_dec = time.ticks_diff(time.ticks_us(), t0)
    assert got[0] == count
    print(json.dumps({"size": size, "count": count, "wire": n,
                      "encode_us": t_enc, "decode_us": t_dec}))


if __name__ == "__main__":
    {"decode": decode, "encode": encode, "bench": bench}[sys.argv[1]](*sys.argv[2:])
