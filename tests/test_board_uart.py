"""The unix board's UART over a real pseudo-terminal, exercised from MicroPython."""
import os
import pty
import threading

import fwtest

SCRIPT = """
import sys
from cemt.board import port
u = port().uart(sys.argv[1], 9600)
u.write(b"ping\\n")
got = bytearray()
for _ in range(50):
    chunk = u.read(64, timeout=200)
    if chunk:
        got += chunk
    if got.endswith(b"\\n"):
        break
print("GOT", bytes(got))
print("NONE", u.read(8, timeout=50))
"""


def test_uart_round_trip_over_pty(tmp_path):
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    script = tmp_path / "uart.py"
    script.write_text(SCRIPT)

    def peer():
        data = b""
        while not data.endswith(b"ping\n"):
            data += os.read(master, 64)
        os.write(master, b"po")
        os.write(master, b"ng\x00\xff\n")  # binary bytes must pass untouched (raw mode)

    t = threading.Thread(target=peer, daemon=True)
    t.start()
    proc = fwtest.run_micropython([str(script), path], timeout=20)
    t.join(5)
    os.close(master)
    os.close(slave)
    assert proc.returncode == 0, proc.stderr
    assert "GOT b'pong\\x00\\xff\\n'" in proc.stdout
    assert "NONE None" in proc.stdout
