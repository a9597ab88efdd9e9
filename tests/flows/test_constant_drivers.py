"""Yosys writes bits that Amaranth drives with a constant as `always @*` blocks that read
nothing; by IEEE 1364 those never run, and Verilator leaves such bits at 0. The emission path
rewrites them to `always_comb` (flows.emit.constant_drivers_as_always_comb): this checks both the
text and, under Verilator, the behaviour of a design whose constant bits are 1."""

import pytest
from amaranth import Cat, Const, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from flows.emit import constant_drivers_as_always_comb
from flows.runner import VerilatorSim


class ConstantBits(wiring.Component):
    """`o` = {2'b10, a}, the low bits overridden in a branch: the constant high bits end up in
    a constant-only process, as the tensor CE's FMA operand flags do."""
    a: In(2)
    o: Out(4)

    def elaborate(self, platform):
        m = Module()
        s = Signal(4)
        m.d.comb += s.eq(Cat(self.a, Const(0b10, 2)))
        with m.If(self.a[0]):
            m.d.comb += s[0:2].eq(0b11)
        m.d.comb += self.o.eq(s)
        return m


def test_yosys_output_has_the_constant_always_block():
    raw = verilog.convert(ConstantBits(), name="constant_bits", emit_src=False)
    assert "always @*\n    o[3:2] = 2'h2;" in raw          # the form that never runs
    fixed = constant_drivers_as_always_comb(raw)
    assert "always_comb\n    o[3:2] = 2'h2;" in fixed
    assert fixed.count("\n") == raw.count("\n")             # names.json line numbers hold
    assert "always @* begin" in fixed                       # ordinary processes untouched


@pytest.mark.verilator
def test_constant_bits_simulate_as_one():
    VerilatorSim.for_component(ConstantBits(), "constant_bits").run("sim.benches.constant_tb")
