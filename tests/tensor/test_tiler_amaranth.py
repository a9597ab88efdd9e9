"""hw.tensor.tiler.WalkAddress against the multiply it replaces: for random shapes, strides and
step patterns, the registered address of every walk equals ``ptr + m0 / L * m_delta + n0 / D *
n_delta + inner / inner_step * inner_delta`` (mod 2**width) in every cycle, and ``base_next``
is the next cycle's ``base``."""

import random

import pytest
from amaranth import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hw.tensor.geometry import TensorGeometry
from hw.tensor.regmap import DIM_BITS
from hw.tensor.tiler import TileWalk

WIDTH = 20


class _Walks(Elaboratable):
    """Elaboratable holding walks shaped like the tensor unit's (inner steps of 1 and of D, and
    the one-group walks of Y and Z), each with a tracked address."""

    def __init__(self, g):
        self.g = g
        self.M = Signal(DIM_BITS + 1)
        self.N = Signal(DIM_BITS + 1)
        self.K = Signal(DIM_BITS + 1)
        self.ptr = Signal(WIDTH)
        self.stride = Signal(WIDTH)
        self.tile_step = Signal(WIDTH)
        self.restart = Signal()
        self.steps = {}
        self.walks = {}

    def elaborate(self, platform):
        m = Module()
        for name, (inner_step, inner_end, deltas) in self.shapes(self.stride, self.tile_step).items():
            walk = TileWalk(m, self.g, name, inner_step, inner_end, self.M, self.N)
            addr = walk.address(WIDTH, self.ptr, **deltas)
            self.steps[name] = Signal(name=f"want_{name}")
            m.d.comb += walk.step.eq(self.steps[name] & walk.active)
            with m.If(self.restart):
                walk.restart()
            self.walks[name] = (walk, addr, inner_step)
        return m

    def shapes(self, stride, tile_step):
        """name: (inner_step, inner_end, address deltas), with the strides as signals (for the
        hardware) or as numbers (for the expected values)."""
        D = self.g.D
        return {
            "w": (1, self.K, dict(n_delta=2 * D, inner_delta=stride)),
            "x": (D, self.K, dict(m_delta=tile_step, inner_delta=2 * D)),
            "z": (1, 1, dict(m_delta=tile_step, n_delta=2 * D)),
        }


def _expected(walk_state, inner_step, deltas, ptr, g):
    """The address as the multiply the walk replaces computes it."""
    m0, n0, inner = walk_state
    d = lambda key: deltas.get(key, 0)
    return (ptr + m0 // g.L * d("m_delta") + n0 // g.D * d("n_delta")
            + inner // inner_step * d("inner_delta")) % (1 << WIDTH)


@pytest.mark.parametrize("L,H,P", [(4, 4, 3), (3, 2, 1), (2, 2, 1)])
def test_walk_address_matches_the_multiply(L, H, P):
    g = TensorGeometry(L, H, P, "fp32")
    dut = _Walks(g)
    rng = random.Random(L * 100 + H * 10 + P)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    checked = [0]

    async def bench(ctx):
        for job in range(12):
            M, N, K = (rng.randint(1, 3 * L + 1), rng.randint(1, 3 * g.D + 1),
                       rng.randint(1, 3 * g.D + 1))
            ptr = rng.randrange(1 << WIDTH)
            stride = rng.randrange(1 << WIDTH)
            ctx.set(dut.M, M)
            ctx.set(dut.N, N)
            ctx.set(dut.K, K)
            ctx.set(dut.ptr, ptr)
            ctx.set(dut.stride, stride)
            ctx.set(dut.tile_step, stride * L % (1 << WIDTH))
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            for cycle in range(400):
                for name in dut.steps:
                    ctx.set(dut.steps[name], rng.random() < 0.6)
                nexts = {}
                numbers = dut.shapes(stride, stride * L % (1 << WIDTH))
                for name, (walk, addr, inner_step) in dut.walks.items():
                    state = (ctx.get(walk.m0), ctx.get(walk.n0), ctx.get(walk.inner))
                    want = _expected(state, inner_step, numbers[name][2], ptr, g)
                    assert ctx.get(addr.base) == want, (job, cycle, name, state)
                    nexts[name] = ctx.get(addr.base_next)
                    checked[0] += 1
                await ctx.tick()
                for name, (walk, addr, _) in dut.walks.items():
                    assert ctx.get(addr.base) == nexts[name], (job, cycle, name)

    sim.add_testbench(bench)
    sim.run()
    assert checked[0] == 12 * 400 * 3
