# amaranth: UnusedElaboratable=no
"""The pipelined stream base: latency placement, in-order delivery under stalls, lib.stream rules."""

import random

import pytest
from amaranth import ClockDomain, Module
from amaranth.lib import data
from amaranth.sim import Simulator

from hw.pipeline import Pipeline, PipelinedOp


class MulAdd(PipelinedOp):
    """(a + b) * 3 + 1 with two cut points: enough structure to place registers on."""
    N_CUTS = 2

    def __init__(self, latency):
        super().__init__(data.StructLayout({"a": 16, "b": 16}), 16, latency=latency)

    def datapath(self, m, pipe, ops):
        s = pipe.cut(ops.a + ops.b)
        p = pipe.cut((s * 3)[:16])
        return p + 1


def reference(a, b):
    return ((a + b) * 3 + 1) & 0xFFFF


@pytest.mark.parametrize("latency,n_cuts,expected", [
    (0, 3, set()), (1, 3, {1}), (2, 3, {0, 2}), (3, 3, {0, 1, 2}), (5, 3, {0, 1, 2}), (1, 1, {0}),
])
def test_cut_placement(latency, n_cuts, expected):
    assert Pipeline.choose_cuts(latency, n_cuts) == expected


@pytest.mark.parametrize("latency", [0, 1, 2, 3, 5])
def test_in_order_under_stalls(latency):
    dut = MulAdd(latency)
    rng = random.Random(latency)
    inputs = [(rng.getrandbits(16), rng.getrandbits(16)) for _ in range(300)]
    received = []

    async def producer(ctx):
        for a, b in inputs:
            while rng.random() < 0.3:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.payload, {"a": a, "b": b})
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        held = None
        while len(received) < len(inputs):
            ready = rng.random() < 0.6
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)  # let comb logic settle before sampling
            valid, payload = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
            if held is not None:
                # lib.stream: once valid, it stays valid with the same payload until taken.
                assert valid and payload == held
            if valid and ready:
                received.append(payload)
                held = None
            elif valid:
                held = payload
            await ctx.tick()

    top = Module()
    top.domains.sync = ClockDomain()  # latency 0 has no registers, hence no domain of its own
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert received == [reference(a, b) for a, b in inputs]


def test_latency_is_validated():
    with pytest.raises(ValueError, match="latency must be an integer >= 0"):
        MulAdd(-1)
    with pytest.raises(ValueError, match="latency"):
        MulAdd(1.5)
