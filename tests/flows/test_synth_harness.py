# amaranth: UnusedElaboratable=no
"""The synthesis harness: serial-in shift register -> component -> capture register -> MISR."""

import random

import pytest
from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from flows.emit import convert
from hw.pipeline import PipelinedOp
from hw.synth_harness import PassThrough, SynthHarness, flat_members, passthrough_like


class AddOp(PipelinedOp):
    """Stand-in stream component: a + b (9 bits), one cut point."""
    N_CUTS = 1

    def __init__(self, latency=1):
        super().__init__(data.StructLayout({"a": 8, "b": 8}), 9, latency=latency)

    def datapath(self, m, pipe, ops):
        return pipe.cut(ops.a + ops.b)


def _get(ctx, value):
    return ctx.get(value.as_value() if hasattr(value, "as_value") else value)


def test_layout_of_members():
    h = SynthHarness(AddOp())
    # Signature order: i.payload, i.valid, (i.ready out), (o.payload, o.valid out), o.ready.
    assert h.inputs == [("i.payload", 0, 16), ("i.valid", 16, 1), ("o.ready", 17, 1)]
    assert h.outputs == [("i.ready", 0, 1), ("o.payload", 1, 9), ("o.valid", 10, 1)]
    assert (h.in_width, h.out_width, h.flip_flops) == (18, 11, 18 + 2 * 11)
    assert h.pack({"i.payload": 0x1234, "o.ready": 1}) == 0x1234 | 1 << 17
    assert h.serial_bits(0b100000000000000001) == [1] + [0] * 16 + [1]


@pytest.mark.parametrize("latency", [0, 2])
def test_shifting_drives_inputs_and_outputs_are_folded(latency):
    dut = AddOp(latency)
    h = SynthHarness(dut)
    n_in, n_out = h.in_width, h.out_width
    in_mask, out_mask = (1 << n_in) - 1, (1 << n_out) - 1
    rng = random.Random(latency)
    patterns = [{"i.payload": rng.getrandbits(16), "i.valid": rng.getrandbits(1),
                 "o.ready": rng.getrandbits(1)} for _ in range(4)]
    members = dict(flat_members(dut)[0] + flat_members(dut)[1])

    async def testbench(ctx):
        shift = misr = capture = 0
        for values in patterns:
            for bit in h.serial_bits(h.pack(values)):
                # Outputs of the component before this edge, as the capture register sees them.
                outs = sum(_get(ctx, members[p]) << o for p, o, _ in h.outputs)
                ctx.set(h.sin, bit)
                await ctx.tick()
                shift, capture, misr = (
                    ((shift << 1) | bit) & in_mask,
                    outs,
                    (((misr << 1) & out_mask) | (shift >> (n_in - 1))) ^ capture,
                )
                assert ctx.get(h.capture) == capture
                assert ctx.get(h.misr) == misr
                assert ctx.get(h.sout) == misr >> (n_out - 1)
            # After in_width cycles the shift register holds the pattern, member by member.
            assert ctx.get(h.shift) == h.pack(values)
            for path, value in values.items():
                assert _get(ctx, members[path]) == value, path
            a, b = values["i.payload"] & 0xFF, values["i.payload"] >> 8
            if latency == 0:
                assert _get(ctx, dut.o.payload) == a + b
                assert ctx.get(dut.i.ready) == values["o.ready"]

    top = Module()
    top.submodules.h = h
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def test_tie_holds_inputs_constant():
    dut = AddOp(1)
    h = SynthHarness(dut, tie={"o.ready": 1})
    assert [p for p, _, _ in h.inputs] == ["i.payload", "i.valid"]
    assert h.in_width == 17

    async def testbench(ctx):
        await ctx.tick()
        assert ctx.get(dut.o.ready) == 1

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def test_harness_converts_with_four_ports():
    text, names = convert(SynthHarness(AddOp(2)), "wrapped")
    assert set(names["ports"]) == {"sin", "sout", "clk", "rst"}
    assert "wrapped.dut" in names["modules"].values()


def test_passthrough_has_same_widths():
    dut = AddOp(3)
    stub = passthrough_like(dut)
    stub._MustUse__silence = True     # only inspected here
    assert isinstance(stub, PassThrough)
    def widths(c):
        inputs, outputs = flat_members(c)
        return [len(v) for _, v in inputs], [len(v) for _, v in outputs]

    assert widths(stub) == widths(dut)
    h = SynthHarness(stub)
    assert (h.in_width, h.out_width) == (18, 11)


class _NoOutputs(wiring.Component):
    a: In(4)

    def elaborate(self, platform):
        return Module()


class _NoInputs(wiring.Component):
    y: Out(4)

    def elaborate(self, platform):
        return Module()


@pytest.mark.parametrize("make,message", [
    (lambda: SynthHarness(AddOp(), tie={"nope": 1}), r"tie: 'nope' is not an input member"),
    (lambda: SynthHarness(AddOp(), tie={"o.ready": 2}), r"tie\['o.ready'\] must be an integer "
                                                        r"in \[0, 1\], got 2"),
    (lambda: SynthHarness(AddOp(), tie={"i.valid": True}), r"tie\['i.valid'\] must be"),
    (lambda: SynthHarness(AddOp()).pack({"i.payload": 1 << 16}),
     r"i.payload must be in \[0, 65535\]"),
    (lambda: SynthHarness(AddOp()).pack({"o.payload": 1}), r"not loadable input members"),
    (lambda: SynthHarness(AddOp()).serial_bits(1 << 18), r"vector must be in"),
    (lambda: SynthHarness(_NoOutputs()), r"no output bits"),
    (lambda: SynthHarness(_NoInputs()), r"no \(untied\) input bits"),
    (lambda: SynthHarness(Signal(3)), r"expected a wiring.Component"),
])
def test_invalid(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()
