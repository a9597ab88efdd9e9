# amaranth: UnusedElaboratable=no
"""The pipelined stream base: latency placement, in-order delivery under stalls, lib.stream rules."""

import random

import pytest
from amaranth import Cat, Const, Module
from amaranth.lib import data

from hw.pipeline import Pipeline, PipelinedOp
from sim.amaranth_stream import run_stream


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
    rng = random.Random(latency)
    inputs = [(rng.getrandbits(16), rng.getrandbits(16)) for _ in range(300)]
    received = run_stream(MulAdd(latency), [a | (b << 16) for a, b in inputs],
                          seed=latency, gap=0.3, stall=0.4)
    assert received == [reference(a, b) for a, b in inputs]


def test_latency_is_validated():
    with pytest.raises(ValueError, match=r"latency must be an integer in \[0, 16\]"):
        MulAdd(-1)
    with pytest.raises(ValueError, match="latency"):
        MulAdd(1.5)


@pytest.mark.parametrize("latency,weights,expected", [
    (1, (1, 1, 1, 1), {1}),            # halves of equal weight
    (1, (5, 1, 1, 1), {0}),            # the heavy first segment alone
    (2, (1, 1, 1, 4), {1, 2}),         # the heavy last segment alone, the rest halved
    (2, (2, 2, 2, 2), {1, 2}),         # ties: later cuts
    (3, (1, 9, 1, 1), {0, 1, 2}),
    (0, (1, 1, 1, 1), set()),
])
def test_weighted_cut_placement(latency, weights, expected):
    assert Pipeline.choose_cuts(latency, 3, weights) == expected


def test_weights_must_match_cuts():
    with pytest.raises(ValueError, match="n_cuts \\+ 1 = 4"):
        Pipeline.choose_cuts(1, 3, (1, 1))


class TwoMulAdds(PipelinedOp):
    """Two MulAdds side by side inside an outer datapath (a cut before, one after): their cut
    points are the outer pipeline's (Pipeline.nested), c passes beside them (carry)."""
    N_CUTS = 1 + MulAdd.N_CUTS + 1

    def __init__(self, latency):
        super().__init__(data.StructLayout({"a": 16, "b": 16, "c": 16}), 16, latency=latency)

    def datapath(self, m, pipe, ops):
        a, b, c = pipe.cut(ops.a ^ 0x5555, ops.b, ops.c)
        inner = pipe.nested(MulAdd.N_CUTS)
        left, right = MulAdd(0), MulAdd(0)
        x = left.datapath(m, inner.view(), data.View(left.operand_layout, Cat(a, b)))
        y = right.datapath(m, inner.view(), data.View(right.operand_layout, Cat(b, c)))
        (c,) = inner.carry(c)
        return pipe.cut((x + y + c)[:16])


def two_muladds_reference(a, b, c):
    return (reference(a ^ 0x5555, b) + reference(b, c) + c) & 0xFFFF


@pytest.mark.parametrize("latency", range(TwoMulAdds.N_CUTS + 2))
def test_nested_datapaths_share_the_cut_points(latency):
    rng = random.Random(100 + latency)
    inputs = [tuple(rng.getrandbits(16) for _ in range(3)) for _ in range(200)]
    dut = TwoMulAdds(latency)
    received = run_stream(dut, [a | (b << 16) | (c << 32) for a, b, c in inputs],
                          seed=latency, gap=0.3, stall=0.4)
    assert received == [two_muladds_reference(*v) for v in inputs]


def test_nested_cuts_are_counted_once():
    m = Module()
    pipe = Pipeline(m, latency=4, n_cuts=4, enable=Const(1))
    pipe.cut(Const(0, 4))
    inner = pipe.nested(2)
    assert inner.chosen == 2
    for _ in range(3):                       # three views: the same two cut points
        view = inner.view()
        view.cut(Const(0, 4))
        view.cut(Const(0, 4))
        with pytest.raises(RuntimeError, match="inner datapath declared 2"):
            view.cut(Const(0, 4))
    pipe.cut(Const(0, 4))
    value = Const(1, 4)
    assert pipe.finish(value) is value       # no register at the output: 4 placed on the cuts
    with pytest.raises(RuntimeError, match="used more"):
        pipe.nested(1)
