"""Thousands of random power cuts during appends, erases, seals and cursor updates, each followed
by a reboot and recovery checks (ringlog_faults)."""
import gc

# Compile the firmware leaf first with a collection after each module: on a 64K heap the
# garbage of one compile otherwise fragments the memory the next one needs.
for _m in ("cemt.schema", "cemt.packdelta", "cemt.pack", "cemt.ringarea", "cemt.ringwalk",
           "cemt.ringsect", "cemt.ringlog", "cemt.board.norflash"):
    __import__(_m)
    gc.collect()

from cemt.board.norflash import ram  # noqa: E402
from ringlog_util import remove, scratch  # noqa: E402
from ringlog_faults import run  # noqa: E402


def test_2000_cuts_on_ram_flash():
    got = run(2000, 2024, ram(8, 512), 8, 512)
    # every kind of operation was cut many times, and the ring wrapped and dropped records
    assert got["append"] > 500 and got["ack"] > 50 and got["maintain"] > 100, got
    assert got["dropped"] > 1000 and got["records"] > 20000, got


def test_cuts_on_file_flash_of_4k_blocks():
    path = scratch("faults")
    try:
        got = run(120, 7, path, 6, 4096, full_every=4, span=9000)
    finally:
        remove(path)
    assert got["append"] > 30 and got["maintain"] > 5 and got["records"] > 5000, got
