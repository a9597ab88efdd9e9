"""LUT softmax engines (methods A and B, issue 5) under Verilator/cocotb
(sim/benches/lut_softmax_tb.py): bit-exact against sim/golden/lut_softmax.py under 30 % random
grant stalls (the ``make sim`` regressions lut_softmax_a_l8 / lut_softmax_b_l8), then cycles
per row without stalls."""

import json
from pathlib import Path

import numpy as np
import pytest

from sim.regressions import by_name, run_regression


def _check(method):
    result = run_regression(by_name(f"lut_softmax_{method}_l8"), raise_on_failure=True,
                            bench=[64, 1024, 4096], bench_int8=True)
    assert result["mismatches"] == 0 and result["cases"] > 40_000, result
    cycles = json.loads((Path(result["run_dir"]) / "result.json").read_text())
    for n in (1024, 4096):
        # three passes: n/L + n/L + 2n/L cycles, plus a fixed latency
        assert cycles[str(n)] <= 4 * n / 8 + 16, cycles
        assert cycles[f"int8_{n}"] == cycles[str(n)], cycles
    assert cycles["64"] <= 4 * 64 // 8 + 16, cycles


@pytest.mark.verilator
def test_lut_softmax_a():
    """Method A, L = 8 (default): every test case of lut_softmax_tb, 30 % grant stalls."""
    _check("a")


@pytest.mark.verilator
def test_lut_softmax_b():
    """Method B, L = 8 (default): every test case of lut_softmax_tb, 30 % grant stalls."""
    _check("b")


@pytest.mark.parametrize("frac_bits", [3, 4])
def test_bf16_to_fixed_exhaustive(frac_bits):
    """The engine's BF16 -> fixed-point converter equals fp.float_to_int(x, 13 + F, 12, 1) on
    every finite BF16 pattern (Amaranth simulation of the combinational block)."""
    from amaranth import Module, Signal, signed
    from amaranth.sim import Simulator

    from hw.softex.lut_softmax import bf16_to_fixed
    from sim.golden import fp

    xw = 13 + frac_bits
    m = Module()
    x = Signal(16)
    out = Signal(signed(xw))
    m.d.comb += out.eq(bf16_to_fixed(m, x, frac_bits, "fx"))
    pats = np.arange(1 << 16, dtype=np.uint16)
    pats = pats[(pats & 0x7F80) != 0x7F80]
    exp = np.asarray(fp.float_to_int(pats, xw, 12, 1), dtype=np.int64)
    exp = np.where(exp >= 1 << (xw - 1), exp - (1 << xw), exp)
    got = []

    async def bench(ctx):
        for v in pats.tolist():
            ctx.set(x, v)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == len(pats)
    bad = np.nonzero(np.asarray(got) != exp)[0]
    assert len(bad) == 0, [(hex(int(pats[i])), got[i], int(exp[i])) for i in bad[:5]]
