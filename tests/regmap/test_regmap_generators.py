"""The text generators: the C header compiles (host gcc and the RV32 toolchain) and agrees with
the Python driver's names and values; the standalone Python module; the Markdown document; the
CLI that writes them."""

import importlib.util
import re
import subprocess
import sys

import pytest

from flows.regmaps import c_header, markdown, python_module
from flows.regmaps.catalog import ROOT
from hw.regmap import constants
from hw.regmap.demo import DEMO, DemoOp, demo_map
from sim.tb.regs import RegisterDriver

MAPS = {"demo2": DEMO, "demo1": demo_map(n_contexts=1), "demo4": demo_map(n_contexts=4, counter_width=16)}


def _header_defines(text):
    return dict(re.findall(r"^#define\s+(\w+)\s+(.+)$", text, re.M))


@pytest.mark.parametrize("key", list(MAPS))
def test_header_defines_exactly_the_driver_constants(key):
    rm = MAPS[key]
    defines = _header_defines(c_header(rm))
    guard = f"{rm.prefix}_REGS_H"
    assert defines.pop(guard) is not None
    drv = RegisterDriver(None, rm)
    assert set(defines) == set(drv.consts) == set(vars(drv.const))


def _c_program(rm, samples):
    """A C program printing every constant and the field helpers' results on sample values."""
    lp = rm.name.lower()
    lines = [f'#include "{rm.name}.h"', "#include <stdio.h>", "int main(void) {"]
    for name in constants(rm):
        lines.append(f'  printf("{name} %lld\\n", (long long)({name}));')
    for r in rm.registers:
        for f in r.fields:
            fn = f"{lp}_{r.name.lower()}_{f.name.lower()}"
            for i, (reg, val) in enumerate(samples):
                lines.append(f'  printf("get {r.name}.{f.name} {i} %lu\\n", (unsigned long){fn}_get({reg}u));')
                lines.append(f'  printf("set {r.name}.{f.name} {i} %lu\\n", '
                             f'(unsigned long){fn}_set({reg}u, {val}u));')
    lines += ["  return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("key", list(MAPS))
def test_header_compiles_and_values_match(key, tmp_path):
    rm = MAPS[key]
    (tmp_path / f"{rm.name}.h").write_text(c_header(rm))
    samples = [(0, 0xFFFF_FFFF), (0xFFFF_FFFF, 0), (0xDEAD_BEEF, 0x1234_5678), (0x1357_9BDF, 5)]
    (tmp_path / "main.c").write_text(_c_program(rm, samples))
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion",
                    "-o", str(exe), str(tmp_path / "main.c")], check=True, capture_output=True,
                   text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines()
    got = {}
    for line in out:
        key_, value = line.rsplit(" ", 1)
        got[key_] = int(value)
    for name, value in constants(rm).items():
        assert got[name] == value, name
    for r in rm.registers:
        for f in r.fields:
            for i, (reg, val) in enumerate(samples):
                assert got[f"get {r.name}.{f.name} {i}"] == (reg & f.mask) >> f.offset
                assert got[f"set {r.name}.{f.name} {i}"] == (reg & ~f.mask) | ((val << f.offset) & f.mask)
                # ... which is what the description's encode gives for an in-range value.
                v = val & ((1 << f.width) - 1)
                assert (reg & ~f.mask) | (v << f.offset) == ((reg & ~f.mask) | (r.encode(**{f.name: v}) & f.mask))


def test_header_cross_compiles_for_rv32(tmp_path):
    (tmp_path / "demo.h").write_text(c_header(DEMO))
    (tmp_path / "use.c").write_text("""
#include "demo.h"
int32_t run(uintptr_t base, uint32_t in, uint32_t out) {
    int32_t job;
    do { job = demo_acquire(base); } while (job < 0);
    demo_write_in_addr(base, in);
    demo_write_out_addr(base, out);
    demo_write_command(base, demo_command_op_set(DEMO_COMMAND_RESET, DEMO_COMMAND_OP_SCALE));
    demo_trigger(base);
    while (demo_status(base) & DEMO_STATUS_BUSY_MASK) {}
    if (demo_error_cause_get(demo_error(base)) == DEMO_ERR_BAD_ADDR) return -3;
    return (int32_t)demo_read_job_cycles(base);
}
""")
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "riscv32-freestanding-none",
                    "-mcpu=generic_rv32", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                    "-O2", "-c", "-o", str(tmp_path / "use.o"), str(tmp_path / "use.c")],
                   check=True, capture_output=True, text=True)


def test_header_contents():
    h = c_header(DEMO)
    d = _header_defines(h)
    assert d["DEMO_TRIGGER_OFFSET"] == "0x0u" and d["DEMO_IN_ADDR_OFFSET"] == "0x40u"
    assert d["DEMO_COMMAND_OP_EXP"] == "0x5u" and d["DEMO_COMMAND_SCALE_SHIFT"] == "16"
    assert d["DEMO_ERR_BAD_OP"] == "0x7u" and d["DEMO_ACQUIRE_LOCKED"] == "(-2)"
    for fn in ("demo_acquire", "demo_trigger", "demo_soft_clear", "demo_status", "demo_running_job",
               "demo_write_in_addr", "demo_read_in_addr", "demo_read_stall_cycles",
               "demo_command_op_get", "demo_command_op_set"):
        assert re.search(rf"static inline \w+ {fn}\(", h), fn
    # No accessor that would read ACQUIRE by accident, none that writes a read-only register.
    assert "demo_read_acquire" not in h and "demo_write_status" not in h


def _load_module(text, tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("key", list(MAPS))
def test_python_module(key, tmp_path):
    rm = MAPS[key]
    mod = _load_module(python_module(rm), tmp_path, f"{key}_regs")
    for name, value in constants(rm).items():
        assert getattr(mod, name) == value, name
    assert mod.OFFSETS == {r.name: r.offset for r in rm.registers}
    cmd = rm["COMMAND"]
    assert mod.encode("COMMAND", OP="RELU", SCALE=7) == cmd.encode(OP=DemoOp.RELU, SCALE=7)
    assert mod.decode("COMMAND", 0xABCD_0035) == cmd.decode(0xABCD_0035)
    assert mod.ERRORS == {"BAD_ADDR": 1, "BAD_LENGTH": 2, "BAD_OP": 7}
    assert mod.to_signed(0xFFFF_FFFE) == mod.DEMO_ACQUIRE_LOCKED
    with pytest.raises(ValueError):
        mod.encode("LENGTH", ELEMS=1 << 20)


def test_markdown_lists_everything():
    md = markdown(DEMO)
    rows = re.findall(r"^\| (0x[0-9A-F]{2}) \| (\w+) \| (\w+) \| (0x[0-9A-F]{8}) \|", md, re.M)
    assert [(int(o, 16), n, a, int(v, 16)) for o, n, a, v in rows] == [
        (r.offset, r.name, r.access, r.reset) for r in DEMO.registers]
    for r in DEMO.registers:
        for f in r.fields:
            bits = f"{f.msb}" if f.width == 1 else f"{f.msb}:{f.offset}"
            assert re.search(rf"^\| {bits} \| {f.name} \| {f.reset:#x} \| ", md, re.M), (r.name, f.name)
            for k, v in (f.enum or {}).items():
                assert f"{k} = {v}" in md
    for e in DEMO.error_causes:
        assert f"| {e.code} | {e.name} | {e.doc} |" in md
    for c in DEMO.counters:
        assert f"`counters.{c.name}`" in md
    for word in ("ACQUIRE", "-2", "SOFT_CLEAR", "sticky", "saturate", "ring order", "copy"):
        assert word in md
    assert "2 contexts" in md


def test_regmaps_cli(tmp_path, capsys):
    from flows.regmaps import cluster
    from scripts import regmaps
    pages = tmp_path / "pages"
    pages.mkdir()
    page = (ROOT / "docs" / "cluster.md").read_text()
    (pages / "cluster.md").write_text(page.replace("| 0x00 | CORE_ID | ro |", "| 0x00 | CORE_ID | rw |"))
    args = ["--docs", str(tmp_path / "docs"), "--include", str(tmp_path / "inc"), "--pages", str(pages)]
    assert regmaps.main(["--check"] + args) == 1
    assert regmaps.main(args) == 0
    assert (tmp_path / "docs" / "demo.md").read_text() == markdown(DEMO)
    assert (tmp_path / "inc" / "demo.h").read_text() == c_header(DEMO)
    assert (tmp_path / "inc" / "demo_regs.py").read_text() == python_module(DEMO)
    assert (tmp_path / "inc" / "cluster_regs.h").read_text() == cluster.cluster_header()
    assert (tmp_path / "inc" / "system.h").read_text() == cluster.system_header()
    assert (tmp_path / "inc" / "cluster_regs.py").read_text() == cluster.python_module()
    assert (tmp_path / "docs" / "cluster.md").read_text() == cluster.markdown()
    assert (pages / "cluster.md").read_text() == page
    assert regmaps.main(["--check"] + args) == 0
    assert regmaps.main(["hw.regmap.demo:demo_map"] + args) == 0   # a factory works too
    for bad in ("hw.regmap.demo:DemoOp", "hw.regmap.demo"):
        with pytest.raises(SystemExit):
            regmaps.main([bad] + args)


def test_cluster_python_module_and_markdown(tmp_path):
    """The cluster's registers get the same three outputs: the Python module has the names and
    values of both headers, the page every register, field and slot."""
    from flows.regmaps import cluster
    from hw.cluster.regs import ADDRESS_MAP, CLUSTER_REGISTERS
    from hw.cluster.system import ACCELERATORS
    mod = _load_module(cluster.python_module(), tmp_path, "cluster_regs")
    text = cluster.cluster_header() + cluster.system_header()
    defines = dict(re.findall(r"^#define[ \t]+(\w+)[ \t]+(.+)$", text, re.M))
    consts = {**cluster.cluster_constants(), **cluster.system_constants()}
    assert set(defines) == set(consts)
    for name, value in consts.items():
        assert getattr(mod, name) == value, name
        text = defines[name]
        if not text.startswith("("):                     # SYS_<ACC>_EVENT_MASK: an expression
            assert int(text.rstrip("u"), 0) == value, name
    assert mod.OFFSETS == {r.name: r.offset for r in CLUSTER_REGISTERS}
    assert mod.decode("BUS_ERROR", mod.encode("BUS_ERROR", VALID=1, MASTER=3)) == {
        "VALID": 1, "WRITE": 0, "OVERFLOW": 0, "MASTER": 3}
    assert mod.ACCELERATORS["tensor"]["base"] == ADDRESS_MAP["ACCEL_BASE"] + ADDRESS_MAP["ACCEL_STRIDE"]
    md = cluster.markdown()
    rows = re.findall(r"^\| (0x[0-9A-F]{2}) \| (\w+) \| (\w+) \| ", md, re.M)
    assert [(int(o, 16), n, a) for o, n, a in rows] == [
        (r.offset, r.name, r.access) for r in CLUSTER_REGISTERS]
    for f in CLUSTER_REGISTERS[-2].fields:
        assert f"| {f.name} | " in md
    for a in ACCELERATORS:
        assert f"| {a.name} | {a.slot} | " in md
