"""The shared building blocks of hw/fp/core.py that datapaths cut in two: the leading-zero count
in slices then merged equals the plain count (exhaustively for small widths, on random and
edge values for the FMA's 68-bit sum)."""

import random

import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.fp.core import leading_zeros, leading_zeros_merge, leading_zeros_parts


@pytest.mark.parametrize("width,parts", [(2, 1), (5, 2), (8, 4), (9, 2), (9, 8), (68, 8), (68, 4)])
def test_leading_zeros_in_parts(width, parts):
    m = Module()
    value, plain, split = Signal(width), Signal(8), Signal(8)
    m.d.comb += [plain.eq(leading_zeros(value)),
                 split.eq(leading_zeros_merge(leading_zeros_parts(value, parts), parts, width))]
    rng = random.Random(width * 16 + parts)
    if width <= 9:
        values = range(1 << width)
    else:
        values = [0, 1, (1 << width) - 1, *(1 << k for k in range(width)),
                  *(rng.getrandbits(rng.randint(1, width)) for _ in range(3000))]

    async def bench(ctx):
        for v in values:
            ctx.set(value, v)
            assert ctx.get(plain) == ctx.get(split) == width - v.bit_length(), v

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_leading_zeros_parts_invalid():
    with pytest.raises(ValueError, match="parts must be a power of two"):
        leading_zeros_parts(Signal(8), 3)
    with pytest.raises(ValueError, match="parts must be a power of two"):
        leading_zeros_parts(Signal(8), 8)
