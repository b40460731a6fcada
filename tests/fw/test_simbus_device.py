"""The device side of the sim bus bridge, without a host: CRC, chip-select edges, bus-free paths."""
from cemt.board import simbus


def test_crc16_ccitt_false_check_value():
    assert simbus.crc16(b"123456789", 9) == 0x29B1
    assert simbus.crc16(b"123456789xyz", 9) == 0x29B1      # only the first n bytes count
    assert simbus.crc16(b"", 0) == 0xFFFF


def test_pin_counts_falling_edges_only():
    p = simbus.Pin(5)
    assert p.value() == 1 and p.falls == 0
    p(0)
    p(0)
    p.off()
    p.on()
    p.value(0)
    p(1)
    assert p.falls == 2 and p.value() == 1


def test_spi_with_nobody_selected_reads_the_pull_up_without_the_bus():
    spi = simbus.SPI(None)       # no pty: nothing may be sent
    cs = simbus.Pin(3)
    spi.attach(cs)
    buf = bytearray(b"\x00\x00\x00")
    spi.write_readinto(b"\x01\x02\x03", buf)
    assert buf == b"\xff\xff\xff"
    assert spi.read(2) == b"\xff\xff"


def test_oversized_transfers_are_refused_before_sending():
    i2c = simbus.I2C(None)
    try:
        i2c.writeto(0x25, bytes(300))
    except ValueError:
        pass
    else:
        raise AssertionError("a 300-byte write fits no frame")
    spi = simbus.SPI(None)
    cs = simbus.Pin(1, value=0)
    spi.attach(cs)
    try:
        spi.write(bytes(253))
    except ValueError:
        pass
    else:
        raise AssertionError("a 253-byte transfer fits no frame")
