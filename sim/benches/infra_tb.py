"""cocotb tests of the testbench library itself (driven by tests/test_tb_infra.py).

Each test reads its parameters with load_params(); pytest selects one with ``testcase=``.
Results worth reporting (throughput, counters) go to ``result.json`` in the run folder.
"""

import json
import random
import time

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from sim.tb.clock import Sig, Ticker
from sim.tb.layout import layout_from_json, pack, unpack
from sim.tb.params import load_params
from sim.tb.stream import StreamDriver, StreamSink
from sim.tb.tcdm import TCDMMemory


def _write_result(**result):
    with open("result.json", "w") as f:
        json.dump(result, f)


def _expected(op, items, layout):
    if op == "identity":
        return list(items)
    if op == "addsub":  # the AddSub PipelinedOp of tests/test_tb_infra.py: a +- b mod 2^16
        out = []
        for v in items:
            a, b, sub = v & 0xFFFF, (v >> 16) & 0xFFFF, (v >> 32) & 1
            out.append((a - b if sub else a + b) & 0xFFFF)
        return out
    raise ValueError(op)


@cocotb.test()
async def stream_loop(dut):
    """Random payloads through a stream DUT under random valid gaps and ready stalls; all must
    arrive, in order, and the stream rules must hold on the output."""
    p = load_params()
    n, seed = p.get("n", 2000), p.get("seed", 1)
    layout = layout_from_json(p["layout"]) if "layout" in p else None
    rng = random.Random(seed)
    ticker = await Ticker(dut).start()
    width = Sig(dut, "i__payload").width
    items = [rng.getrandbits(width) for _ in range(n)]
    drv = StreamDriver(dut, "i", items, layout=layout, gap=p.get("gap", 0.0), seed=seed + 1)
    sink = StreamSink(dut, "o", count=n, stall=p.get("stall", 0.0), seed=seed + 2,
                      lazy=p.get("lazy", False))
    t0 = time.perf_counter()
    cycles = await ticker.run(drv, sink, max_cycles=p.get("max_cycles"))
    elapsed = time.perf_counter() - t0
    expected = _expected(p.get("op", "identity"), items, layout)
    got = sink.received
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    rate = n / elapsed
    dut._log.info("%d transfers in %d cycles (clocked=%s), %.0f transfers/s, %.0f cycles/s",
                  n, cycles, ticker.clocked, rate, cycles / elapsed)
    _write_result(transfers=n, cycles=cycles, seconds=elapsed, transfers_per_s=rate,
                  cycles_per_s=cycles / elapsed, clocked=ticker.clocked,
                  output_stall_cycles=sink.stall_cycles)
    assert len(got) == n, f"received {len(got)} of {n}"
    assert not bad, (f"{len(bad)} mismatches, first at #{bad[0]}: "
                     f"in {items[bad[0]]:#x} got {got[bad[0]]:#x} expected {expected[bad[0]]:#x}")
    # Every handshake actually happened under stalls (the test is not vacuous).
    if p.get("stall", 0.0) > 0 and getattr(dut, "o__valid", None) is not None and n >= 100:
        assert sink.stall_cycles > 0, "no output stall was exercised"
    # After run(): the driver dropped valid and the sink dropped ready.
    await ReadOnly()
    assert Sig(dut, "i__valid").get() == 0 and Sig(dut, "o__ready").get() == 0


@cocotb.test()
async def stream_dict_payloads(dut):
    """Dict payloads packed through a nested layout, unpacked on the way out (identity DUT)."""
    p = load_params()
    layout = layout_from_json(p["layout"])
    rng = random.Random(p.get("seed", 5))
    ticker = await Ticker(dut).start()
    width = Sig(dut, "i__payload").width
    values = [unpack(layout, rng.getrandbits(width)) for _ in range(300)]
    drv = StreamDriver(dut, "i", values, layout=layout, gap=0.3, seed=2)
    sink = StreamSink(dut, "o", layout=layout, count=len(values), stall=0.3, seed=3)
    await ticker.run(drv, sink)
    assert [unpack(layout, v) for v in sink.received] == values
    assert sink.received == [pack(layout, v) for v in values]


def _copy_expectation(src_bytes, dst_bytes, wbe, nbytes):
    out = dst_bytes.copy()
    for i in range(nbytes):
        if wbe >> i & 1:
            out[i::nbytes] = src_bytes[i::nbytes]
    return out


@cocotb.test()
async def tcdm_copy(dut):
    """The TCDMCopy master copies ``count`` words from ``src`` to ``dst`` (byte enables
    ``wbe``) through the TCDM model under random grant stalls."""
    p = load_params()
    seed = p.get("seed", 1)
    base, size = p.get("base", 0x1000), p.get("size", 4096)
    count, src, dst = p["count"], p["src"], p["dst"]
    ports = p.get("ports", ["mem"])
    ticker = await Ticker(dut).start()
    mem = TCDMMemory(size, base=base)
    rng = np.random.default_rng(seed)
    mem.array[:] = rng.integers(0, 256, size, dtype=np.uint8)
    tports = [mem.port(dut, name, stall=p.get("stall", 0.0), seed=seed + 10 + k,
                       comb_gnt=p.get("comb_gnt", True)) for k, name in enumerate(ports)]
    nbytes = tports[0].nbytes
    wbe = p.get("wbe", tports[0].full_be)
    in_range = mem.contains(src, count * nbytes) and mem.contains(dst, count * nbytes)
    before_src = mem.read_bytes(src, count * nbytes) if in_range else None
    before_dst = np.frombuffer(mem.read_bytes(dst, count * nbytes), np.uint8) if in_range else None

    start, done, err = Sig(dut, "start"), Sig(dut, "done"), Sig(dut, "err")
    for name, value in (("src", src), ("dst", dst), ("count", count), ("wbe", wbe)):
        Sig(dut, name).set(value)
    start.set(1)
    await ticker.tick()
    start.set(0)
    cycles = await ticker.run(*tports, until=lambda: done.get() == 1,
                              max_cycles=p.get("max_cycles", 200 * count + 1000))
    stats = [t.stats() for t in tports]
    dut._log.info("copy of %d x %d bytes took %d cycles; ports: %s", count, nbytes, cycles, stats)
    _write_result(cycles=cycles, ports=stats, errors=[e for t in tports for e in t.errors])
    assert err.get() == 0, "the master saw rvalid at a wrong time (the read data is not exactly one cycle after gnt)"
    if p.get("expect_errors"):
        errors = [e for t in tports for e in t.errors]
        assert any(p["expect_errors"] in e for e in errors), f"expected an error {p['expect_errors']!r}, got {errors}"
        return
    for t in tports:
        t.check()
    assert sum(s["reads"] for s in stats) == count and sum(s["writes"] for s in stats) == count
    if p.get("stall", 0.0) >= 0.5 and count >= 16:
        assert sum(s["stall_cycles"] for s in stats) > 0, "no grant stall was exercised"
    if p.get("stall", 0.0) == 0.0:
        assert sum(s["stall_cycles"] for s in stats) == 0
    got = np.frombuffer(mem.read_bytes(dst, count * nbytes), np.uint8)
    want = _copy_expectation(np.frombuffer(before_src, np.uint8), before_dst, wbe, nbytes)
    assert np.array_equal(got, want), f"copied memory differs at byte {int(np.argmax(got != want))}"
    # Host-side helpers agree with the raw bytes.
    if nbytes == 4:
        assert np.array_equal(mem.read_fp32(dst, count), got.view("<u4"))


@cocotb.test()
async def tcdm_chain(dut):
    """ChainedPorts: b.req follows a.gnt combinationally; with no stalls both ports must be
    granted every cycle, i.e. the model re-evaluates port b after granting port a."""
    p = load_params()
    count, src, dst = p["count"], p["src"], p["dst"]
    ticker = await Ticker(dut).start()
    mem = TCDMMemory(4096, base=0x1000)
    ports = [mem.port(dut, "a"), mem.port(dut, "b")]
    for name, value in (("src", src), ("dst", dst), ("count", count)):
        Sig(dut, name).set(value)
    Sig(dut, "start").set(1)
    await ticker.tick()
    Sig(dut, "start").set(0)
    done = Sig(dut, "done")
    cycles = await ticker.run(*ports, until=lambda: done.get() == 1, max_cycles=10 * count)
    for port in ports:
        port.check()
    assert Sig(dut, "err").get() == 0, "a cycle passed without both grants"
    assert cycles == count + 1  # count granted cycles, then the one that sees done
    assert ports[0].reads == count and ports[1].writes == count
    assert np.array_equal(mem.read_array(dst, count, np.uint32), np.arange(count))


@cocotb.test()
async def plain_assert(dut):
    """A plain ``assert`` that fails: the run's log shows the compared values (cocotb rewrites
    the benches' assertions, flows.runner's COCOTB_REWRITE_ASSERTION_FILES)."""
    cycles, expected = 3, 4
    assert cycles == expected
