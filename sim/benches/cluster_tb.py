"""cocotb testbench of the cluster (driven by tests/cluster/test_cluster_verilator.py).

Loads an ELF (instruction memory image and preloaded scratchpad data) through the ``loader``
port while the cores are held in reset (every loaded word read back), raises ``fetch_enable`` and runs until the exit code, collecting the mailbox bytes.
The simulation runs freely between mailbox events (no Python per cycle); a watchdog ends a run
that has not exited after ``max_cycles`` cycles and reports the output so far and the cycle
counter. Writes ``result.json``: exit code, output, cycles, wall-clock seconds, load cycles, and
the memory named by the ``dump`` parameter ({symbol: bytes}, read back after the exit, hex).
"""

import json
import time

import cocotb
from cocotb.triggers import First, ReadOnly, RisingEdge, Timer

from sim.tb.clock import has_signal, reset, start_clock
from sim.tb.params import load_params
from sim.system import LoadImage



async def _loader_access(dut, addr, we, data=0, max_wait=1000):
    dut.loader__req.value = 1
    dut.loader__addr.value = addr
    dut.loader__we.value = we
    dut.loader__be.value = 0xF
    dut.loader__wdata.value = data
    for _ in range(max_wait):
        await ReadOnly()
        granted = int(dut.loader__gnt.value)
        await RisingEdge(dut.clk)
        if granted:
            break
    else:
        raise AssertionError(f"loader: no grant for {addr:#x}")
    dut.loader__req.value = 0
    if not we:
        await ReadOnly()
        assert int(dut.loader__rvalid.value), f"loader: no rvalid after the read of {addr:#x}"
        value = int(dut.loader__rdata.value)
        await RisingEdge(dut.clk)
        return value
    return None


@cocotb.test()
async def run_elf(dut):
    p = load_params()
    loaded = LoadImage(p["elf"], p["imem_size"], p["spm_size"])
    image = loaded.image
    words = dict(zip(loaded.addrs.tolist(), loaded.words.tolist()))

    dut.fetch_enable.value = 0
    if has_signal(dut, "events"):                            # a cluster with event lines
        dut.events.value = 0
    dut.loader__req.value = 0
    start_clock(dut)
    await reset(dut)
    await RisingEdge(dut.clk)
    t0 = time.perf_counter()
    for addr, w in words.items():
        await _loader_access(dut, addr, 1, w)
    for addr, w in words.items():
        got = await _loader_access(dut, addr, 0)
        assert got == w, f"loader read back {got:#x} at {addr:#x}, wrote {w:#x}"
    load_cycles = 2 * len(words)

    dut.fetch_enable.value = 1
    out = bytearray()
    max_cycles = p.get("max_cycles", 1_000_000)
    period_ns = 10
    deadline = max_cycles * period_ns
    t_start = cocotb.utils.get_sim_time("ns")
    t1 = time.perf_counter()
    exited = False
    while True:
        now = cocotb.utils.get_sim_time("ns") - t_start
        if now >= deadline:
            break
        await First(RisingEdge(dut.putc_valid), RisingEdge(dut.exit_valid),
                           Timer(deadline - now, "ns"))
        await ReadOnly()
        # putc_valid may stay high for several cycles (cores writing back to back): take one
        # byte per cycle while it is high.
        while int(dut.putc_valid.value) and not int(dut.exit_valid.value):
            out.append(int(dut.putc_data.value))
            await RisingEdge(dut.clk)
            await ReadOnly()
        if int(dut.exit_valid.value):
            if int(dut.putc_valid.value):
                out.append(int(dut.putc_data.value))
            exited = True
            break
        await RisingEdge(dut.clk)
    seconds = time.perf_counter() - t1
    cycles = int(dut.cycles.value)
    # Memory read back after the run (``dump``: {symbol: bytes}), through the loader port.
    dump = {}
    if exited and p.get("dump"):
        await RisingEdge(dut.clk)          # leave the ReadOnly phase of the exit cycle
        for sym, nbytes in p.get("dump", {}).items():
            if sym not in image.symbols:
                raise AssertionError(f"dump: no symbol {sym!r} in {p['elf']}")
            base = image.symbols[sym]
            data = bytearray()
            for a in range(base & ~3, base + nbytes, 4):
                data += (await _loader_access(dut, a, 0)).to_bytes(4, "little")
            off = base & 3
            dump[sym] = bytes(data[off:off + nbytes]).hex()
    result = dict(exit_code=int(dut.exit_code.value) if exited else None,
                  output=out.decode(errors="replace"), cycles=cycles, seconds=seconds,
                  load_cycles=load_cycles, load_seconds=t1 - t0, dump=dump)
    with open("result.json", "w") as f:
        json.dump(result, f)
    if not exited:
        where = []
        for c in range(p.get("cores", 1)):
            try:
                pc = 4 * int(getattr(dut, f"core{c}").datapath.pc_mod.dat_r.value)
                where.append(f"core {c} at {image.describe(pc)}")
            except AttributeError:
                where.append(f"core {c} at ? (PC not visible)")
        raise AssertionError(f"watchdog: no exit after {max_cycles} cycles (cycle counter "
                             f"{cycles}); output so far: {out.decode(errors='replace')!r}; "
                             + ", ".join(where))
