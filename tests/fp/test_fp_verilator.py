# amaranth: UnusedElaboratable=no
"""Verilator/cocotb regressions of the arithmetic operators against the golden models.

One test per entry of ``sim.regressions.FP_REGRESSIONS`` (the list ``make sim`` reports on):
the emitted Verilog runs sim/benches/fp_tb.py with >= 200,000 random cases plus every corner
combination (binary / ternary ops) or exhaustive inputs (unary ops), under random stalls,
and must match bit for bit.
"""

import pytest

from sim.regressions import FP_REGRESSIONS, Regression, by_name, run_regression


@pytest.mark.verilator
@pytest.mark.parametrize("reg", FP_REGRESSIONS, ids=[r.name for r in FP_REGRESSIONS])
def test_fp_operator(reg, record_property):
    result = run_regression(reg, raise_on_failure=True)
    for key in ("cases", "mismatches", "cycles", "sim_seconds", "seconds"):
        record_property(key, result[key])
    assert result["mismatches"] == 0
    assert result["cases"] and result["cases"] >= min(200_000, sum((result["kinds"] or {}).values()))


@pytest.mark.verilator
def test_fp_regression_reports_mismatches():
    """The regression catches a wrong operator: FPAdd(BF16) checked against the multiplier's
    golden model must fail, with the mismatches counted and the first ones in hex."""
    reg = by_name("fp_add_bf16")
    wrong = Regression(reg.name, reg.spec, {**reg.params, "op": "mul", "random": 3000,
                                               "corners": False, "stress": 1000})
    result = run_regression(wrong)
    assert not result["passed"]
    assert result["cases"] == 3000 and 0 < result["mismatches"] <= 3000
    assert len(result["first_mismatches"]) == 10
    assert "a=0x" in result["first_mismatches"][0] and "expected 0x" in result["first_mismatches"][0]
    assert "mismatches" in result["error"] or "differ from the golden model" in result["error"]
