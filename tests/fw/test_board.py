"""The unix board seam: virtual clock, in-process I2C/SPI buses, block device, watchdog."""
from cemt.board import port
from cemt.board.clock import TQ_HOST, TQ_UNSYNCED, VirtualClock

board = port()


def test_port_is_unix_here():
    assert board.__name__.endswith("unix")


def test_virtual_clock_moves_only_when_told():
    clock = VirtualClock(1700000000)
    assert clock.now() == 1700000000 and clock.quality == TQ_UNSYNCED
    t0 = clock.ticks_ms()
    clock.sleep_ms(1500)
    assert clock.now() == 1700000001
    assert clock.ticks_diff(clock.ticks_ms(), t0) == 1500
    clock.advance(500)
    assert clock.now() == 1700000002


def test_virtual_clock_set_keeps_subsecond_and_marks_quality():
    clock = VirtualClock(1000)
    clock.sleep_ms(250)
    clock.set(2000, TQ_HOST)
    assert clock.now() == 2000 and clock.quality == TQ_HOST
    assert clock.ticks_ms() % 1000 == 250


def test_virtual_clock_async_sleep_advances():
    import asyncio
    clock = VirtualClock(0)

    async def run():
        for _ in range(3):
            await clock.asleep_ms(1000)

    asyncio.run(run())
    assert clock.now() == 3


def test_scaled_clock_runs_faster_than_real_time():
    import time
    clock = VirtualClock(0, speed=1000)
    t0 = time.ticks_ms()
    clock.sleep_ms(2000)  # two simulated seconds cost about 2 ms
    assert clock.now() >= 2
    assert time.ticks_diff(time.ticks_ms(), t0) < 500


class Echo:
    def __init__(self):
        self.last = b""

    def write(self, data):
        self.last = data

    def read(self, n):
        return (self.last * n)[:n]


def test_i2c_routes_to_models_and_naks_missing_devices():
    bus = board.i2c()
    bus.attach(0x21, Echo())
    assert bus.scan() == [0x21]
    bus.writeto(0x21, b"\xab")
    assert bus.readfrom(0x21, 3) == b"\xab\xab\xab"
    assert bus.readfrom_mem(0x21, 0x10, 2) == b"\x10\x10"
    try:
        bus.readfrom(0x50, 1)
    except OSError as e:
        assert e.args[0] == 19
    else:
        raise AssertionError("missing device must NAK")


class Inverter:
    def transfer(self, data):
        return bytes(b ^ 0xFF for b in data)


def test_spi_answers_only_when_selected():
    bus = board.spi()
    cs = board.pin("cs", value=1)
    bus.attach(cs, Inverter())
    into = bytearray(2)
    bus.write_readinto(b"\x0f\xf0", into)
    assert into == b"\xff\xff"  # not selected: the bus floats high
    cs.value(0)
    bus.write_readinto(b"\x0f\xf0", into)
    assert into == b"\xf0\x0f"


def test_file_block_device_protocol(tmp="/tmp/cemt_test_board.img"):
    import os
    try:
        os.remove(tmp)
    except OSError:
        pass
    dev = board.flash(tmp, block_size=512, blocks=4, nor=False)
    assert dev.ioctl(4, 0) == 4 and dev.ioctl(5, 0) == 512
    buf = bytearray(512)
    dev.readblocks(2, buf)
    assert buf == b"\xff" * 512
    dev.writeblocks(2, b"abc", 10)
    dev.readblocks(2, buf)
    assert buf[10:13] == b"abc" and buf[9] == 0xFF
    dev.ioctl(6, 2)
    dev.readblocks(2, buf)
    assert buf == b"\xff" * 512
    os.remove(tmp)


def test_board_flash_obeys_nor_rules_by_default(tmp="/tmp/cemt_test_board_nor.img"):
    import os
    for p in (tmp, tmp + ".erases"):
        try:
            os.remove(p)
        except OSError:
            pass
    dev = board.flash(tmp, block_size=512, blocks=2)
    dev.writeblocks(0, b"\x0f", 0)
    try:
        dev.writeblocks(0, b"\xf0", 0)  # would set bits that are 0: needs an erase first
    except OSError:
        pass
    else:
        raise AssertionError("NOR flash must refuse to set bits without an erase")
    for p in (tmp, tmp + ".erases"):
        os.remove(p)


def test_watchdog_expires_on_virtual_time():
    clock = VirtualClock(0)
    wdt = board.watchdog(clock, 5000)
    clock.sleep_ms(4000)
    wdt.feed()
    clock.sleep_ms(4000)
    assert not wdt.expired()
    clock.sleep_ms(2000)
    assert wdt.expired() and wdt.feeds == 1
