"""SoftEx softmax engine under Verilator/cocotb (sim/benches/softmax_tb.py): 0-ULP against the
golden model sim/golden/softmax.py, random grant stalls, slots, contexts, clear, errors, int8
input / output (both signedness, several integer bits, mixed with BF16)."""

import json
from pathlib import Path

import pytest

from hw.config import get_config
from hw.softex import build_engine
from hw.softex.softmax import SoftmaxEngine
from sim.regressions import SOFTEX_MEM, by_name, run_regression
from flows.runner import VerilatorSim

pytestmark = pytest.mark.verilator

BASE, SIZE = SOFTEX_MEM


def engine(lanes=8, **kw):
    return SoftmaxEngine(lanes, mem_base=BASE, mem_size=SIZE, **kw)


def test_softmax_default():
    """Default configuration (L = 8, accurate expp, GELU; the ``make sim`` regression
    softmax_l8), 30 % grant stalls: every test case; then cycles per row without stalls: at
    least 90 % of the roofline 3n/L for n >= 1024 (GELU: 2n/L), and int8 rows (int8 in and
    out) take exactly the cycles of BF16 rows."""
    result = run_regression(by_name("softmax_l8"), raise_on_failure=True,
                            bench=[64, 1024, 4096], bench_int8=True)
    assert result["mismatches"] == 0 and result["cases"] > 20_000, result
    run_dir = Path(result["run_dir"])
    cycles = json.loads((run_dir / "result.json").read_text())
    for n in (1024, 4096):
        assert 3 * n / 8 >= 0.9 * cycles[str(n)], cycles
        assert 2 * n / 8 >= 0.9 * cycles[f"gelu_{n}"], cycles    # GELU: read + write
    assert cycles["64"] <= 3 * 64 // 8 + 20, cycles
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
    case 0-ULP; without stalls a row takes the 3n/L + 17 or 18 cycles of 2 stages (softmax.md)
    plus at most the two extra stages once in each pass (long rows hide some of them)."""
    sx = get_config("default").softex
    sim = VerilatorSim.for_component(build_engine(**sx.to_dict(), mem_base=BASE, mem_size=SIZE),
                                     name="softmax_default_cluster")
    sim.run("sim.benches.softmax_tb", params={"lanes": sx.lanes, "mem_base": BASE, "mem_size": SIZE,
                                           "stall": 0.3, "seed": 9, "long_n": 1000,
                                           "bench": [64, 1024]})
    cycles = json.loads((Path(sim.last_run_dir) / "result.json").read_text())
    extra = 2 * (sx.expp_latency - 2)          # both passes go through the exponential
    for n in (64, 1024):
        assert 3 * n // sx.lanes + 17 <= cycles[str(n)] <= 3 * n // sx.lanes + 18 + extra, cycles

