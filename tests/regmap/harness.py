"""Amaranth-simulator harness: a RegisterFile, the fake accelerator stepping beside it, and a
RegisterDriver on an Amaranth TCDM master for the test body.

Everything runs in one testbench: every clock tick of the test body (through the master or
:meth:`Env.tick`) first steps the fake accelerator on the register file's outputs of the
current cycle and logs the granted bus access, so cycle numbers are exact and deterministic.
"""

import random

from amaranth.sim import Simulator

from hw.regmap import RegisterFile
from sim.tb.bus import AmaranthTCDMMaster
from sim.tb.layout import pack
from sim.tb.regs import RegisterDriver

from sim.tb.fake_accelerator import FakeAccelerator

__all__ = ["run", "Env"]


class Env:
    """What a test body gets: ``drv`` (RegisterDriver), ``acc`` (FakeAccelerator), ``rf`` (the
    RegisterFile), ``master``, ``rng``, and ``bus_log``: (cycle, we, addr, wdata) per granted access.
    ``acc.cycle`` is the number of the current cycle."""

    def __init__(self, ctx, rf, regmap, acc, rng, gap_prob, seed):
        self._ctx, self.rf, self.regmap, self.acc, self.rng = ctx, rf, regmap, acc, rng
        self.bus_log = []
        self._expect_rvalid = 0
        self.master = AmaranthTCDMMaster(self, rf.bus, rng=random.Random(seed + 2), gap_prob=gap_prob)
        self.drv = RegisterDriver(self.master, regmap)

    # The master's view of the simulator context.
    def get(self, sig):
        return self._ctx.get(sig)

    def set(self, sig, value):
        self._ctx.set(sig, value)

    async def tick(self):
        ctx, rf, bus = self._ctx, self.rf, self.rf.bus
        # Bus protocol: rvalid exactly in the cycle after a granted read.
        if ctx.get(bus.rvalid) != self._expect_rvalid:
            raise AssertionError(f"cycle {self.acc.cycle}: rvalid={ctx.get(bus.rvalid)}, "
                                 f"expected {self._expect_rvalid}")
        granted = ctx.get(bus.req) and ctx.get(bus.gnt)
        self._expect_rvalid = int(bool(granted and not ctx.get(bus.we)))
        if granted:
            self.bus_log.append((self.acc.cycle, ctx.get(bus.we), ctx.get(bus.addr), ctx.get(bus.wdata)))
        done, error, counters = self.acc.step(
            start=ctx.get(rf.start), clear=ctx.get(rf.clear), busy=ctx.get(rf.busy),
            event=ctx.get(rf.done_event), job=ctx.get(rf.job.as_value()))
        ctx.set(rf.done, done)
        ctx.set(rf.error, error)
        if self.regmap.counters:
            ctx.set(rf.counters.as_value(), pack(self.regmap.counter_layout, counters))
        await ctx.tick()

    async def cycles(self, n):
        for _ in range(n):
            await self.tick()

    async def until(self, cond, limit=10_000):
        for _ in range(limit):
            if cond():
                return
            await self.tick()
        raise TimeoutError("condition not reached")

    async def wait_event(self):
        await self.tick()
        await self.until(lambda: self.get(self.rf.done_event))

    def writes_to(self, name):
        """Cycles in which a write to register ``name`` was granted."""
        off = self.regmap[name].offset
        return [c for c, we, addr, _ in self.bus_log if we and addr & ~3 == off]


def run(regmap, body, *, seed=0, gap_prob=0.0, vcd=None, **accel_kwargs):
    """Simulate ``body(env)`` (async) against a RegisterFile of ``regmap``. Returns the Env."""
    rf = RegisterFile(regmap)
    acc = FakeAccelerator(regmap, rng=random.Random(seed + 1), **accel_kwargs)
    sim = Simulator(rf)
    sim.add_clock(1e-6)
    result = {}

    async def main(ctx):
        env = Env(ctx, rf, regmap, acc, random.Random(seed), gap_prob, seed)
        result["env"] = env
        await body(env)

    sim.add_testbench(main)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return result["env"]
