"""Scenarios: what the simulated stack does, read from TOML, overridable key by key, plus faults.

A scenario is a built-in name (``constant``, ``daily``: TOML files in ``scenarios/``) or a path.
``load(name, sets=["co2_pct=12"], faults=["dp:disconnect@1h+10m"])`` returns a validated
``Scenario``; every mistake raises ``ScenarioError`` with a one-line message. Keys and the fault
syntax are documented in docs/simulator.md.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

BUILTIN_DIR = Path(__file__).with_name("scenarios")
SERIES_KEYS = ("co2_pct", "velocity_ms", "dp_pa", "temp_c", "static_pa")
SERIES_FIELDS = ("value", "steps", "daily", "noise_scale")
SCALAR_KEYS = {
    "name": str, "start": str, "seed": int, "noise": float, "area_m2": float, "kp": float,
    "kv": float, "ambient_pa": float, "moisture": float, "o2_pct": float,
    "co2_analyser": str, "co2_wet": bool, "co2_zero_error_pct": float, "co2_gain_error": float,
}
ANALYSERS = ("modbus", "gss")
DEVICES = ("co2", "dp", "temp", "pa", "ps")
FAULT_KINDS = ("disconnect", "garble", "stuck", "spike", "drift", "overrange", "gas")
FAULT_DEFAULTS = {"spike": 1.0, "drift": 0.02}   # spike: relative jump; drift: relative per hour
GAS_DEVICES = ("co2", "dp")  # gas=V: a calibration gas on the analyser, or the pitot lines vented
# Faults of the uplink path, executed by the runner: the 4G link, the modem, the receiver.
LINK_FAULTS = {"link": ("outage",), "modem": ("hang", "garble"), "receiver": ("restart",)}


class ScenarioError(ValueError):
    """A scenario, override or fault that cannot be used; the message is one line for the user."""


@dataclass
class Series:
    value: float
    steps: list[tuple[float, float]] = field(default_factory=list)  # (s after start, new value)
    daily: list[float] = field(default_factory=list)                 # 24 hourly load factors
    noise_scale: float = 1.0                                         # × the scenario's noise


@dataclass(frozen=True)
class Fault:
    device: str          # co2, dp, temp, pa, ps, or "power"
    kind: str            # one of FAULT_KINDS, or "power"
    start: int           # seconds after the scenario start
    duration: int | None  # seconds; None: until the end
    param: float = 0.0

    def active(self, rel_t: int) -> bool:
        return rel_t >= self.start and (self.duration is None or rel_t < self.start + self.duration)

    def __str__(self) -> str:
        head = "power" if self.kind == "power" else f"{self.device}:{self.kind}"
        if (self.param or self.kind == "gas") and self.kind != "power":
            head += f"={self.param:g}"
        tail = "" if self.duration is None else f"+{self.duration}"
        return f"{head}@{self.start}{tail}"


@dataclass
class Scenario:
    name: str
    start: int                  # UTC seconds of the first simulated second
    seed: int
    noise: float                # relative standard deviation of the process fluctuation
    area_m2: float
    kp: float
    kv: float
    ambient_pa: float
    moisture: float
    o2_pct: float
    co2_analyser: str
    co2_wet: bool
    co2_pct: Series
    velocity_ms: Series | None
    dp_pa: Series | None
    temp_c: Series
    static_pa: Series
    faults: list[Fault] = field(default_factory=list)
    co2_zero_error_pct: float = 0.0  # the analyser reads this much too high at zero (%vol)
    co2_gain_error: float = 0.0      # and its span this much too high (relative: 0.02 is 2 %)

    def co2_read(self, pct: float) -> float:
        """What the analyser reads for a true ``pct`` %vol (stack gas or calibration gas)."""
        return pct * (1.0 + self.co2_gain_error) + self.co2_zero_error_pct

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start"] = iso(self.start)
        d["faults"] = [str(f) for f in self.faults]
        return d

    def device_faults(self, device: str) -> list[Fault]:
        return [f for f in self.faults if f.device == device]

    @property
    def power_cuts(self) -> list[Fault]:
        return [f for f in self.faults if f.kind == "power"]

    @property
    def link_faults(self) -> list[Fault]:
        return [f for f in self.faults if f.device in LINK_FAULTS]


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_DUR = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text, what: str = "time") -> int:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text >= 0:
        return int(text)
    m = _DUR.match(str(text).strip())
    if not m:
        raise ScenarioError(f"bad {what} {text!r}: use seconds or a number with s, m, h or d")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


_FAULT = re.compile(r"^(?:(\w+):)?(\w+)(?:=([-+0-9.eE]+))?@([^+]+)(?:\+(.+))?$")


def parse_fault(text: str) -> Fault:
    """``DEVICE:KIND[=PARAM]@START[+DURATION]`` or ``power@START[+OFF]``."""
    m = _FAULT.match(text.strip())
    if not m:
        raise ScenarioError(f"bad fault {text!r}: expected DEVICE:KIND[=PARAM]@START[+DURATION]")
    device, kind, param, start, dur = m.groups()
    if kind == "power":
        if device not in (None, "power"):
            raise ScenarioError(f"bad fault {text!r}: power takes no device")
        return Fault("power", "power", duration(start, "fault start"),
                     duration(dur or 0, "power-off time"))
    if device in LINK_FAULTS:
        kinds = LINK_FAULTS[device]
        if kind not in kinds:
            raise ScenarioError(f"bad fault {text!r}: {device} faults are {', '.join(kinds)}")
        if param is not None:
            raise ScenarioError(f"bad fault {text!r}: {device}:{kind} takes no parameter")
        # a restart without a duration is immediate; other windows without one last to the end
        dur_s = duration(dur, "fault duration") if dur is not None else (0 if kind == "restart" else None)
        return Fault(device, kind, duration(start, "fault start"), dur_s)
    if device not in DEVICES:
        raise ScenarioError(f"bad fault {text!r}: device must be one of "
                            f"{', '.join((*DEVICES, *LINK_FAULTS))}")
    if kind not in FAULT_KINDS:
        raise ScenarioError(f"bad fault {text!r}: kind must be one of {', '.join(FAULT_KINDS)}, power")
    if kind == "gas" and device not in GAS_DEVICES:
        raise ScenarioError(f"bad fault {text!r}: gas is for {' and '.join(GAS_DEVICES)} only")
    try:
        value = float(param) if param is not None else FAULT_DEFAULTS.get(kind, 0.0)
    except ValueError:
        raise ScenarioError(f"bad fault {text!r}: parameter {param!r} is not a number") from None
    return Fault(device, kind, duration(start, "fault start"),
                 None if dur is None else duration(dur, "fault duration"), value)


def _number(key: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"scenario key {key}: expected a number, got {v!r}")
    return float(v)


def _series(key: str, raw) -> Series:
    if not isinstance(raw, dict):
        return Series(_number(key, raw))
    unknown = set(raw) - set(SERIES_FIELDS)
    if unknown:
        raise ScenarioError(f"scenario key {key}.{sorted(unknown)[0]} is unknown "
                            f"(known: {', '.join(SERIES_FIELDS)})")
    if "value" not in raw:
        raise ScenarioError(f"scenario key {key}: a table needs a value")
    s = Series(_number(key, raw["value"]))
    steps = raw.get("steps", [])
    if not isinstance(steps, list):
        raise ScenarioError(f"scenario key {key}.steps: expected a list of [time, value]")
    for step in steps:
        if not (isinstance(step, list) and len(step) == 2):
            raise ScenarioError(f"scenario key {key}.steps: {step!r} is not [time, value]")
        s.steps.append((duration(step[0], f"{key}.steps time"), _number(key + ".steps", step[1])))
    s.steps.sort()
    daily = raw.get("daily", [])
    if not isinstance(daily, list) or (daily and len(daily) != 24):
        raise ScenarioError(f"scenario key {key}.daily: expected 24 hourly factors")
    s.daily = [_number(key + ".daily", f) for f in daily]
    if any(f < 0 for f in s.daily):
        raise ScenarioError(f"scenario key {key}.daily: factors must not be negative")
    s.noise_scale = _number(key + ".noise_scale", raw.get("noise_scale", 1.0))
    return s


def _start(v) -> int:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return int(v.timestamp())
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    try:
        parsed = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"scenario key start: {v!r} is not an ISO 8601 UTC time") from None
    if parsed.tzinfo is None:
        return calendar.timegm(parsed.timetuple())
    return int(parsed.timestamp())


def _parse_value(text: str):
    try:
        return tomllib.loads("v = " + text)["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_set(raw: dict, item: str) -> None:
    key, eq, text = item.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ScenarioError(f"bad --set {item!r}: expected key=value")
    value = _parse_value(text.strip())
    head, dot, sub = key.partition(".")
    if head in SERIES_KEYS:
        if dot and sub not in SERIES_FIELDS:
            raise ScenarioError(f"unknown scenario key {key!r} (series fields: {', '.join(SERIES_FIELDS)})")
        cur = raw.get(head)
        table = dict(cur) if isinstance(cur, dict) else ({} if cur is None else {"value": cur})
        table[sub if dot else "value"] = value
        if head == "dp_pa" and not dot:
            raw.pop("velocity_ms", None)
        elif head == "velocity_ms" and not dot:
            raw.pop("dp_pa", None)
        raw[head] = table
    elif key in SCALAR_KEYS:
        raw[key] = value
    else:
        raise ScenarioError(f"unknown scenario key {key!r} (known: "
                            f"{', '.join(sorted((*SCALAR_KEYS, *SERIES_KEYS)))})")


def from_dict(raw: dict) -> Scenario:
    """Validate a raw mapping (as read from TOML, or saved by ``Scenario.to_dict``)."""
    raw = {k: v for k, v in raw.items() if v is not None}
    unknown = set(raw) - set(SCALAR_KEYS) - set(SERIES_KEYS) - {"faults"}
    if unknown:
        raise ScenarioError(f"unknown scenario key {sorted(unknown)[0]!r}")
    for key in ("area_m2", "kp", "kv", "ambient_pa", "moisture", "co2_pct", "temp_c"):
        if key not in raw:
            raise ScenarioError(f"scenario key {key} is missing")
    if ("velocity_ms" in raw) == ("dp_pa" in raw):
        raise ScenarioError("scenario needs exactly one of velocity_ms and dp_pa")
    num = {k: _number(k, raw.get(k, d)) for k, d in (
        ("noise", 0.0), ("area_m2", None), ("kp", None), ("kv", None), ("ambient_pa", None),
        ("moisture", None), ("o2_pct", 6.0), ("co2_zero_error_pct", 0.0), ("co2_gain_error", 0.0))}
    seed = raw.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError(f"scenario key seed: expected an integer, got {seed!r}")
    analyser = raw.get("co2_analyser", "modbus")
    if analyser not in ANALYSERS:
        raise ScenarioError(f"scenario key co2_analyser: {analyser!r} is not one of {', '.join(ANALYSERS)}")
    wet = raw.get("co2_wet", False)
    if not isinstance(wet, bool):
        raise ScenarioError(f"scenario key co2_wet: expected true or false, got {wet!r}")
    faults = raw.get("faults", [])
    if not isinstance(faults, list):
        raise ScenarioError("scenario key faults: expected a list of fault strings")
    sc = Scenario(
        name=str(raw.get("name", "custom")), start=_start(raw.get("start", "2025-01-01T00:00:00Z")),
        seed=seed, co2_analyser=analyser, co2_wet=wet,
        co2_pct=_series("co2_pct", raw["co2_pct"]),
        velocity_ms=_series("velocity_ms", raw["velocity_ms"]) if "velocity_ms" in raw else None,
        dp_pa=_series("dp_pa", raw["dp_pa"]) if "dp_pa" in raw else None,
        temp_c=_series("temp_c", raw["temp_c"]),
        static_pa=_series("static_pa", raw.get("static_pa", 0.0)),
        faults=[f if isinstance(f, Fault) else parse_fault(str(f)) for f in faults],
        **num)
    _check(sc)
    return sc


def _check(sc: Scenario) -> None:
    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ScenarioError("scenario key " + msg)
    need(sc.area_m2 > 0, f"area_m2: must be positive, got {sc.area_m2:g}")
    need(0 < sc.kp <= 2, f"kp: must be in (0, 2], got {sc.kp:g}")
    need(0 < sc.kv <= 2, f"kv: must be in (0, 2], got {sc.kv:g}")
    need(50000 <= sc.ambient_pa <= 120000, f"ambient_pa: must be 50000..120000 Pa, got {sc.ambient_pa:g}")
    need(0 <= sc.moisture < 0.5, f"moisture: must be a fraction in [0, 0.5), got {sc.moisture:g}")
    need(0 <= sc.o2_pct <= 21, f"o2_pct: must be 0..21, got {sc.o2_pct:g}")
    need(0 <= sc.noise <= 0.5, f"noise: must be 0..0.5, got {sc.noise:g}")
    need(abs(sc.co2_zero_error_pct) <= 5, "co2_zero_error_pct: must be within ±5 %vol, got "
         f"{sc.co2_zero_error_pct:g}")
    need(abs(sc.co2_gain_error) <= 0.5, "co2_gain_error: must be within ±0.5, got "
         f"{sc.co2_gain_error:g}")
    need(0 <= sc.co2_pct.value <= 100 - sc.o2_pct, f"co2_pct: must be 0..{100 - sc.o2_pct:g}, "
                                                    f"got {sc.co2_pct.value:g}")
    need(-50 <= sc.temp_c.value <= 1000, f"temp_c: must be -50..1000, got {sc.temp_c.value:g}")
    need(abs(sc.static_pa.value) <= 20000, f"static_pa: must be within ±20000 Pa, got {sc.static_pa.value:g}")
    flow = sc.velocity_ms or sc.dp_pa
    name = "velocity_ms" if sc.velocity_ms else "dp_pa"
    need(flow.value >= 0, f"{name}: must not be negative, got {flow.value:g}")
    for key in SERIES_KEYS:
        s = getattr(sc, key)
        if s is not None:
            need(s.noise_scale >= 0, f"{key}.noise_scale: must not be negative")


def read_toml(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if is_builtin(name_or_path):
        path = BUILTIN_DIR / (name_or_path + ".toml")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ScenarioError(f"no scenario {name_or_path!r} (built in: {', '.join(builtins())})") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"scenario {path}: {e}") from None


def builtins() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def is_builtin(name_or_path: str) -> bool:
    return not Path(name_or_path).suffix and (BUILTIN_DIR / (name_or_path + ".toml")).exists()


def load(name_or_path: str = "constant", sets: list[str] = (), faults: list[str] = (),
         seed: int | None = None, defaults: dict | None = None) -> Scenario:
    """A built-in scenario or a TOML file, with ``key=value`` overrides and extra fault specs.

    ``defaults`` (scalar keys) replace a built-in scenario's values and fill in a file's
    missing keys; a file's own keys and ``sets`` win over them.
    """
    raw = read_toml(name_or_path)
    builtin = is_builtin(name_or_path)
    for key, value in (defaults or {}).items():
        if builtin or key not in raw:
            raw[key] = value
    for item in sets:
        _apply_set(raw, item)
    if seed is not None:
        raw["seed"] = seed
    raw["faults"] = list(raw.get("faults", [])) + list(faults)
    return from_dict(raw)
