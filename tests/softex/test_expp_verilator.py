"""expp under Verilator/cocotb: all 65,536 inputs, both modes, several lane counts and
latencies, random valid gaps and ready stalls, 0 mismatches against the golden model."""

import json

import pytest

from hw.softex import Expp
from sim.runner import VerilatorSim

pytestmark = pytest.mark.verilator

CONFIGS = [
    # mode, lanes, latency
    ("softex", 1, 2),
    ("accurate", 1, 3),
    ("accurate", 4, 1),
    ("softex", 4, 0),        # combinational: no clock in the Verilog
]


@pytest.mark.parametrize("mode,lanes,latency", CONFIGS)
def test_expp_exhaustive(mode, lanes, latency):
    dut = Expp(lanes, mode=mode, latency=latency)
    sim = VerilatorSim.for_component(dut, name=f"expp_{mode}_x{lanes}_l{latency}")
    sim.run("tests.tb.expp_tb", params={"mode": mode, "lanes": lanes, "seed": 7 + lanes + latency,
                                        "gap": 0.25, "stall": 0.25})
    run_dir = getattr(sim, "last_run_dir", None)
    if run_dir is not None and (run_dir / "result.json").exists():
        result = json.loads((run_dir / "result.json").read_text())
        assert result["mismatches"] == 0 and result["inputs"] == 1 << 16
