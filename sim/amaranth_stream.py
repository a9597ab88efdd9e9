"""Stream stimulus for the Amaranth Python simulator (fast unit tests of stream components).

:func:`run_stream` pushes raw payloads through a component with ``i``/``o`` stream ports under
random input gaps (garbage on the payload while idle) and random output stalls, checks the
lib.stream rule that a presented output is held until taken, and returns the raw outputs in
order. The cocotb/Verilator counterpart is :mod:`sim.tb.stream`.
"""

import random

from amaranth import ClockDomain, Module, Value
from amaranth.sim import Simulator

__all__ = ["run_stream"]


def run_stream(dut, payloads, *, seed=0, gap=0.3, stall=0.4):
    """Raw output payloads (ints) for the raw input ``payloads``, in order."""
    rng = random.Random(seed)
    payloads = [int(p) for p in payloads]
    results = []

    async def producer(ctx):
        payload_in = Value.cast(dut.i.payload)
        for raw in payloads:
            while rng.random() < gap:
                ctx.set(dut.i.valid, 0)
                ctx.set(payload_in, rng.getrandbits(len(payload_in)))  # garbage while idle
                await ctx.tick()
            ctx.set(payload_in, raw)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        payload_out = Value.cast(dut.o.payload)
        held = None
        while len(results) < len(payloads):
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            await ctx.delay(1e-9)  # let combinational paths settle before sampling
            valid, payload = ctx.get(dut.o.valid), ctx.get(payload_out)
            if held is not None:
                assert valid and payload == held, "output changed while valid & ~ready"
            if valid and ready:
                results.append(payload)
                held = None
            elif valid:
                held = payload
            await ctx.tick()

    top = Module()
    top.domains.sync = ClockDomain()  # latency-0 components have no registers, hence no domain
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return results
