"""expp under Verilator/cocotb: all 65,536 inputs, both modes, several lane counts and
latencies, random valid gaps and ready stalls, 0 mismatches against the golden model.

One test per entry of ``sim.regressions.EXPP_REGRESSIONS`` (the list ``make sim`` reports on)."""

import pytest

from sim.regressions import EXPP_REGRESSIONS, run_regression

pytestmark = pytest.mark.verilator


@pytest.mark.parametrize("reg", EXPP_REGRESSIONS, ids=[r.name for r in EXPP_REGRESSIONS])
def test_expp_exhaustive(reg):
    result = run_regression(reg, raise_on_failure=True)
    assert result["mismatches"] == 0
    assert result["cases"] >= 1 << 16
