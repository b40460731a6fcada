"""``cemtool.ports`` and ``cemtool ports``: classification, choosing a port, the UF2 drive, the CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from serial.tools.list_ports_common import ListPortInfo

from cemtool import ports
from cemtool.cli import main
from cemtool.link import PortError


def fake_port(device, vid=None, pid=None, manufacturer=None, description="n/a", serial_number=None,
              product=None) -> ListPortInfo:
    p = ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.manufacturer, p.product = vid, pid, manufacturer, product
    p.description, p.serial_number = description, serial_number
    return p


@pytest.fixture
def comports(monkeypatch):
    """Replace what pyserial finds with the given ``ListPortInfo`` entries."""
    def install(*entries):
        monkeypatch.setattr(ports._pyserial_ports, "comports", lambda: list(entries))
    return install


@pytest.mark.parametrize("vid, pid, manufacturer, kind", [
    (0x2E8A, 0x0005, "MicroPython", ports.MICROPYTHON_RP2040),
    (0x2E8A, 0x0003, "Raspberry Pi", ports.RP2040_BOOT),
    (0x303A, 0x1001, "Espressif", ports.ESPRESSIF_USB),
    (0x303A, 0x4001, None, ports.ESPRESSIF_USB),
    (0x10C4, 0xEA60, "Silicon Labs", ports.CP210X),
    (0x1A86, 0x7523, None, ports.CH340),
    (0x1A86, 0x55D4, None, ports.CH340),
    (0x0403, 0x6001, "FTDI", ports.FTDI),
    (0x0403, 0x6015, "FTDI", ports.FTDI),
    (0x239A, 0x80F4, "MicroPython", ports.MICROPYTHON),   # a board maker's VID, MicroPython inside
    (0x239A, 0x80F4, "Adafruit", ports.UNKNOWN),
    (0x2E8A, 0x000A, "Raspberry Pi", ports.UNKNOWN),      # a Pico SDK program's USB serial
    (0x10C4, 0xEA70, None, ports.UNKNOWN),                # same VID, another product
    (0x0403, 0x6010, None, ports.UNKNOWN),
    (None, None, None, ports.UNKNOWN),                    # a built-in UART
])
def test_classify(vid, pid, manufacturer, kind):
    assert ports.classify(vid, pid, manufacturer) == kind


def test_every_kind_has_a_label():
    kinds = {ports.classify(v, p, m) for v, p, m in [
        (0x2E8A, 5, None), (0x2E8A, 3, None), (0x303A, 1, None), (0x10C4, 0xEA60, None),
        (0x1A86, 0x7523, None), (0x0403, 0x6001, None), (1, 1, "MicroPython"), (1, 1, None)]}
    assert kinds == set(ports.KIND_LABELS)


def test_list_ports_sorted_and_classified(comports):
    comports(fake_port("/dev/ttyUSB0", 0x1A86, 0x7523, description="USB Serial", serial_number="x1"),
             fake_port("/dev/ttyACM0", 0x2E8A, 0x0005, "MicroPython", "Board in FS mode",
                       "E6614C", "Board in FS mode"),
             fake_port("/dev/ttyS0"))
    found = ports.list_ports()
    assert [p.device for p in found] == ["/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyUSB0"]
    acm = found[0]
    assert (acm.kind, acm.usb_id, acm.serial_number, acm.manufacturer, acm.product) == (
        ports.MICROPYTHON_RP2040, "2E8A:0005", "E6614C", "MicroPython", "Board in FS mode")
    assert found[1].kind == ports.UNKNOWN and found[1].usb_id == "-"
    assert found[2].kind == ports.CH340 and found[2].description == "USB Serial"


def test_choose_the_only_board_among_other_ports(comports):
    comports(fake_port("/dev/ttyS0"), fake_port("/dev/ttyACM0", 0x303A, 0x1001),
             fake_port("/dev/ttyUSB3", 0x1234, 0x5678))
    assert ports.choose(None) == "/dev/ttyACM0"


def test_choose_refuses_to_guess_between_boards(comports):
    comports(fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60), fake_port("/dev/ttyACM0", 0x2E8A, 0x0005))
    with pytest.raises(PortError) as e:
        ports.choose(None)
    assert str(e.value) == "several boards: /dev/ttyACM0, /dev/ttyUSB0 — pick one with --port"


def test_choose_with_no_board(comports):
    comports(fake_port("/dev/ttyS0"), fake_port("/dev/ttyUSB3", 0x1234, 0x5678))
    with pytest.raises(PortError, match="^no board found — plug one in or give --port$"):
        ports.choose(None)
    comports()
    with pytest.raises(PortError, match="^no board found"):
        ports.choose(None)


def test_choose_explicit_port(comports, tmp_path):
    comports(fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60), fake_port("/dev/ttyACM0", 0x2E8A, 0x0005))
    assert ports.choose("/dev/ttyUSB0") == "/dev/ttyUSB0"    # given: no ambiguity
    assert ports.choose("COM7", [ports.port_info(fake_port("COM7"))]) == "COM7"
    pty = tmp_path / "usb"                                     # e.g. the simulator board's pty
    pty.touch()
    assert ports.choose(str(pty)) == str(pty)
    assert ports.choose("socket://localhost:7000") == "socket://localhost:7000"
    missing = str(tmp_path / "ttyACM9")
    with pytest.raises(PortError) as e:
        ports.choose(missing)
    assert str(e.value) == f"no such port: {missing}"


def test_choose_uses_the_given_list_not_pyserial(comports):
    comports(fake_port("/dev/ttyACM0", 0x2E8A, 0x0005), fake_port("/dev/ttyACM1", 0x2E8A, 0x0005))
    only = [ports.port_info(fake_port("/dev/ttyUSB1", 0x0403, 0x6015))]
    assert ports.choose(None, only) == "/dev/ttyUSB1"
    with pytest.raises(PortError, match="no board found"):
        ports.choose(None, [])


def _volume(root, name, marker=True):
    vol = root / name
    vol.mkdir(parents=True)
    if marker:
        (vol / ports.UF2_MARKER).write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\n")
    return vol


def test_find_uf2_drive(tmp_path):
    media = tmp_path / "media"
    _volume(media, "alice/USBSTICK", marker=False)
    rpi = _volume(media, "alice/RPI-RP2")
    _volume(tmp_path / "Volumes", "Backup", marker=False)
    (tmp_path / "Volumes" / "Backup" / ports.UF2_MARKER).mkdir()   # a directory is not the marker
    patterns = [str(media / "*" / "*"), str(tmp_path / "run/media/*/*"), str(tmp_path / "Volumes/*")]
    assert ports.find_uf2_drive(patterns) == rpi


def test_find_uf2_drive_none_or_several(tmp_path):
    patterns = [str(tmp_path / "media/*/*"), str(tmp_path / "Volumes/*")]
    with pytest.raises(PortError, match="^no RP2040 bootloader drive found"):
        ports.find_uf2_drive(patterns)
    a = _volume(tmp_path / "media", "bob/RPI-RP2")
    b = _volume(tmp_path / "Volumes", "RPI-RP2")
    with pytest.raises(PortError) as e:
        ports.find_uf2_drive(patterns)
    assert str(e.value) == (f"several RP2040 bootloader drives: {min(a, b)}, {max(a, b)} — "
                            "unplug all but one")


def test_cli_table(comports):
    comports(fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60, description="CP2102 USB to UART"),
             fake_port("/dev/ttyACM0", 0x2E8A, 0x0005, description="Board in FS mode"),
             fake_port("/dev/ttyS0"))
    result = CliRunner().invoke(main, ["ports"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["device", "VID:PID", "kind", "description"]
    assert lines[1].split(None, 2) == ["/dev/ttyACM0", "2E8A:0005", "MicroPython on RP2040  "
                                       "Board in FS mode"]
    assert lines[2].split() == ["/dev/ttyS0", "-", "unknown", "n/a"]
    assert lines[3].startswith("/dev/ttyUSB0  10C4:EA60  CP210x USB-UART")
    assert lines[3].endswith("  CP2102 USB to UART")
    assert len(lines) == 4
    # Columns line up: every row's kind starts where the header's does.
    col = lines[0].index("kind")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in lines)


def test_cli_json(comports):
    comports(fake_port("/dev/ttyACM0", 0x303A, 0x1001, "Espressif", "USB JTAG/serial debug unit",
                       "F4:12:FA", "USB JTAG/serial debug unit"))
    result = CliRunner().invoke(main, ["ports", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{
        "device": "/dev/ttyACM0", "vid": 0x303A, "pid": 0x1001, "serial_number": "F4:12:FA",
        "manufacturer": "Espressif", "product": "USB JTAG/serial debug unit",
        "description": "USB JTAG/serial debug unit", "kind": "espressif-usb"}]


def test_cli_no_ports(comports):
    comports()
    result = CliRunner().invoke(main, ["ports"])
    assert (result.exit_code, result.output) == (0, "no serial ports found\n")
    result = CliRunner().invoke(main, ["ports", "--json"])
    assert (result.exit_code, json.loads(result.output)) == (0, [])
