"""GELU under Verilator/cocotb: all 65,536 inputs, default K, 0 mismatches against the golden
model; one run under random valid gaps / ready stalls, one at full throughput (the benchmark:
cycles per element = 1/lanes plus pipeline fill). One test per ``sim.regressions.GELU_REGRESSIONS`` entry."""

import pytest

from sim.regressions import GELU_REGRESSIONS, run_regression

pytestmark = pytest.mark.verilator


# The full-throughput run is the benchmark (make sim and scripts/gelu_report run it); its own
# Verilator build would add minutes to `make test`, so here it is a slow test.
_CASES = [pytest.param(r, marks=pytest.mark.slow) if r.params["gap"] == 0 else r
          for r in GELU_REGRESSIONS]


@pytest.mark.parametrize("reg", _CASES, ids=[r.name for r in GELU_REGRESSIONS])
def test_gelu_exhaustive(reg):
    result = run_regression(reg, raise_on_failure=True)
    assert result["mismatches"] == 0
    assert result["cases"] >= 1 << 16
    if reg.params["gap"] == 0 and reg.params["stall"] == 0:
        lanes = reg.params["lanes"]
        # full throughput: one beat per cycle, plus pipeline fill / reset overhead
        assert result["cycles"] <= (1 << 16) // lanes + 100
