"""Persisted settings and calibration, with a version number that every record carries.

The configuration is one JSON document on the board's filesystem. Every accepted change bumps
``ver``; records produced afterwards carry the new version, so a number can always be traced to the
settings and calibration that made it. Saving is atomic: the new document is written beside the old
one and renamed over it, so a power cut leaves either the old or the new settings, never a mix.
``Store`` keeps small state that is not configuration (the modem's ladder counters) the same way.
Secrets are never settings: the device key lives in its own file (``cemt.app``).
"""
import json
import os

DEFAULTS = {
    "ver": 1,
    "device": {"id": "", "site": "", "point": ""},
    # Edge computation (docs/edge.md): area 1e-4 m2; kp, kv, xsw 1e-4; o2 0.01 %vol.
    "edge": {"area": 10000, "kp": 8400, "kv": 10000, "xsw": 800, "xsw_measured": False,
             "co2_wet": False, "o2": 600, "period_s": 1},
    # Calibration (docs/calibration.md): CO2 zero offset (0.001 %vol) and gain (1e-4), Δp zero
    # offset (0.01 Pa); co2_t, dp_t: UTC s of the last applied zero/span; full scales co2_fs
    # (0.001 %vol) and dp_fs (0.01 Pa); limits in per mille of full scale (*_zero_max the
    # offset, span_min the span gas, *_spread the steadiness) and the span gain range (1e-4).
    "cal": {"co2_zero": 0, "co2_gain": 10000, "dp_zero": 0, "co2_t": 0, "dp_t": 0,
            "co2_fs": 20000, "dp_fs": 50000, "co2_zero_max": 50, "dp_zero_max": 10,
            "span_min": 200, "gain_min": 8000, "gain_max": 12000, "co2_spread": 10,
            "dp_spread": 1},
    # The receiver the uplink delivers to (docs/protocol.md); no host: no uplink.
    "uplink": {"host": "", "port": 0},
    # Warnings (docs/alarms.md), 0 = off: co2_hi 0.01 %vol (minute mean), mass_min_hi and
    # mass_hour_hi 0.01 kg per minute / hour, fault_n samples, stale_min and link_min minutes,
    # backlog_pct % of the minute log, cal_days days; levels clear below clear_pct % of the limit.
    "alarms": {"co2_hi": 0, "mass_min_hi": 0, "mass_hour_hi": 0, "clear_pct": 90, "fault_n": 60,
               "stale_min": 10, "backlog_pct": 50, "link_min": 60, "cal_days": 30},
}


def load_json(path, default):
    """The JSON document at ``path``, or ``default`` when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, doc):
    """Write ``doc`` to ``path`` atomically (beside it, then renamed over it)."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, path)


def _merge(base, over):
    out = {}
    for key, value in base.items():
        if isinstance(value, dict):
            out[key] = _merge(value, over.get(key, {}) if isinstance(over.get(key), dict) else {})
        else:
            out[key] = over.get(key, value)
    return out


class Config:
    """Settings backed by ``path``; unknown keys in the file are ignored, missing ones defaulted."""

    def __init__(self, path="config.json"):
        self.path = path
        stored = load_json(path, {})
        self.data = _merge(DEFAULTS, stored if isinstance(stored, dict) else {})

    @property
    def ver(self):
        return self.data["ver"]

    def get(self, section, key=None):
        value = self.data[section]
        return value if key is None else value[key]

    def update(self, section, changes):
        """Apply ``changes`` to ``section``; returns the new version, or None if nothing changed.

        Only known keys of the right type are accepted (ValueError otherwise), so a bad command
        can never leave settings the firmware cannot use.
        """
        current = self.data[section]
        for key, value in changes.items():
            if key not in current:
                raise ValueError("unknown setting %s.%s" % (section, key))
            if type(value) is not type(current[key]):
                raise ValueError("%s.%s must be %s" % (section, key, type(current[key]).__name__))
        if all(current[k] == v for k, v in changes.items()):
            return None
        current.update(changes)
        self.data["ver"] += 1
        self.save()
        return self.data["ver"]

    def save(self):
        save_json(self.path, self.data)


class Store:
    """A small JSON document of counters: ``get(key, default)``, ``set(key, value)`` (saved at once)."""

    def __init__(self, path):
        self.path = path
        self._d = load_json(path, {})
        if not isinstance(self._d, dict):
            self._d = {}

    def get(self, key, default=None):
        return self._d.get(key, default)

    def set(self, key, value):
        self._d[key] = value
        save_json(self.path, self._d)
