# amaranth: UnusedElaboratable=no
"""The table GELU unit: its golden model (sim/golden/gelu_table.py) against the exact GELU on all
65,536 inputs, the generated ROM module up to date, and the RTL (hw/softex/gelu_table.py) in the
Amaranth simulator under random valid gaps and ready stalls. The exhaustive RTL sweep runs under
Verilator (test_gelu_verilator.py, the ``gelu_table_*`` regressions)."""

import numpy as np
import pytest

from hw.softex.gelu_table import GeluTable
from hw.softex.gelu_table_data import E_LO, INDEX_BITS, WORDS
from scripts import gelu_table as generator
from sim.golden.expp import bf16_to_float
from sim.golden.gelu import gelu_correctly_rounded
from sim.golden.gelu_table import gelu_table, half_rule
from tests.softex.test_gelu_amaranth import CORNERS, run_lanes

ALL = np.arange(1 << 16, dtype=np.int64)


def test_golden_is_gelu_correctly_rounded():
    """Every input: the table model == GELU rounded once to BF16 from exact arithmetic."""
    want = gelu_correctly_rounded(ALL)
    got = gelu_table(ALL)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(i), hex(got[i]), hex(want[i])) for i in bad[:10]]


def test_rules_outside_the_table_are_needed_and_hold():
    """The ROM covers exactly the binades where the x / 2 rule and the x / -0 rule fail: the
    binade below E_LO follows x / 2, E_LO itself does not; the top binade is needed."""
    exact = gelu_correctly_rounded(ALL).astype(np.int64)
    e = (ALL >> 7) & 0xFF
    assert np.array_equal(exact[e < E_LO], half_rule(ALL[e < E_LO]))
    assert not np.array_equal(exact[e == E_LO], half_rule(ALL[e == E_LO]))
    top = E_LO + (1 << INDEX_BITS)
    above = (e >= top) & (e < 0xFF)
    assert np.array_equal(exact[above], np.where(ALL[above] >> 15, 0x8000, ALL[above]))
    needed = (e >= E_LO + (1 << (INDEX_BITS - 1))) & (e < top)
    trivial = np.where(ALL[needed] >> 15, exact[needed] == 0x8000, exact[needed] == ALL[needed])
    assert not trivial.all()
    assert len(WORDS) == 2 << (INDEX_BITS + 7) and max(WORDS) < 1 << 15


def test_generated_module_up_to_date():
    assert generator.main(["--check"]) == 0


def test_half_rule_examples():
    # 2^-133 (the smallest subnormal): x / 2 is a tie, the x^2 term rounds it up (x > 0) and
    # down in magnitude (x < 0); normal x just below 2^-9 (the rule's largest): the exponent
    # minus one.
    assert half_rule(0x0001) == 0x0001 and half_rule(0x8001) == 0x8000
    assert half_rule(0x0003) == 0x0002 and half_rule(0x8003) == 0x8001
    assert half_rule(0x0081) == 0x0041 and half_rule(0x8081) == 0x8040
    x = 0x3AFF                                          # just below 2^-9
    assert bf16_to_float(half_rule(x)) == bf16_to_float(x) / 2


@pytest.mark.parametrize("lanes,latency", [(1, 0), (1, 2), (2, 1), (3, 4)])
def test_rtl_vs_golden(lanes, latency):
    rng = np.random.default_rng(lanes * 10 + latency)
    e = rng.integers(E_LO - 2, E_LO + (1 << INDEX_BITS) + 2, 300)
    near = (rng.integers(0, 1 << 16, 300) & 0x807F) | (e << 7)
    edges = [(s << 15) | (b << 7) | m for s in (0, 1) for b in (E_LO - 1, E_LO, E_LO + 15,
                                                                E_LO + 16) for m in (0, 127)]
    stim = np.concatenate([CORNERS, edges, near, rng.integers(0, 1 << 16, 100)]).astype(np.uint16)
    dut = GeluTable(lanes, latency=latency)
    inputs, got = run_lanes(dut, stim, seed=latency + lanes)
    want = gelu_table(inputs)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(inputs[i]), hex(got[i]), hex(want[i])) for i in bad[:10]]


@pytest.mark.parametrize("kwargs,name", [
    ({"lanes": 0}, "lanes"), ({"lanes": 65}, "lanes"), ({"latency": -1}, "latency"),
    ({"latency": 16}, "latency"),
])
def test_params(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GeluTable(**kwargs)
