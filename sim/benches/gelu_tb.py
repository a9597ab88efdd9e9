"""cocotb testbench of the GELU units (hw/softex/gelu_table.py, hw/softex/gelu.py; driven by
sim.regressions.GELU_REGRESSIONS): all 65,536 BF16 inputs against the golden model
(``sim.golden.gelu.gelu_job``, sim.tb.bf16_lanes.check_all_bf16). Parameters (``load_params``):
method, terms, acc_width, expp_mode (the expp unit's), lanes, seed, gap, stall. With no gaps or
stalls the cycle count is the throughput benchmark (cycles_per_element)."""

import cocotb

from sim.golden.gelu import gelu_job
from sim.tb.bf16_lanes import check_all_bf16
from sim.tb.params import load_params


@cocotb.test()
async def gelu_exhaustive(dut):
    p = load_params()
    method = p.get("method", "expp")
    terms, acc_width, mode = int(p["terms"]), int(p["acc_width"]), p["expp_mode"]
    label = ("gelu table" if method == "table" else f"gelu K={terms} W={acc_width} {mode}")
    record = ({"method": method} if method == "table" else
              {"method": method, "terms": terms, "acc_width": acc_width, "expp_mode": mode})
    await check_all_bf16(dut, lambda x: gelu_job(x, method=method, terms=terms,
                                                 acc_width=acc_width, expp_mode=mode),
                         lanes=int(p["lanes"]), seed=int(p.get("seed", 1)),
                         gap=float(p.get("gap", 0.25)), stall=float(p.get("stall", 0.25)),
                         run_id=p.get("run_id"), label=label, record=record)
