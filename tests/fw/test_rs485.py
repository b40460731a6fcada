"""cemt.rs485: address filtering, broadcast without reply, DE only while sending, turnaround."""
import time

import asyncio
from cemt import frame
from cemt.rs485 import Slave, turnaround_ms

from rpc_bus import UART, Pin, StubRpc

ADDR = 3


def _bus(baud=9600, parts=1, size=8):
    rpc = StubRpc(parts, size)
    de = Pin()
    uart = UART(de)
    return rpc, uart, de, Slave(rpc, uart, de, ADDR, baud)


def _serve(slave, uart, chunks, wait_ms=40):
    """Run the slave while ``chunks`` arrive on the bus, until it is quiet; the frames it sent."""
    async def main():
        task = asyncio.create_task(slave.run())
        for chunk in chunks:
            uart.rx.extend(chunk)
            await asyncio.sleep_ms(wait_ms)
        quiet = 0
        for _ in range(200):  # a loaded machine may need longer for a long stream
            n = len(uart.frames)
            await asyncio.sleep_ms(10)
            quiet = quiet + 1 if n == len(uart.frames) and not uart.rx else 0
            if quiet == 5:
                break
        task.cancel()
        await asyncio.sleep_ms(0)  # let it end, or the loop keeps it (and the heap it holds)
    asyncio.new_event_loop()
    asyncio.run(main())
    return uart.frames


def test_turnaround_is_three_and_a_half_characters():
    assert turnaround_ms(9600) == 5     # 3.5 * 11 bits / 9600 = 4.01 ms
    assert turnaround_ms(19200) == 3
    assert turnaround_ms(38400) == 2
    assert turnaround_ms(115200) == 1
    assert turnaround_ms(1200) == 33


def test_answers_its_own_address_only_and_says_it_is_remote():
    rpc, uart, de, slave = _bus()
    got = _serve(slave, uart, [frame.encode(ADDR + 1, b"other"), b"\x00garbage\x00\x01\x02",
                               frame.encode(0, b"usb"), frame.encode(ADDR, b"mine")])
    assert rpc.calls == [(b"mine", True, ADDR)]
    assert got == [(ADDR, b"mine#0:x")]
    c = slave.counters()
    assert c["frames"] == 1 and c["foreign"] == 2 and c["replies"] == 1
    assert c["malformed"] + c["short"] + c["crc_errors"] >= 1
    assert rpc.links["rs485"] is slave


def test_frames_split_anywhere_are_found():
    rpc, uart, de, slave = _bus()
    wire = frame.encode(ADDR, b"\x00\x03" * 300)
    chunks = [wire[i:i + 7] for i in range(0, len(wire), 7)]
    got = _serve(slave, uart, chunks, wait_ms=1)
    assert rpc.calls == [(b"\x00\x03" * 300, True, ADDR)] and len(got) == 1


def test_de_is_high_only_while_a_frame_goes_out():
    rpc, uart, de, slave = _bus(parts=6, size=1000)
    assert de.level == 0
    got = _serve(slave, uart, [frame.encode(ADDR, b"stream")])
    assert len(got) == 6 and all(len(p) == 1000 for _, p in got)
    assert uart.levels == [1] * 6
    assert uart.drain_levels == [1] * 18  # polled until done, DE still high
    assert de.changes == [0] + [1, 0] * 6 and de.level == 0
    assert rpc.done == 1


def test_replies_after_the_turnaround_delay():
    rpc, uart, de, slave = _bus(baud=1200)  # 33 ms: measurable
    times = []
    uart_write = uart.write

    def write(data):
        times.append(time.ticks_ms())
        return uart_write(data)
    uart.write = write

    async def main():
        task = asyncio.create_task(slave.run())
        await asyncio.sleep_ms(10)
        uart.rx.extend(frame.encode(ADDR, b"now"))
        t0 = time.ticks_ms()
        await asyncio.sleep_ms(150)
        task.cancel()
        await asyncio.sleep_ms(0)
        return t0
    asyncio.new_event_loop()
    t0 = asyncio.run(main())
    assert len(times) == 1 and time.ticks_diff(times[0], t0) >= 33


def test_broadcast_is_executed_without_a_reply():
    rpc, uart, de, slave = _bus(parts=3)
    got = _serve(slave, uart, [frame.encode(255, b"all"), frame.encode(255, b"again")])
    assert rpc.calls == [(b"all", True, 255), (b"again", True, 255)]
    assert rpc.done == 2  # run to the end: a state change happens even without a reply
    assert got == [] and uart.levels == [] and de.changes == [0] and slave.broadcasts == 2


def test_requests_beyond_the_queue_are_dropped_and_counted():
    rpc, uart, de, slave = _bus()
    burst = frame.encode(ADDR, b"a") + frame.encode(ADDR, b"b") + frame.encode(ADDR, b"c")
    got = _serve(slave, uart, [burst])
    assert [p for _, p in got] == [b"a#0:xxxx", b"b#0:xxxx"]
    assert slave.dropped == 1


def test_rejects_addresses_outside_the_bus_range():
    for addr in (0, 248, 255):
        try:
            Slave(StubRpc(), UART(Pin()), Pin(), addr)
        except ValueError:
            continue
        raise AssertionError(addr)
