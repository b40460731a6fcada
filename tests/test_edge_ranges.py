"""On 32-bit ports (ESP32, RP2040) an integer of 2**30 or more is a heap-allocated long int.

The unix port's small ints reach 2**62, so no firmware test there can see such a promotion. This
audit runs the edge's own source (firmware/cemt/fixmath.py and edge.py) under CPython with every
arithmetic result checked against the 31-bit small-int range, across the corners of the input
and configuration ranges. Construction is not audited (its per-configuration constants may use
long ints, once), nor the two functions doing arithmetic on the UTC time t, which is itself a
long int on those ports: _Period.open (once per period) and Edge.close.
"""
from __future__ import annotations

import ast
import itertools
import random
import sys
import types
from array import array
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CEMT = ROOT / "firmware" / "cemt"
SMALL = 1 << 30
UNAUDITED = {"open", "close"}          # arithmetic on t, see the module docstring
T_DAY = 1767225600
LO = (0, -1000, -2000, -10000, 60000, 0)
HI = (30000, 250000, 40000, 10000, 110000, 5000)


class Audit:
    def __init__(self):
        self.active = False
        self.seen = []                 # (function, line, value) of results outside the range

    def __call__(self, value, where):
        if self.active and type(value) is int and not -SMALL <= value < SMALL:
            self.seen.append(where + (value,))
        return value


class Checked(ast.NodeTransformer):
    """Wraps every binary operation: a op b -> _audit(a op b, (function, line))."""

    def __init__(self):
        self.func = "<module>"

    def visit_FunctionDef(self, node):
        outer, self.func = self.func, node.name
        if node.name not in UNAUDITED:
            self.generic_visit(node)
        self.func = outer
        return node

    def _wrap(self, expr, lineno):
        where = ast.Tuple([ast.Constant(self.func), ast.Constant(lineno)], ast.Load())
        return ast.Call(ast.Name("_audit", ast.Load()), [expr, where], [])

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return self._wrap(node, node.lineno)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        load = ast.parse(ast.unparse(node.target), mode="eval").body
        value = self._wrap(ast.BinOp(load, node.op, node.value), node.lineno)
        return ast.Assign([node.target], value, lineno=node.lineno)


@pytest.fixture
def edge_mod(monkeypatch):
    audit = Audit()
    micropython = types.ModuleType("micropython")
    micropython.const = lambda x: x
    monkeypatch.setitem(sys.modules, "micropython", micropython)
    pkg = types.ModuleType("cemt")
    pkg.__path__ = []
    monkeypatch.setitem(sys.modules, "cemt", pkg)
    for name, audited in (("schema", False), ("fixmath", True), ("edge", True)):
        tree = ast.parse((CEMT / (name + ".py")).read_text())
        if audited:
            tree = ast.fix_missing_locations(Checked().visit(tree))
        mod = types.ModuleType("cemt." + name)
        mod._audit = audit
        monkeypatch.setitem(sys.modules, "cemt." + name, mod)
        exec(compile(tree, str(CEMT / (name + ".py")), "exec"), mod.__dict__)
        setattr(pkg, name, mod)
    mod.audit = audit
    return mod


def run(edge_mod, cfg, vectors, period_s=1, t=T_DAY - 90, statuses=None):
    """Feed the vectors one period apart; returns the records."""
    recs = []
    e = edge_mod.Edge(cfg, lambda r: recs.append(list(r)))
    v = array("i", [0] * 6)
    ok = bytearray(6)
    edge_mod.audit.active = True
    try:
        for i, vec in enumerate(vectors):
            v[:] = array("i", vec)
            e.sample(t, 2, v, statuses[i] if statuses else ok)
            t += period_s
        e.close(t)
        e.flush()
    finally:
        edge_mod.audit.active = False
    return recs


CONFIGS = [dict(area=a, kp=kp, kv=kv, period_s=p, co2_wet=w, xsw_measured=m, o2=o2, xsw=x)
           for a, kp, kv, p, w, m, o2, x in itertools.product(
               (1, 1000000), (5000, 12000), (5000, 15000), (1, 5), (0, 1), (0, 1), (0, 2100),
               (0, 5000))]


def test_corners_stay_small(edge_mod):
    # Every channel at either end of its range, for every corner of the configuration ranges:
    # the largest velocities, densities, flows, concentrations and per-sample masses there are.
    corners = list(itertools.product(*zip(LO, HI)))
    rnd = random.Random(1)
    inner = [tuple(rnd.randint(lo, hi) for lo, hi in zip(LO, HI)) for _ in range(40)]
    for cfg in CONFIGS:
        recs = run(edge_mod, edge_mod.EdgeConfig(**cfg), corners + inner, cfg["period_s"])
        assert edge_mod.audit.seen == [], (cfg, edge_mod.audit.seen[:5])
        assert recs and any(r[7] for r in recs if r[0] == 1)   # valid samples went through


TOP = dict(area=1000000, kp=12000, kv=15000, co2_wet=True, xsw=5000, o2=0)
# the largest mass rate in range: 60 %vol dry, 2500 Pa, cold, dense (27 400 t/h)
TOP_SAMPLE = (30000, 250000, -2000, 10000, 110000, 5000)


def test_sums_of_a_big_stack_stay_small(edge_mod):
    # A quarter hour at the largest mass rate in range: minute sums and folds stay small.
    recs = run(edge_mod, edge_mod.EdgeConfig(**TOP), [TOP_SAMPLE] * 900, t=T_DAY)
    assert edge_mod.audit.seen == []
    assert [r for r in recs if r[0] == 2][0][-1] > 5 * 10**8
    # A day of a 405 t/h stack (35 m2, 22 m/s, 13 %vol, a sample every 5 s): even the day's
    # mass, 9 700 t, stays small.
    rnd = random.Random(2)
    day = [(13000 + rnd.randint(-300, 300), 26000 + rnd.randint(-900, 900), 13000, -200,
            100500, 800) for _ in range(86400 // 5)]
    recs = run(edge_mod, edge_mod.EdgeConfig(area=350000, period_s=5), day, period_s=5,
               t=T_DAY)
    assert edge_mod.audit.seen == []
    assert 9 * 10**8 < [r for r in recs if r[0] == 3][0][-1] < SMALL


def test_only_hour_and_day_masses_of_huge_stacks_grow_long(edge_mod):
    # 2**30 x 0.01 kg is 10 737 t: an hour above 10 737 t/h, or a day above 447 t/h on average,
    # holds its mass in a long int, added once a minute (hour) or once an hour (day). Nothing
    # else does, even at the corner of the ranges.
    recs = run(edge_mod, edge_mod.EdgeConfig(**TOP), [TOP_SAMPLE] * 3600, t=T_DAY)
    assert [r for r in recs if r[0] == 2][0][-1] >= SMALL
    recs = run(edge_mod, edge_mod.EdgeConfig(area=400000, period_s=5),
               [(13000, 26000, 13000, -200, 100500, 800)] * (86400 // 5), period_s=5, t=T_DAY)
    assert [r for r in recs if r[0] == 3][0][-1] >= SMALL
    assert {(f, line) for f, line, _ in edge_mod.audit.seen} == {("count", _mass_line())}


def _mass_line():
    src = (CEMT / "fixmath.py").read_text().splitlines()
    return next(i for i, line in enumerate(src, 1) if "self.mass += mass" in line)
