"""The shared record vectors, docs/vectors/records.json (firmware tests run from the repo root)."""
import json

PATH = "docs/vectors/records.json"


def load():
    with open(PATH) as f:
        return json.load(f)
