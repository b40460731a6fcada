"""Command protocol dispatcher: a request payload in, its response payloads out (docs/protocol.md).

``rpc = Rpc(node)`` serves every link (cemt.console on USB, cemt.rs485 on the bus). A link hands
it each good frame: ``rpc.handle(payload, remote, addr)`` decodes and authenticates the request at
once (``payload`` may be the decoder's buffer, valid during the call only) and returns a
generator of response payloads. Each is a memoryview into one buffer shared by all links, valid
until the generator is resumed; the link frames and writes it, may await between steps, and must
run the generator to its end (a reboot happens after its reply went out). A payload is always
built whole between two steps, so links that interleave at steps never see each other's bytes.
The ops themselves are in ``cemt.rpcops``. A request may end with a tag (a 32-byte CBOR byte
string) over ``"cemt-cmd" | addr | request`` under the node key; it must name the current
``nonce``, which every check replaces (docs/protocol.md, section 2.5).

``node`` is the app's object. Rpc uses exactly these members:

- ``node.key``: the device key (32 bytes), or None before provisioning. Never sent anywhere.
- ``node.info()``: a new dict with ``device``, ``site``, ``point`` (text), ``fw`` (firmware
  version text) and ``board`` (board name text); the app's node adds ``alarms``, ``safe``,
  ``boots`` and ``reset`` (docs/alarms.md).
- ``node.alarms`` (optional): a ``cemt.alarms.Alarms`` whose ``active()`` goes into ``live``, or
  None.
- ``node.files()``: iterable of ``(path, sha256 digest)`` of the deployed firmware files.
- ``node.live()``: dict channel name -> ``(value, status)``: the latest sample, an int in the
  channel's unit (docs/protocol.md), and its status, an index into ``schema.FLAGS``.
- ``node.config``: the ``cemt.config.Config``; read through ``.ver`` and ``.data``.
- ``node.configure(section, changes, source)``: apply and persist (and log as config records)
  a change; returns the new version or None if nothing changed; KeyError for an unknown
  section, ValueError for a bad setting. ``source`` is 0 (USB console) or 1 (remote), as in
  config records.
- ``node.clock``: ``now()``, ``quality``, ``set(t, tq)`` (cemt.board.clock).
- ``node.logs``: dict log name -> ``cemt.ringlog.RingLog`` (``iter_from``, ``first_seq``,
  ``last_seq``, ``acked``, ``ack``, ``stats``).
- ``node.stats()``: dict name -> int (boots, uptime, heap, ...).
- ``node.calibrate(req)``: run one calibration action ``{"channel", "action", "ref"}`` (plus
  ``"source": 1`` when it came over RS485) and return ``{"result", "reading", "before", "after",
  "ver"}`` as its calibration record has them, and ``drift``, ``limit`` for a check
  (docs/calibration.md);
  raises NotImplementedError (no provider or channel), ValueError (a request the provider
  refuses), RuntimeError or OSError (the action failed).
- ``node.provision(device, site, point, key)``: store identity and key; returns the config version.
- ``node.reboot()``: reset the board (called after the reply was handed to the link).
- ``node.maint(mode, seconds)`` (optional): start calibration (``mode`` "cal") or maintenance
  ("maint") mode for ``seconds``, or end it ("off"); returns ``{"mode", "until"}``; ValueError
  for another mode, RuntimeError when it cannot. ``node.mode_live(ok)`` (optional): adds
  ``maint`` and ``sensor`` to a ``live`` result while a mode is on (the node's ``info()`` has
  ``maint`` then too).
"""
import os

from micropython import const

from cemt import cbor, hmac, rpcops
from cemt.rpcops import AUTH_FAILED, AUTH_REQUIRED, BAD_REQUEST, FORBIDDEN, INTERNAL, MAX_ID, \
    STALE_NONCE, UNKNOWN_OP, Fail

MAX_PAYLOAD = const(1024)  # cemt.frame.MAX_PAYLOAD
_START = const(24)         # room before a part's items for its header, written last
_DOMAIN = b"cemt-cmd"      # keeps command tags apart from uplink batch tags


class Rpc:
    def __init__(self, node):
        self.node = node
        self._out = bytearray(MAX_PAYLOAD)
        self._mv = memoryview(self._out)
        self._hdr = bytearray(_START)
        self.nonce = os.urandom(8)  # for the next tagged request; replaced at each use
        self.links = {}  # link name -> object with counters(): reported by ``stats``
        self.requests = 0
        self.errors = 0
        self.auth_failures = 0
        self.ignored = 0

    def counters(self):
        return {"requests": self.requests, "errors": self.errors,
                "auth_failures": self.auth_failures, "ignored": self.ignored}

    def handle(self, payload, remote=False, addr=0):
        """Decode and check one request now; return the generator of its response payloads.

        ``remote`` is True on RS485, where state-changing ops need a tag and ``provision`` is
        refused; ``addr`` is the frame's address, which the tag covers.
        """
        rid = None
        try:
            try:
                req, end = cbor.decode_from(payload, 0)
            except ValueError as e:
                raise Fail(BAD_REQUEST, "not CBOR: %s" % e)
            if type(req) is not dict:
                raise Fail(BAD_REQUEST, "request must be a map")
            for k in req:
                # before any lookup: MicroPython hashes b"op" like "op" and warns on the compare
                if type(k) is not str:
                    raise Fail(BAD_REQUEST, "request keys must be text")
            op = req.get("op")
            if op is None:
                self.ignored += 1  # a response (ours or another node's, on the bus): not for us
                return iter(())
            self.requests += 1
            rid = req.get("id")
            if type(rid) is not int or not 0 <= rid <= MAX_ID:
                rid = None
                raise Fail(BAD_REQUEST, "id must be an integer 0-%d" % MAX_ID)
            if type(op) is not str or op not in rpcops.OPS:
                raise Fail(UNKNOWN_OP, "unknown op %r" % (op,))
            if remote and op == "provision":
                raise Fail(FORBIDDEN, "provision is refused on RS485")
            tail = len(payload) - end
            if tail:
                # the tag: a CBOR byte string of 32 bytes after the request map
                if tail != 34 or payload[end] != 0x58 or payload[end + 1] != 32:
                    raise Fail(BAD_REQUEST, "trailing bytes after the request")
                self._check(req, payload, end, addr)
            elif remote and op in rpcops.SIGNED:
                raise Fail(AUTH_REQUIRED, "%s needs a tag on RS485" % op)
            return self._run(rid, op, req, remote)
        except Fail as f:
            return self._fail(rid, f)

    def _check(self, req, payload, end, addr):
        key = self.node.key
        nonce = self.nonce
        self.nonce = os.urandom(8)  # single use, whatever the outcome
        self.auth_failures += 1  # taken back below once every check passed
        if not key:
            raise Fail(AUTH_FAILED, "no key provisioned")
        h = hmac.new(key, _DOMAIN)
        h.update(bytes((addr,)))
        h.update(payload[:end])
        if not hmac.compare_digest(h.digest(), payload[end + 2:]):
            raise Fail(AUTH_FAILED, "bad tag")
        got = req.get("nonce")
        if type(got) is not bytes or not hmac.compare_digest(got, nonce):
            raise Fail(STALE_NONCE, "nonce is not current")
        self.auth_failures -= 1

    def _run(self, rid, op, req, remote):
        try:
            ok = getattr(rpcops, op.replace(".", "_"))(self, rid, req, remote)
            if type(ok) is not dict:
                ok = yield from ok  # an op with parts: a generator that returns its result
        except Fail as f:
            yield from self._fail(rid, f)
            return
        except Exception as e:  # a provider's bug costs one error reply, not the link
            yield from self._fail(rid, Fail(INTERNAL, "%s: %s" % (type(e).__name__, e)))
            return
        yield self._reply(rid, {"ok": ok})
        if op == "reboot":
            self.node.reboot()

    def _reply(self, rid, obj):
        if rid is not None:
            obj["id"] = rid
        return self._mv[:cbor.encode_into(self._out, 0, obj)]

    def _fail(self, rid, f):
        self.errors += 1
        yield self._reply(rid, {"err": f.args[0], "msg": f.args[1]})

    def part(self, rid, name, values):
        """A part payload ``{"id", "name", "values"}``."""
        return self._reply(rid, {"name": name, "values": values})

    def items(self, rid, key, items, most=MAX_ID):
        """Yield parts ``{"id", key: [item, ...]}`` packed full; return (count, last item).

        Each item is encoded straight into the buffer (a record list reused by its iterator
        included), so a long stream allocates per part, not per item.
        """
        key = cbor.dumps(key)
        out = self._out
        pos = _START
        n = total = 0
        item = None
        for item in items:
            if pos + cbor.size(item) > MAX_PAYLOAD:
                yield self._close(rid, key, n, pos)
                pos = _START
                n = 0
            pos = cbor.encode_into(out, pos, item)
            n += 1
            total += 1
            if total >= most:
                break
        if n:
            yield self._close(rid, key, n, pos)
        return total, item

    def _close(self, rid, key, n, end):
        # The header {"id": rid, key: [n...]} goes right before the items, now that n is known.
        h = self._hdr
        h[0:4] = b"\xa2\x62id"
        p = cbor.put_int(h, 4, rid)
        h[p:p + len(key)] = key
        p = cbor.put_head(h, p + len(key), cbor.ARRAY, n)
        out = self._out
        s = _START - p
        for i in range(p):
            out[s + i] = h[i]
        return self._mv[s:end]
