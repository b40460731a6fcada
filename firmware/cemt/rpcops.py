"""The ops of the command protocol (docs/protocol.md), one function each, and their errors.

``cemt.rpc`` decodes and authenticates a request, then calls ``rpcops.<op>(rpc, rid, req,
remote)`` (dots in the op name become underscores). An op returns its result map, or is a
generator that yields part payloads (through ``rpc.part`` / ``rpc.items``) and returns it. It
refuses a request by raising ``Fail(code, message)``. The node members used are listed in
``cemt.rpc``.
"""
from micropython import const

PROTO = const(1)

# Error codes (docs/protocol.md, "Errors").
BAD_REQUEST = const(1)
UNKNOWN_OP = const(2)
AUTH_REQUIRED = const(3)
AUTH_FAILED = const(4)
STALE_NONCE = const(5)
FORBIDDEN = const(6)
INVALID = const(7)
NOT_FOUND = const(8)
UNSUPPORTED = const(9)
FAILED = const(10)
INTERNAL = const(11)

MAX_RECORDS = const(1024)  # default and ceiling of one ``records`` request
MAX_ID = const(0xFFFFFFFF)
_T_MAX = 253402300799      # cemt.records.T_MAX: 9999-12-31T23:59:59Z

OPS = ("info", "live", "time.get", "time.set", "config.get", "config.set", "records", "ack",
       "stats", "calibrate", "provision", "reboot", "nonce", "maint")
# Ops that change state: over RS485 they need a tag over the current nonce.
SIGNED = ("config.set", "time.set", "calibrate", "reboot", "ack", "provision", "maint")
MAINT_S = const(1800)  # default length of a calibration or maintenance mode


class Fail(Exception):
    """A request refused: ``Fail(code, message)``."""


def arg(req, key, lo, hi, default=None):
    """The integer argument ``key`` of ``req``, checked to lie in lo..hi."""
    v = req.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise Fail(BAD_REQUEST, "%s must be an integer %d-%d" % (key, lo, hi))
    return v


def _text(req, key):
    v = req.get(key)
    if type(v) is not str or not 0 < len(v) <= 64:
        raise Fail(BAD_REQUEST, "%s must be text of 1-64 characters" % key)
    return v


def _section(data, name):
    if type(name) is not str or type(data.get(name)) is not dict:
        raise Fail(NOT_FOUND, "no config section %r" % (name,))


def _public(k):
    # Secrets (the device key, any *_key) are never read or written through config ops.
    return k != "key" and not k.endswith("_key")


def _log(rpc, req):
    name = req.get("log")
    log = rpc.node.logs.get(name) if type(name) is str else None
    if log is None:
        raise Fail(NOT_FOUND, "no log %r" % (name,))
    return log


def info(rpc, rid, req, remote):
    node = rpc.node
    n = 0
    if req.get("files") is True:
        n, _ = yield from rpc.items(rid, "files", ([p, d] for p, d in node.files()))
    ok = node.info()
    ok["cfg"] = node.config.ver
    ok["proto"] = PROTO
    ok["files"] = n
    return ok


def live(rpc, rid, req, remote):
    ok = time_get(rpc, rid, req, remote)
    ok["ch"] = rpc.node.live()
    # The raised warnings, as in ``info``; none from a node in safe mode or without cemt.alarms.
    alarms = getattr(rpc.node, "alarms", None)
    ok["alarms"] = alarms.active() if alarms is not None else []
    mode = getattr(rpc.node, "mode_live", None)  # a calibration or maintenance mode on
    if mode:
        mode(ok)
    return ok


def time_get(rpc, rid, req, remote):
    return {"t": rpc.node.clock.now(), "tq": rpc.node.clock.quality}


def time_set(rpc, rid, req, remote):
    clock = rpc.node.clock
    t = arg(req, "t", 0, _T_MAX)
    tq = arg(req, "tq", 1, 2, 1)
    was = clock.now()
    clock.set(t, tq)
    return {"t": clock.now(), "tq": clock.quality, "was": was}


def config_get(rpc, rid, req, remote):
    data = rpc.node.config.data
    want = req.get("section")
    if want is not None:
        _section(data, want)
    for name in sorted(data):
        sect = data[name]
        if type(sect) is dict and want in (None, name):
            sect = {k: v for k, v in sect.items() if _public(k)}
            yield rpc.part(rid, name, sect)
    return {"ver": rpc.node.config.ver}


def config_set(rpc, rid, req, remote):
    node = rpc.node
    changes = req.get("changes")
    _section(node.config.data, req.get("section"))
    if type(changes) is not dict or not changes:
        raise Fail(BAD_REQUEST, "changes must be a non-empty map")
    for k in changes:
        if type(k) is not str or not _public(k):
            raise Fail(INVALID, "setting %r cannot be set here" % (k,))
    try:
        ver = node.configure(req["section"], changes, 1 if remote else 0)
    except ValueError as e:
        raise Fail(INVALID, str(e))
    return {"ver": node.config.ver, "changed": ver is not None}


def records(rpc, rid, req, remote):
    log = _log(rpc, req)
    nxt = max(arg(req, "from", 0, MAX_ID), log.first_seq)
    most = arg(req, "max", 1, MAX_RECORDS, MAX_RECORDS)
    n = 0
    if nxt <= log.last_seq:
        n, rec = yield from rpc.items(rid, "recs", log.iter_from(nxt), most)
        if n:
            nxt = rec[1] + 1
    return {"next": nxt, "sent": n, "first": log.first_seq, "last": log.last_seq,
            "acked": log.acked, "nonce": rpc.nonce}


def ack(rpc, rid, req, remote):
    log = _log(rpc, req)
    log.ack(arg(req, "seq", 0, log.last_seq))
    return {"acked": log.acked}


def stats(rpc, rid, req, remote):
    node = rpc.node
    yield rpc.part(rid, "rpc", rpc.counters())
    for name in sorted(rpc.links):
        yield rpc.part(rid, "link." + name, rpc.links[name].counters())
    for name in sorted(node.logs):
        yield rpc.part(rid, "log." + name, node.logs[name].stats())
    yield rpc.part(rid, "node", node.stats())
    return {"proto": PROTO}


def calibrate(rpc, rid, req, remote):
    cal = {"channel": arg(req, "channel", 1, 6), "action": arg(req, "action", 1, 4),
           "ref": arg(req, "ref", -0x80000000, 0x7FFFFFFF)}
    if remote:
        cal["source"] = 1  # logged in the config records; the console's 0 is the default
    try:
        return rpc.node.calibrate(cal)
    except NotImplementedError as e:  # before RuntimeError: it is one
        raise Fail(UNSUPPORTED, str(e) or "no calibration for this channel")
    except ValueError as e:
        raise Fail(INVALID, str(e))
    except (RuntimeError, OSError) as e:
        raise Fail(FAILED, str(e) or "calibration failed")


def provision(rpc, rid, req, remote):
    key = req.get("key")
    if type(key) is not bytes or len(key) != 32:
        raise Fail(BAD_REQUEST, "key must be 32 bytes")
    dev = _text(req, "device")
    ver = rpc.node.provision(dev, _text(req, "site"), _text(req, "point"), key)
    return {"device": dev, "ver": ver}


def maint(rpc, rid, req, remote):
    node = rpc.node
    if not hasattr(node, "maint"):
        raise Fail(UNSUPPORTED, "this node has no maintenance mode")
    try:
        return node.maint(req.get("mode"), arg(req, "s", 1, 86400, MAINT_S))
    except ValueError as e:
        raise Fail(BAD_REQUEST, str(e))
    except RuntimeError as e:
        raise Fail(FAILED, str(e))


def reboot(rpc, rid, req, remote):
    return {}  # cemt.rpc reboots once this reply is out


def nonce(rpc, rid, req, remote):
    return {"nonce": rpc.nonce}
