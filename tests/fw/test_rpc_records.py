"""cemt.rpc ``records``: streamed in parts packed up to the frame limit, bounded, resumable."""
from rpc_client import call, err, ok
from rpc_fake import FakeNode
from cemt import cbor, rpcops as E
from cemt.rpc import MAX_PAYLOAD, Rpc


def _fetch(r, name, start, most=None, rid=5):
    """((first seq, seq after the last), end marker, part sizes) of one ``records`` request.

    Every record must equal the log's, and their seqs must follow each other.
    """
    req = {"id": rid, "op": "records", "log": name, "from": start}
    if most is not None:
        req["max"] = most
    log = r.node.logs[name]
    first = nxt = None
    sizes = []
    end = None
    for mv in r.handle(cbor.dumps(req), False, 0):
        assert end is None and len(mv) <= MAX_PAYLOAD
        sizes.append(len(mv))
        part = cbor.loads(mv)
        assert part["id"] == rid
        if "ok" in part:
            end = part["ok"]
            continue
        assert sorted(part) == ["id", "recs"]
        for rec in part["recs"]:
            assert rec == log.record(rec[1])
            assert nxt is None or rec[1] == nxt
            first = rec[1] if first is None else first
            nxt = rec[1] + 1
    return (first, nxt), end, sizes[:-1]


def test_a_long_log_streams_in_full_parts_every_record_once_in_order():
    node = FakeNode(minutes=300, hours=40)
    r = Rpc(node)
    seqs, end, sizes = _fetch(r, "minute", 1, 1000)
    assert seqs == (1, 301)
    assert len(sizes) >= 10 and max(sizes) <= MAX_PAYLOAD
    assert min(sizes[:-1]) > MAX_PAYLOAD - 40  # each part but the last is full
    assert end["next"] == 301 and end["sent"] == 300
    assert end["first"] == 1 and end["last"] == 300 and end["acked"] == 0
    assert type(end["nonce"]) is bytes and len(end["nonce"]) == 8
    seqs, end, _ = _fetch(r, "long", 1)
    assert seqs == (1, 41) and end["next"] == 41


def test_max_bounds_a_request_and_next_resumes_it():
    node = FakeNode(minutes=120)
    r = Rpc(node)
    seen = 0
    start = 1
    while True:
        seqs, end, _ = _fetch(r, "minute", start, 50)
        if seqs[0] is None:
            assert end["sent"] == 0
            break
        n = seqs[1] - seqs[0]
        assert seqs[0] == start and n <= 50 and end["sent"] == n
        seen += n
        start = end["next"]
    assert seen == 120 and start == 121


def test_from_past_the_end_or_before_the_oldest():
    node = FakeNode(minutes=30)
    r = Rpc(node)
    seqs, end, _ = _fetch(r, "minute", 31)
    assert seqs == (None, None) and end["next"] == 31 and end["sent"] == 0
    seqs, end, _ = _fetch(r, "minute", 500)
    assert seqs == (None, None) and end["next"] == 500
    node.logs["minute"].drop_oldest(10)
    seqs, end, _ = _fetch(r, "minute", 0)
    assert seqs == (11, 31) and end["first"] == 11 and end["next"] == 31
    empty = Rpc(FakeNode())
    seqs, end, _ = _fetch(empty, "long", 1)
    assert seqs == (None, None) and end["next"] == 1 and end["last"] == 0


def test_bad_records_requests():
    r = Rpc(FakeNode(minutes=3))
    for req, code in (({"log": "nope", "from": 1}, E.NOT_FOUND), ({"from": 1}, E.NOT_FOUND),
                      ({"log": "minute"}, E.BAD_REQUEST),
                      ({"log": "minute", "from": -1}, E.BAD_REQUEST),
                      ({"log": "minute", "from": 1, "max": 0}, E.BAD_REQUEST),
                      ({"log": "minute", "from": 1, "max": E.MAX_RECORDS + 1}, E.BAD_REQUEST)):
        req.update({"id": 1, "op": "records"})
        assert err(call(r, req)) == code, req


def test_ack_over_usb_moves_the_cursor_within_the_log():
    node = FakeNode(minutes=10)
    r = Rpc(node)
    assert ok(call(r, {"id": 1, "op": "ack", "log": "minute", "seq": 7})) == {"acked": 7}
    assert node.logs["minute"].acked == 7
    assert err(call(r, {"id": 2, "op": "ack", "log": "minute", "seq": 11})) == E.BAD_REQUEST
    assert node.logs["minute"].acked == 7


def test_streaming_allocates_per_part_not_per_record():
    import gc
    node = FakeNode(minutes=400)
    r = Rpc(node)
    payload = cbor.dumps({"id": 1, "op": "records", "log": "minute", "from": 1, "max": 400})
    used = []
    for n in (1, 400):
        node.logs["minute"].last_seq = n
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        parts = 0
        for _ in r.handle(payload, False, 0):
            parts += 1
        used.append((gc.mem_alloc() - before, parts))
        gc.enable()
    (one, _), (many, parts) = used
    assert parts > 10 and many - one < 64 * parts, used
