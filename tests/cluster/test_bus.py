# amaranth: UnusedElaboratable=no
"""The cluster's small bus components under the Amaranth simulator: the Wishbone-to-TCDM bridge
(ack timing, one transfer at a time, stalls), the address demultiplexer (regions, offsets,
error responder) and the round-robin arbiter (fairness, response routing, downstream stalls)."""

import random

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.cluster import TCDMArbiter, TCDMDemux, WishboneToTCDM


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_bridge_ack_timing_with_stalls():
    dut = WishboneToTCDM()
    rng = random.Random(1)
    mem = {}
    log = []

    async def bench(ctx):
        wb, t = dut.wb, dut.tcdm
        pending_read = None
        for n in range(300):
            we = rng.random() < 0.5
            adr = rng.randrange(16)
            data = rng.getrandbits(32)
            ctx.set(wb.cyc, 1)
            ctx.set(wb.stb, 1)
            ctx.set(wb.we, we)
            ctx.set(wb.adr, adr)
            ctx.set(wb.sel, 0xF)
            ctx.set(wb.dat_w, data)
            cycles = 0
            while True:
                # Slave: grant with probability 0.5, answer reads one cycle later.
                gnt = ctx.get(t.req) and rng.random() < 0.5
                ctx.set(t.gnt, gnt)
                if gnt:
                    assert ctx.get(t.addr) == adr * 4
                acked = ctx.get(wb.ack)
                if acked and not we:
                    assert ctx.get(wb.dat_r) == mem.get(adr, 0)
                if gnt and we:
                    assert acked, "a granted write is acknowledged in its grant cycle"
                    mem[adr] = data
                await ctx.tick()
                ctx.set(t.gnt, 0)
                if gnt and not we:
                    assert not ctx.get(t.req), "no second request while a read is outstanding"
                    ctx.set(t.rvalid, 1)
                    ctx.set(t.rdata, mem.get(adr, 0))
                    assert ctx.get(wb.ack)
                    assert ctx.get(wb.dat_r) == mem.get(adr, 0)
                    await ctx.tick()
                    ctx.set(t.rvalid, 0)
                    break
                if acked:
                    break
                cycles += 1
                assert cycles < 100
            log.append(we)
            ctx.set(wb.stb, 0)
            ctx.set(wb.cyc, 0)
            await ctx.tick()
    _run(dut, bench)
    assert 100 < sum(log) < 200


def test_demux_regions_offsets_and_errors():
    dut = TCDMDemux([(0x0, 0x1000), (0x1000_0000, 0x4000), (0x2000_0000, 0x2000)])

    async def bench(ctx):
        bus = dut.bus
        for i in range(3):
            ctx.set(dut.slave(i).gnt, 1)
        for addr, target, off in [(0x10, 0, 0x10), (0x1000_3FFC, 1, 0x3FFC),
                                  (0x2000_1004, 2, 0x1004), (0x1000_4000, None, None),
                                  (0x0000_1000, None, None)]:
            ctx.set(bus.req, 1)
            ctx.set(bus.addr, addr)
            ctx.set(bus.we, 0)
            for i in range(3):
                assert ctx.get(dut.slave(i).req) == (i == target), (hex(addr), i)
            assert ctx.get(bus.gnt)
            assert ctx.get(dut.error) == (target is None)
            if target is not None:
                assert ctx.get(dut.slave(target).addr) == off
            await ctx.tick()
            ctx.set(bus.req, 0)
            if target is not None:
                ctx.set(dut.slave(target).rvalid, 1)
                ctx.set(dut.slave(target).rdata, 0x100 + target)
            assert ctx.get(bus.rvalid)
            assert ctx.get(bus.rdata) == (0 if target is None else 0x100 + target)
            await ctx.tick()
            if target is not None:
                ctx.set(dut.slave(target).rvalid, 0)
            assert not ctx.get(bus.rvalid)
    _run(dut, bench)
    with pytest.raises(ValueError, match="overlap"):
        TCDMDemux([(0, 0x2000), (0x1000, 0x1000)])
    with pytest.raises(ValueError, match="power-of-two size"):
        TCDMDemux([(0, 0x3000)])


def test_arbiter_round_robin_and_routing():
    n = 3
    dut = TCDMArbiter(n)
    rng = random.Random(4)
    grants = [0] * n

    async def bench(ctx):
        out = dut.out
        expect = None
        for cyc in range(600):
            for i in range(n):
                m = dut.master(i)
                ctx.set(m.req, 1)
                ctx.set(m.addr, 0x100 * i)
                ctx.set(m.we, 0)
            stall = rng.random() < 0.3
            ctx.set(out.gnt, not stall)
            g = [ctx.get(dut.master(i).gnt) for i in range(n)]
            assert sum(g) == (0 if stall else 1)
            if not stall:
                winner = g.index(1)
                assert ctx.get(out.addr) == 0x100 * winner and ctx.get(dut.id) == winner
                grants[winner] += 1
            # Response of last cycle's granted read goes to its master only.
            for i in range(n):
                assert ctx.get(dut.master(i).rvalid) == (expect == i)
            await ctx.tick()
            ctx.set(out.rvalid, 0 if stall else 1)
            ctx.set(out.rdata, 0)
            expect = None if stall else winner
    _run(dut, bench)
    assert max(grants) - min(grants) <= 1, grants
