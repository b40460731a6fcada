"""Reads docs/vectors/frames.json and hmac.json one entry per line (cwd is the repo root).

The files keep one entry per line so that a 64K heap never holds more than one vector.
"""
import json
from binascii import unhexlify

FRAMES = "docs/vectors/frames.json"
HMAC = "docs/vectors/hmac.json"


def entries(section, path=FRAMES):
    """Yield the entries of one top-level list, parsed one line at a time."""
    head = '"%s": [' % section
    inside = False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not inside:
                inside = line == head
            elif line.startswith("]"):
                return
            else:
                entry = json.loads(line[:-1] if line.endswith(",") else line)
                line = None  # let the text go before the caller works on the entry
                yield entry
    if not inside:
        raise KeyError(section)


def unhex(s):
    return unhexlify(s)


class Collector:
    """A frame callback that keeps copies of what it was given."""

    def __init__(self):
        self.frames = []

    def __call__(self, addr, payload):
        self.frames.append([addr, bytes(payload)])


def counters(dec):
    """Decoder counters without ``breaks`` (the vectors do not use a break byte)."""
    c = dec.counters()
    del c["breaks"]
    return c
