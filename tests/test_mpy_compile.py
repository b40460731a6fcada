"""Every firmware file compiles with mpy-cross to bytecode and for both board architectures."""
import pytest

import fwtest


@pytest.mark.parametrize("arch", [None, *fwtest.ARCHS], ids=lambda a: a or "bytecode")
def test_firmware_compiles(arch, tmp_path):
    out = fwtest.compile_firmware(arch, tmp_path / "mpy")
    built = sorted(p.relative_to(out).with_suffix(".py") for p in out.rglob("*.mpy"))
    sources = sorted(p.relative_to(fwtest.FIRMWARE) for p in fwtest.firmware_sources())
    assert built == sources and sources
