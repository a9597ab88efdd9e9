# amaranth: UnusedElaboratable=no
"""hw.lanes.Lanes: copies of an operator behind one stream, each lane bit-exact, in order,
under random valid gaps and ready stalls (the wrapper the Verilator operator regressions use),
and its parameter check."""

import numpy as np
import pytest

from hw.fp import BF16, FPAdd
from hw.lanes import MAX_LANES, Lanes
from sim.amaranth_stream import run_stream
from sim.golden import fp as golden
from sim.tb.layout import pack_lanes, split_lanes


@pytest.mark.parametrize("lanes, latency", [(3, 2), (2, 0)])
def test_lanes_bit_exact_under_stalls(lanes, latency):
    dut = Lanes(lambda: FPAdd(BF16, latency=latency), lanes)
    rng = np.random.default_rng(lanes)
    n = 200 * lanes + 1                      # the last beat is padded
    cols = {"a": rng.integers(0, 1 << 16, n), "b": rng.integers(0, 1 << 16, n),
            "sub": rng.integers(0, 2, n)}
    beats = pack_lanes(dut.operand_layout, cols, lanes)
    out = run_stream(dut, beats, seed=lanes, gap=0.3, stall=0.4)
    got = split_lanes(dut.result_layout, out, lanes, n)          # raw BF16 patterns
    want = golden.add(cols["a"], cols["b"], BF16, cols["sub"])
    assert np.array_equal(got, np.asarray(want, np.uint64))


def test_lanes_parameter_range():
    for bad in (0, MAX_LANES + 1):
        with pytest.raises(ValueError, match="lanes"):
            Lanes(lambda: FPAdd(BF16), bad)
    # only operators whose handshake ignores the payload stay in step
    from amaranth.lib.fifo import SyncFIFO
    with pytest.raises(TypeError, match="PipelinedOp"):
        Lanes(lambda: SyncFIFO(width=8, depth=2), 2)
