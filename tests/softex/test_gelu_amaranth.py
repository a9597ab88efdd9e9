# amaranth: UnusedElaboratable=no
"""RTL of GELU (hw/softex/gelu.py) in the Amaranth simulator against the golden model.

Special values, boundaries (the negative tail's threshold and end included) and seeded random
inputs, K = 3 and the default K, acc_width 14 and 10, lanes 1 and 2, latency 0 and > 0, softex
and accurate expp, under random valid gaps and ready stalls. The exhaustive sweep (all 65,536
inputs) runs under Verilator (test_gelu_verilator.py). Parameter validation is checked here too.
"""

import numpy as np
import pytest

from hw.softex.gelu import Gelu
from hw.softex.gelu_coeffs import DEFAULT_TERMS
from sim.golden.expp import bf16_to_float
from sim.golden.gelu import gelu
from sim.amaranth_stream import run_stream

CORNERS = [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x807F, 0x0080, 0x8080, 0x7F80, 0xFF80,
           0x7FC0, 0xFFC1, 0x7F81, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80, 0x4000, 0xC000, 0x4100,
           0xC100, 0x4120, 0xC120, 0x5F80, 0xDF80, 0x3C00, 0xBC00, 0x2000, 0xA000,
           # the negative tail: around its threshold (TAIL_X = 0xC037), deep, where expp flushes
           0xC036, 0xC037, 0xC038, 0xC080, 0xC0C3, 0xC150, 0xC153, 0xC154, 0xC160, 0xFFC1]


def run_lanes(dut, inputs, *, seed):
    lanes = dut.lanes
    pad = (-len(inputs)) % lanes
    inputs = np.concatenate([inputs, inputs[:pad]])
    beats = [int(sum(int(v) << (16 * i) for i, v in enumerate(inputs[b:b + lanes])))
             for b in range(0, len(inputs), lanes)]
    received = run_stream(dut, beats, seed=seed, gap=0.3, stall=0.3)
    got = np.array([(b >> (16 * i)) & 0xFFFF for b in received for i in range(lanes)],
                   dtype=np.uint16)
    return inputs, got


@pytest.mark.parametrize("terms,acc_width,lanes,latency,mode", [
    (DEFAULT_TERMS, 14, 1, 6, "accurate"),
    (DEFAULT_TERMS, 14, 2, 0, "accurate"),
    (3, 10, 1, 3, "softex"),
    (6, 15, 2, 8, "accurate"),
])
def test_gelu_vs_golden(terms, acc_width, lanes, latency, mode):
    rng = np.random.default_rng(terms * 100 + acc_width)
    # random values concentrated in the interesting range plus any pattern
    near = (rng.integers(0, 1 << 16, 150) & 0x80FF) | (rng.integers(0x3A, 0x42, 150) << 7)
    stim = np.concatenate([CORNERS, near, rng.integers(0, 1 << 16, 100)]).astype(np.uint16)
    dut = Gelu(lanes, terms=terms, acc_width=acc_width, latency=latency, expp_mode=mode)
    inputs, got = run_lanes(dut, stim, seed=latency + lanes)
    want = gelu(inputs, terms=terms, acc_width=acc_width, expp_mode=mode)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(inputs[i]), hex(got[i]), hex(want[i])) for i in bad[:10]]


@pytest.mark.parametrize("terms", [DEFAULT_TERMS, 6])
def test_gelu_phi0_rtl(terms):
    """phi(0) = 0.5 exactly at W = 14 in the RTL: G(x) = x/2 for +-0, subnormal and small
    normal x (all x^2 terms round to expp = 1)."""
    small = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x8080, 0x0D00, 0x8D00,
                      0x3500, 0xB500, 0x3900, 0xB97F], dtype=np.uint16)
    dut = Gelu(1, terms=terms, acc_width=14, latency=2)
    inputs, got = run_lanes(dut, small, seed=terms)
    assert np.array_equal(got, gelu(inputs, terms=terms, acc_width=14))
    xs = bf16_to_float(inputs)
    assert np.all(np.abs(bf16_to_float(got) - xs / 2) <= 2.0 ** -134)   # x/2 (one rounding)
    normal = (inputs & 0x7F80) != 0
    assert np.array_equal(bf16_to_float(got[normal]), xs[normal] / 2)


@pytest.mark.parametrize("kwargs,name", [
    ({"terms": 2}, "terms"), ({"terms": 7}, "terms"), ({"acc_width": 7}, "acc_width"),
    ({"acc_width": 16}, "acc_width"), ({"lanes": 0}, "lanes"), ({"latency": -1}, "latency"),
    ({"expp_mode": "fast"}, "expp_mode"),
])
def test_gelu_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Gelu(**kwargs)
