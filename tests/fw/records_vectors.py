"""Shared record vectors (docs/vectors/records.json) for the firmware tests; cwd is the repo root."""
import json

PATH = "docs/vectors/records.json"


def load():
    with open(PATH) as f:
        return json.load(f)
