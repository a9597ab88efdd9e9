# amaranth: UnusedElaboratable=no
"""RTL of expp (hw/softex/expp.py) in the Amaranth simulator against the golden model.

Corner inputs (test vectors, specials, flush/overflow/one boundaries, segment and carry
boundaries of the accurate mode) plus seeded random inputs, for both modes, lanes = 1 and 4,
latency 0 and > 0, under random valid gaps and ready stalls (the stream hold rule is checked).
The exhaustive sweep (all 65,536 inputs) runs under Verilator (test_expp_verilator.py).
"""

import types

import numpy as np
import pytest
from amaranth.lib import data

from hw.fp.format import BF16
from hw.softex import Expp
from hw.softex import expp_constants
from sim.golden import expp as golden
from sim.amaranth_stream import run_stream

N_RANDOM = 300


def corner_inputs():
    x = golden.bf16_to_float(golden.ALL_INPUTS)
    picks = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x8080, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1,
             0x7F81, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80, 0x42B0, 0x42B1, 0x42B2, 0xC2AE, 0xC2AF,
             0xC2B0, 0xC2FF, 0x4300, 0xC300, 0x3A80, 0xBAFF, 0xBB00, 0x3B00, 0xC120, 0xC049]
    # inputs around the boundaries of the accurate mode's segments / mantissa carry
    out = golden.expp(golden.ALL_INPUTS, "accurate")
    neg = golden.ALL_INPUTS[(x < 0) & (x > -88)]
    step = np.flatnonzero(np.diff(out[neg].astype(np.int64) >> 7) != 0)[:40]
    picks += neg[step].tolist() + neg[step + 1].tolist()
    return np.array(sorted(set(picks)), dtype=np.uint16)


def stimulus(seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([corner_inputs(), rng.integers(0, 1 << 16, N_RANDOM).astype(np.uint16)])


def run_lanes(dut, inputs, *, seed, gap=0.3, stall=0.3):
    """Push ``inputs`` (padded to whole beats) through ``dut``; returns (inputs, output lanes)."""
    lanes = dut.lanes
    pad = (-len(inputs)) % lanes
    inputs = np.concatenate([inputs, inputs[:pad]])
    beats = [int(sum(int(v) << (16 * i) for i, v in enumerate(inputs[b:b + lanes])))
             for b in range(0, len(inputs), lanes)]
    received = run_stream(dut, beats, seed=seed, gap=gap, stall=stall)
    got = np.array([(b >> (16 * i)) & 0xFFFF for b in received for i in range(lanes)],
                   dtype=np.uint16)
    return inputs, got


@pytest.mark.parametrize("mode", ["softex", "accurate"])
@pytest.mark.parametrize("lanes,latency", [(1, 0), (1, 2), (4, 0), (4, 3), (4, 5)])
def test_expp_vs_golden(mode, lanes, latency):
    dut = Expp(lanes, mode=mode, latency=latency)
    inputs, got = run_lanes(dut, stimulus(lanes * 10 + latency), seed=latency + lanes)
    expected = golden.expp(inputs, mode)
    bad = np.flatnonzero(got != expected)
    assert len(got) == len(inputs)
    assert not len(bad), "; ".join(f"x={int(inputs[i]):#06x} got {int(got[i]):#06x} "
                                   f"expected {int(expected[i]):#06x}" for i in bad[:8])


def test_custom_constants_reach_the_rtl():
    """A different constant set (here: the 4-segment structure the search can produce)
    changes the RTL exactly as it changes the golden model."""
    c = types.SimpleNamespace(KA=14, A=23637, K=12, SEG_BITS=2, G=4, Q=19,
                              ALPHA=(17, 20, 24, 28), GAMMA=(10641, 10767, 10661, 10887),
                              C=(8, 396, 857, 1404))
    dut = Expp(2, mode="accurate", latency=1, constants=c)
    inputs, got = run_lanes(dut, stimulus(99), seed=3)
    assert np.array_equal(got, golden.expp(inputs, "accurate", constants=c))
    assert not np.array_equal(golden.expp(inputs, "accurate", constants=c),
                              golden.expp(inputs, "accurate"))


def test_layout_and_latency():
    dut = Expp(3, mode="accurate", latency=2)
    assert dut.i.payload.shape() == data.ArrayLayout(BF16.layout, 3)
    assert dut.o.payload.shape() == data.ArrayLayout(BF16.layout, 3)
    assert Expp().lanes == 1 and Expp().mode == "softex"
    assert Expp.N_CUTS == 3


def test_parameters_are_validated():
    with pytest.raises(ValueError, match=r"lanes must be an integer in \[1, 64\], got 0"):
        Expp(0)
    with pytest.raises(ValueError, match=r"lanes must be an integer in \[1, 64\], got 65"):
        Expp(65)
    with pytest.raises(ValueError, match="mode must be one of 'softex', 'accurate', got 'fast'"):
        Expp(mode="fast")
    with pytest.raises(ValueError, match=r"latency must be an integer in \[0, 16\]"):
        Expp(latency=-1)
    with pytest.raises(ValueError, match="constants only apply to mode 'accurate'"):
        Expp(mode="softex", constants=expp_constants)
    bad = {n: getattr(expp_constants, n) for n in ("KA", "A", "K", "SEG_BITS", "G", "Q1", "Q",
                                                    "ALPHA", "GAMMA", "C")}
    with pytest.raises(ValueError, match=r"constants.KA must be an integer in \[11, 24\]"):
        Expp(mode="accurate", constants=types.SimpleNamespace(**{**bad, "KA": 3}))
    with pytest.raises(ValueError, match="constants.GAMMA must be 2 integers"):
        Expp(mode="accurate", constants=types.SimpleNamespace(**{**bad, "GAMMA": (1, 2, 3)}))
