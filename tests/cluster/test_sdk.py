"""The firmware SDK: the ELF32 loader on built programs and on malformed files, the build
helper's cache and its errors, the generated cluster header (compiles in C and assembly)."""

import re
import struct

import pytest

from flows.regmaps import cluster_header as c_header
from flows.regmaps.cluster import cluster_constants, system_constants, system_header
from hw.cluster import CLUSTER_REGISTERS
from flows.firmware import FIRMWARE, FirmwareBuildError, build
from flows.elf import ElfError, load_elf

HELLO = FIRMWARE / "tests" / "hello.c"


def test_elf_segments_of_hello():
    elf = build([HELLO])
    image = load_elf(elf)
    assert image.machine == 243 and image.entry == image.symbols["_start"] == 0
    # Code at 0 in the instruction memory; .data runs in the scratchpad, loads from the IMEM.
    data = [s for s in image.segments if s.vaddr >= 0x1000_0000]
    assert data and all(s.paddr < 0x1000_0000 for s in data)
    assert image.symbols["__data_load"] == data[0].paddr
    words = image.words(0, 8192)
    raw = elf.with_suffix(".bin").read_bytes()
    # The flat binary from objcopy is the instruction memory image.
    for addr, w in words.items():
        chunk = raw[addr:addr + 4].ljust(4, b"\0")
        assert w == struct.unpack("<I", chunk)[0], hex(addr)
    with pytest.raises(ElfError, match="outside the memories"):
        image.check_fits({"imem": (0, 64)})
    with pytest.raises(ElfError, match="crosses the memory"):
        image.words(0, 16)


def test_elf_rejects_malformed():
    with pytest.raises(ElfError, match="not an ELF"):
        load_elf(b"hello" * 20)
    good = bytearray(build([HELLO]).read_bytes())
    bad = bytearray(good)
    bad[4] = 2
    with pytest.raises(ElfError, match="32-bit"):
        load_elf(bytes(bad))
    bad = bytearray(good)
    bad[5] = 2
    with pytest.raises(ElfError, match="little endian"):
        load_elf(bytes(bad))
    with pytest.raises(ElfError, match="truncated"):
        load_elf(bytes(good[:200]))


def test_array_sections_preload_bss_noinit(tmp_path):
    """c_array_source places initialised arrays in .spm_data (preload: loaded by the testbench,
    no IMEM copy), count arrays in .bss (cleared by crt0) or, when named in ``noinit``, in
    .spm_noinit (neither loaded nor cleared)."""
    import numpy as np
    arrays = {"x_in": np.arange(64, dtype=np.uint16), "zeroed": 32, "scratch": 4096}
    main = tmp_path / "use.c"
    main.write_text("#include <stdint.h>\nextern uint16_t x_in[], zeroed[], scratch[];\n"
                    "int main(void) { scratch[1] = zeroed[2]; return x_in[3] + scratch[1]; }\n")
    image = load_elf(build([main, _data_file(arrays)]))
    sym = image.symbols
    assert sym["__bss_start"] <= sym["zeroed"] < sym["__bss_end"]
    assert not sym["__bss_start"] <= sym["scratch"] < sym["__bss_end"]
    assert sym["scratch"] >= sym["x_in"] + 128          # after .spm_data, in the scratchpad
    loaded = image.words(0x1000_0000, 1 << 20)
    assert sym["x_in"] in loaded and loaded[sym["x_in"] + 4] == 0x0003_0002
    assert not any(sym["scratch"] <= a < sym["scratch"] + 8192 for a in loaded)
    with pytest.raises(ValueError, match="noinit names arrays given as counts"):
        _data_file(arrays, noinit=("x_in",))


def _data_file(arrays, noinit=("scratch",)):
    from sim.offload import c_array_source
    return c_array_source(arrays, preload=True, noinit=noinit)


def test_build_is_cached_and_reports_errors(tmp_path):
    a = build([HELLO])
    assert build([HELLO]) == a                     # same inputs: same folder, no rebuild
    assert build([HELLO], defines={"UNUSED": 1}) != a
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undefined_symbol; }\n")
    with pytest.raises(FirmwareBuildError, match="undefined_symbol"):
        build([bad])
    with pytest.raises(FileNotFoundError):
        build([tmp_path / "missing.c"])


def test_cluster_header_matches_register_offsets():
    text = c_header()
    for r in CLUSTER_REGISTERS:
        found = re.search(rf"#define CLUSTER_{r.name}_OFFSET +(0x[0-9A-F]+)\n", text)
        assert found and int(found.group(1), 16) == r.offset, r.name
    offsets = [r.offset for r in CLUSTER_REGISTERS]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0


def test_cluster_headers_define_what_the_firmware_uses():
    """cluster_regs.h and system.h define exactly the generated names, and every CLUSTER_* /
    SYS_* name the SDK and the programs under firmware/ use is one of them."""
    text = c_header() + system_header()
    defines = set(re.findall(r"^#define[ \t]+(\w+)[ \t]+\S", text, re.M))
    assert defines == set(cluster_constants()) | set(system_constants())
    used = set()
    for p in FIRMWARE.rglob("*"):
        if p.suffix in (".c", ".h", ".S"):
            used |= set(re.findall(r"\b(?:CLUSTER|SYS)_[A-Z0-9_]+\b", p.read_text()))
    used -= {"CLUSTER_REGS_H"}
    assert used and used <= defines, sorted(used - defines)


def test_softex_softmax_mismatches_finds_a_flipped_bit():
    """The row check the system test and bench_cluster share: the golden rows pass, one flipped
    bit is reported with its row and column, and the lane offsets follow the row addresses."""
    import numpy as np
    from sim.golden.softmax import lane_offset, softmax_row
    from sim.offload import softex_softmax_mismatches, softmax_inputs
    rows, n, base, lanes = 3, 37, 0x1002, 4
    x = softmax_inputs(rows, n, seed=4)
    got = np.stack([softmax_row(x[i], lanes=lanes, offset=lane_offset(base + 2 * n * i, lanes))
                    for i in range(rows)])
    assert softex_softmax_mismatches(x, got, base, lanes) == ({}, {1, 2, 3})
    got[1, 5] ^= 1
    assert softex_softmax_mismatches(x, got, base, lanes)[0] == {1: [5]}
