"""cocotb testbench of hw/softex/expp.py (driven by sim.regressions.EXPP_REGRESSIONS): all
65,536 BF16 inputs against ``sim.golden.expp.expp`` under random stalls
(sim.tb.bf16_lanes.check_all_bf16). Parameters (``load_params``): mode, lanes, seed, gap, stall."""

import cocotb

from sim.golden.expp import expp
from sim.tb.bf16_lanes import check_all_bf16
from sim.tb.params import load_params


@cocotb.test()
async def expp_exhaustive(dut):
    p = load_params()
    mode = p["mode"]
    await check_all_bf16(dut, lambda x: expp(x, mode), lanes=int(p["lanes"]),
                         seed=int(p.get("seed", 1)), gap=float(p.get("gap", 0.25)),
                         stall=float(p.get("stall", 0.25)), run_id=p.get("run_id"),
                         label=f"expp {mode}", record={"mode": mode})
