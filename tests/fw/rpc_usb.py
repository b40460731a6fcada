"""The device end of tests/test_rpc_usb.py: ``cemt.console`` on stdin/stdout with a fake node.

Run as ``micropython -i rpc_usb.py [MINUTES]``: a Ctrl-C break ends the app and ``-i`` leaves
the REPL on the port, as a board's main.py does.
"""
import sys

import asyncio
from cemt.console import Console
from cemt.rpc import Rpc

from rpc_fake import FakeNode

node = FakeNode("usb", minutes=int(sys.argv[1]) if len(sys.argv) > 1 else 0, hours=5)
try:
    asyncio.run(Console(Rpc(node)).run())
finally:
    node.cleanup()
