"""cemtool flash-runtime: image checks, the ESP32 path through a stand-in for esptool's calls, the
RP2040 path with a temporary folder as the bootloader drive (the hardware steps need a real board:
docs/flashing.md)."""
from __future__ import annotations

import json
import struct
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cemtool import runtime
from cemtool.cli import main
from cemtool.ports import PortInfo

RP2040 = 0xE48BFF56


def esp_image(path: Path, size: int = 4096) -> Path:
    path.write_bytes(bytes([0xE9]) + bytes(i % 251 for i in range(size - 1)))
    return path


def uf2(path: Path, family: int = RP2040, blocks: int = 4) -> Path:
    out = bytearray()
    for i in range(blocks):
        head = struct.pack("<IIIIIIII", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * i, 256,
                           i, blocks, family)
        out += head + bytes([i]) * 256 + bytes(476 - 256) + struct.pack("<I", 0x0AB16F30)
    path.write_bytes(bytes(out))
    return path


class FakeEsptool:
    """Records the calls flash-runtime makes; ``chip_name`` is what detection finds."""

    def __init__(self, chip_name: str = "ESP32", fail_on: str | None = None) -> None:
        self.chip_name = chip_name
        self.fail_on = fail_on
        self.calls: list[tuple] = []

    def _call(self, *what) -> None:
        self.calls.append(what)
        print(f"esptool says: {what[0]}")  # esptool's own progress output
        if what[0] == self.fail_on:
            from esptool.util import FatalError
            raise FatalError("Failed to connect to ESP32: No serial data received.\nFor "
                             "troubleshooting steps visit: https://docs.espressif.com")

    def connect(self, port, chip):
        self._call("connect", port, chip)
        return object()

    def chip(self, esp):
        return runtime.chip_key(self.chip_name)

    def erase(self, esp):
        self._call("erase")

    def write(self, esp, offset, path):
        self._call("write", offset, Path(path).read_bytes()[:1])

    def reset(self, esp):
        self._call("reset")

    def close(self, esp):
        self.calls.append(("close",))


# -- images ---------------------------------------------------------------------------------------

def test_kinds_are_checked_against_the_contents(tmp_path):
    assert runtime.kind_of(esp_image(tmp_path / "fw.bin")) == "bin"
    assert runtime.kind_of(uf2(tmp_path / "fw.uf2")) == "uf2"
    assert runtime.kind_of(uf2(tmp_path / "rp2350.uf2", family=0xE48BFF59)) == "uf2"
    (tmp_path / "zero.bin").write_bytes(b"\x00" * 64)
    (tmp_path / "text.uf2").write_bytes(b"hello" * 20)
    (tmp_path / "fw.hex").write_bytes(b":00000001FF")
    for name, words in (("zero.bin", "not an ESP32 firmware image"), ("text.uf2", "not a UF2"),
                        ("fw.hex", "not a runtime image")):
        with pytest.raises(runtime.RuntimeFlashError, match=words):
            runtime.kind_of(tmp_path / name)
    with pytest.raises(runtime.RuntimeFlashError, match="another chip family"):
        runtime.kind_of(uf2(tmp_path / "samd.uf2", family=0x68ED2B88))
    with pytest.raises(runtime.RuntimeFlashError, match="cannot read"):
        runtime.kind_of(tmp_path / "missing.bin")


def test_offsets_agree_with_esptool_chip_definitions():
    from esptool.targets import CHIP_DEFS
    for chip, offset in runtime.OFFSETS.items():
        assert CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET == offset, chip
        assert runtime.chip_key(CHIP_DEFS[chip].CHIP_NAME) == chip
    assert runtime.OFFSETS["esp32"] == runtime.OFFSETS["esp32s2"] == 0x1000
    assert runtime.OFFSETS["esp32s3"] == runtime.OFFSETS["esp32c3"] == runtime.OFFSETS["esp32c6"] == 0


# -- ESP32 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("chip_name,offset", [("ESP32", 0x1000), ("ESP32-S2", 0x1000),
                                              ("ESP32-S3", 0x0), ("ESP32-C3", 0x0),
                                              ("ESP32-C6", 0x0)])
def test_bin_goes_to_the_detected_chips_offset(tmp_path, capsys, chip_name, offset):
    fake = FakeEsptool(chip_name)
    res = runtime.flash_bin(esp_image(tmp_path / "fw.bin"), "/dev/ttyUSB0", tool=fake)
    assert fake.calls == [("connect", "/dev/ttyUSB0", "auto"), ("write", offset, b"\xe9"),
                          ("reset",), ("close",)]
    assert res == {"kind": "bin", "port": "/dev/ttyUSB0", "chip": runtime.chip_key(chip_name),
                   "offset": offset, "bytes": 4096, "erased": False}
    out = capsys.readouterr()
    assert out.out == "" and "esptool says: write" in out.err  # its output goes to stderr


def test_erase_comes_before_the_write_and_a_chip_can_be_named(tmp_path):
    fake = FakeEsptool("ESP32-S3")
    res = runtime.flash_bin(esp_image(tmp_path / "fw.bin"), "/dev/ttyACM0", chip="esp32s3",
                            erase=True, tool=fake)
    assert [c[0] for c in fake.calls] == ["connect", "erase", "write", "reset", "close"]
    assert fake.calls[0] == ("connect", "/dev/ttyACM0", "esp32s3") and res["erased"] is True


def test_esptool_failures_and_unknown_chips_are_one_line(tmp_path):
    image = esp_image(tmp_path / "fw.bin")
    with pytest.raises(runtime.RuntimeFlashError) as e:
        runtime.flash_bin(image, "/dev/ttyUSB0", tool=FakeEsptool(fail_on="connect"))
    assert str(e.value).startswith("esptool: Failed to connect") and "\n" not in str(e.value)
    fake = FakeEsptool("ESP8266")
    with pytest.raises(runtime.RuntimeFlashError, match="esp8266: no MicroPython image offset"):
        runtime.flash_bin(image, "/dev/ttyUSB0", tool=fake)
    assert not [c for c in fake.calls if c[0] == "write"] and fake.calls[-1] == ("close",)
    with pytest.raises(runtime.RuntimeFlashError, match="unknown chip 'esp99'"):
        runtime.flash_bin(image, "/dev/ttyUSB0", chip="esp99", tool=FakeEsptool())


def test_cli_bin_prints_one_json_object(tmp_path, monkeypatch):
    fake = FakeEsptool("ESP32-C3")
    monkeypatch.setattr(runtime, "Esptool", lambda: fake)
    port = tmp_path / "ttyUSB9"
    port.touch()
    res = CliRunner().invoke(main, ["flash-runtime", str(esp_image(tmp_path / "fw.bin")),
                                    "--port", str(port), "--erase", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"kind": "bin", "port": str(port), "chip": "esp32c3",
                                      "offset": 0, "bytes": 4096, "erased": True}
    assert "esptool says: erase" in res.stderr


def test_cli_refuses_bad_files_and_options_in_one_line(tmp_path):
    runner = CliRunner()
    (tmp_path / "fw.txt").write_text("x")
    for args, words in (([str(tmp_path / "fw.txt")], "not a runtime image"),
                        ([str(uf2(tmp_path / "fw.uf2")), "--erase"], "--erase and --chip are for"),
                        ([str(esp_image(tmp_path / "fw.bin")), "--port", str(tmp_path / "nope")],
                         "no such port")):
        res = runner.invoke(main, ["flash-runtime", *args])
        assert res.exit_code == 1, res.output
        assert res.stderr.startswith("error: ") and words in res.stderr
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    res = runner.invoke(main, ["flash-runtime", str(tmp_path / "missing.uf2")])
    assert res.exit_code == 1 and "cannot read" in res.stderr


# -- RP2040 ---------------------------------------------------------------------------------------

class Bootloader:
    """A temporary folder that acts as the RP2040's drive: it takes one .uf2 and goes away."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.drive = root / "RPI-RP2"
        self.got: bytes | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def mount(self) -> None:
        self.drive.mkdir()
        (self.drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\n")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            for f in self.drive.glob("*.uf2"):
                data = f.read_bytes()
                # whole: the last block says how many blocks there are (UF2 header word 6)
                if data and len(data) % 512 == 0 and \
                        struct.unpack_from("<I", data, len(data) - 512 + 24)[0] == len(data) // 512:
                    self.got = data
                    (self.drive / "INFO_UF2.TXT").unlink()  # the chip restarts: unmounted
                    return
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop = True


def test_uf2_to_a_mounted_drive(tmp_path):
    boot = Bootloader(tmp_path)
    boot.mount()
    image = uf2(tmp_path / "rp2.uf2")
    called = []
    res = runtime.flash_uf2(image, patterns=[str(tmp_path / "*")], timeout=5,
                            enter_bootloader=called.append, poll=0.02)
    boot.stop()
    assert boot.got == image.read_bytes() and not called
    assert res == {"kind": "uf2", "drive": str(boot.drive), "rebooted": None,
                   "bytes": len(image.read_bytes())}


def test_uf2_reboots_a_running_board_into_the_bootloader(tmp_path):
    boot = Bootloader(tmp_path)
    image = uf2(tmp_path / "rp2.uf2")
    called, log = [], []

    def enter(port):
        called.append(port)
        threading.Timer(0.3, boot.mount).start()  # the drive shows up a moment later
    found = [PortInfo("/dev/ttyACM0", 0x2E8A, 0x0005, None, "MicroPython", "Board in FS mode",
                      None, "micropython-rp2040"),
             PortInfo("/dev/ttyUSB0", 0x10C4, 0xEA60, None, None, None, None, "cp210x")]
    res = runtime.flash_uf2(image, patterns=[str(tmp_path / "*")], timeout=5,
                            enter_bootloader=enter, find_port=lambda p: runtime.rp2040_port(p, found),
                            log=log.append, poll=0.02)
    boot.stop()
    assert called == ["/dev/ttyACM0"] and boot.got == image.read_bytes()
    assert res["rebooted"] == "/dev/ttyACM0" and res["drive"] == str(boot.drive)
    assert log[0] == "rebooting the RP2040 on /dev/ttyACM0 into its bootloader"


def test_uf2_failures_are_one_line(tmp_path):
    image = uf2(tmp_path / "rp2.uf2")
    drives = [str(tmp_path / "*")]
    with pytest.raises(runtime.RuntimeFlashError, match="no RP2040 bootloader drive and no "
                                                        "MicroPython RP2040 found"):
        runtime.flash_uf2(image, patterns=drives, find_port=lambda p: runtime.rp2040_port(p, []))
    with pytest.raises(runtime.RuntimeFlashError, match="did not appear within 0.3 s"):
        runtime.flash_uf2(image, "/dev/ttyACM0", patterns=drives, timeout=0.3, poll=0.05,
                          enter_bootloader=lambda p: None)
    for name in ("A", "B"):  # two drives: never a guess
        (tmp_path / name).mkdir()
        (tmp_path / name / "INFO_UF2.TXT").write_text("x")
    with pytest.raises(runtime.RuntimeFlashError, match="several RP2040 bootloader drives"):
        runtime.flash_uf2(image, patterns=drives)
    (tmp_path / "B" / "INFO_UF2.TXT").unlink()
    with pytest.raises(runtime.RuntimeFlashError, match="still mounted 0.2 s after the copy"):
        runtime.flash_uf2(image, patterns=drives, timeout=0.2, poll=0.05)
    assert (tmp_path / "A" / "rp2.uf2").read_bytes() == image.read_bytes()
