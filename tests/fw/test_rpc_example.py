"""The worked example of docs/protocol.md section 2.11, byte for byte, on the device side."""
from cemt.rpc import Rpc

from rpc_fake import FakeNode


def test_the_worked_example_of_the_protocol_doc():
    # docs/protocol.md, "Worked example": an ack to node 3 signed with key 00 01 .. 1f.
    node = FakeNode(minutes=150, key=bytes(range(32)))
    r = Rpc(node)
    r.nonce = bytes.fromhex("0011223344556677")
    body = bytes.fromhex("a562696407626f706361636b636c6f67666d696e75746563736571187865"
                         "6e6f6e6365480011223344556677")
    tag = bytes.fromhex("6f32eb9bdcb92d3c2481a7a5ae5b38c842cf1ed740290c2ea6a169754518cec0")
    out = [bytes(mv) for mv in r.handle(body + b"\x58\x20" + tag, True, 3)]
    assert out == [bytes.fromhex("a26269640762" "6f6ba16561636b6564" "1878")]
    assert node.logs["minute"].acked == 120
