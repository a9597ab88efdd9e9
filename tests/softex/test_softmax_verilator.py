"""SoftEx softmax engine under Verilator/cocotb (sim/benches/softmax_tb.py): 0-ULP against the
golden model sim/golden/softmax.py, random grant stalls, slots, contexts, clear, errors, int8
input / output (both signedness, several integer bits, mixed with BF16)."""

import json
from pathlib import Path

import pytest

from hw.config import get_config
from hw.softex import build_engine
from hw.softex.gelu import Gelu
from hw.softex.softmax import SoftmaxEngine
from sim.regressions import SOFTEX_MEM, by_name, run_regression
from flows.runner import VerilatorSim

pytestmark = pytest.mark.verilator

BASE, SIZE = SOFTEX_MEM

#: Cycles of a row beyond the roofline 3 ceil(n/L) at the default latencies (L = 8: 46, of
#: which the reduction and the reciprocal of the pipelined lane FMAs take 34; docs/softmax.md).
ROW_OVERHEAD = 48
#: GELU rows: the GELU pipeline's fill (the engine's default gelu_latency) plus at most 10.
GELU_ROW_OVERHEAD = Gelu.N_CUTS + 10


def engine(lanes=8, **kw):
    return SoftmaxEngine(lanes, mem_base=BASE, mem_size=SIZE, **kw)


def test_softmax_default():
    """Default configuration (L = 8, accurate expp, GELU; the ``make sim`` regression
    softmax_l8), 30 % grant stalls: every test case; then cycles per row without stalls: a
    row of n elements takes 3 ceil(n/L) + C cycles with the same C <= ROW_OVERHEAD for every n
    (the roofline 3n/L plus the pipeline, the reduction and the reciprocal), GELU 2n/L + a
    constant, and int8 rows (int8 in and out) take exactly the cycles of BF16 rows."""
    result = run_regression(by_name("softmax_l8"), raise_on_failure=True,
                            bench=[64, 1024, 4096], bench_int8=True)
    assert result["mismatches"] == 0 and result["cases"] > 20_000, result
    run_dir = Path(result["run_dir"])
    cycles = json.loads((run_dir / "result.json").read_text())
    overhead = {n: cycles[str(n)] - 3 * n // 8 for n in (64, 1024, 4096)}
    assert len(set(overhead.values())) == 1 and overhead[64] <= ROW_OVERHEAD, cycles
    gelu = {n: cycles[f"gelu_{n}"] - 2 * n // 8 for n in (64, 1024, 4096)}
    assert len(set(gelu.values())) == 1 and gelu[64] <= GELU_ROW_OVERHEAD, cycles
    for n in (64, 1024, 4096):
        assert cycles[f"int8_{n}"] == cycles[str(n)], cycles


def test_softmax_l4_softex_mode():
    """Another lane count and the SoftEx-compatible expp, no expp registers, heavy stalls;
    built without the GELU unit (OP = GELU ends with BAD_CMD)."""
    sim = VerilatorSim.for_component(engine(4, mode="softex", expp_latency=0, gelu=False),
                                     name="softmax_l4_softex")
    sim.run("sim.benches.softmax_tb", params={"lanes": 4, "mem_base": BASE, "mem_size": SIZE,
                                           "stall": 0.6, "seed": 5, "mode": "softex",
                                           "long_n": 1000, "gelu": False})


def test_softmax_default_cluster_engine():
    """The SoftEx of the default cluster (hw/config.py: L = 4, GELU, ``expp_latency`` = 4, a
    register between the exponential and the pass-2 multiply), 30 % grant stalls: every test
    case 0-ULP; without stalls a row takes 3n/L + at most ROW_OVERHEAD plus the two extra
    exponential stages once in each pass."""
    sx = get_config("default").softex
    sim = VerilatorSim.for_component(build_engine(**sx.to_dict(), mem_base=BASE, mem_size=SIZE),
                                     name="softmax_default_cluster")
    sim.run("sim.benches.softmax_tb", params={"lanes": sx.lanes, "mem_base": BASE, "mem_size": SIZE,
                                           "stall": 0.3, "seed": 9, "long_n": 1000,
                                           "bench": [64, 1024]})
    cycles = json.loads((Path(sim.last_run_dir) / "result.json").read_text())
    extra = 2 * (sx.expp_latency - 2)          # both passes go through the exponential
    for n in (64, 1024):
        roofline = 3 * n // sx.lanes
        assert roofline < cycles[str(n)] <= roofline + ROW_OVERHEAD + extra, cycles
