"""The block regressions under Verilator/cocotb, built from the catalogue of a configuration.

``regressions(config)`` lists them for a configuration: every block comes from the catalogue
(:mod:`hw.catalog`, the registry that emission and synthesis use too) with that configuration's
parameters, plus, for the expp and GELU units, variants of the catalogue entry over lanes,
modes and latencies. ``make sim CONFIG=...`` runs ``regressions(CONFIG)``; the pytest suite and
the block benchmarks run :data:`REGRESSIONS`, the list of configuration :data:`TEST_CONFIG`.
Each entry names the component, the cocotb bench that tests it (``sim.benches``) and its
parameters. :func:`run_regression` builds (cached under build/sim/<hash>/), runs, and returns
the numbers the bench left in its run folder::

    for reg in regressions("default"):
        r = run_regression(reg)
        print(r["name"], r["cases"], r["mismatches"], r["cycles"], r["passed"])
"""

import argparse
import json
import time
import uuid
from dataclasses import dataclass, field

from flows.runner import SimulationFailed, VerilatorSim
from hw.catalog import ComponentSpec, components
from hw.config import get_config
from hw.lanes import Lanes
from hw.softex.softmax import GELU_DEFAULT_LATENCY, GELU_METHODS
from hw.softex.gelu_coeffs import DEFAULT_TERMS

from .tb.layout import layout_to_json

__all__ = ["Regression", "regressions", "REGRESSIONS", "TEST_CONFIG", "FP_REGRESSIONS",
           "EXPP_REGRESSIONS", "GELU_REGRESSIONS", "ENGINE_REGRESSIONS", "TENSOR_SHAPES",
           "TENSOR_OPS", "SOFTEX_MEM", "TENSOR_MEM", "tensor_jobs", "run_regression", "by_name",
           "report", "report_row"]

#: The configuration whose blocks the pytest suite and the block benchmarks regress.
TEST_CONFIG = "large"

FP_TB = "sim.benches.fp_tb"


@dataclass(frozen=True)
class Regression:
    name: str                        # also the Verilog top-level name (unique)
    spec: ComponentSpec              # the catalogue entry, with its overrides
    params: dict = field(default_factory=dict)
    tb: str = FP_TB                  # cocotb module
    result_file: str = "fp_result.json"
    lanes: int = 1                   # copies of the operator side by side (hw.lanes.Lanes)

    def component(self):
        if self.lanes == 1:
            return self.spec()
        return Lanes(self.spec, self.lanes)


# ---- arithmetic: the configuration's operators ---------------------------------------------
# Stimulus sizes: >= 200,000 random cases plus every corner combination for the binary and
# ternary ops; exhaustive unary ops. Stalls: the first 20,000 beats run with heavy random
# stalls (input gaps 30 %, output stalls 50 %), the rest with light ones (5 % / 5 %).
# Each beat carries FP_LANES cases, one per copy of the operator (hw.lanes): the bench's
# Python cost is per cycle, so this divides an operator regression's time by about FP_LANES.
_RANDOM = 200_000
FP_LANES = 8


def _fp_regressions(specs, width):
    """(regression name, catalogue name, bench parameters) of every arithmetic operator."""
    table = [
        ("fp_add_bf16", "add_bf16", {"op": "add", "fmt": "bf16", "random": _RANDOM}),
        ("fp_add_fp32", "add_fp32", {"op": "add", "fmt": "fp32", "random": _RANDOM}),
        ("fp_mul_bf16", "mul_bf16", {"op": "mul", "fmt": "bf16", "random": _RANDOM}),
        ("fp_fma_bf16", "fma_bf16", {"op": "fma", "acc_fmt": "bf16", "mul_fmt": "bf16",
                                     "random": _RANDOM, "corner_neg": "all"}),
        ("fp_fma_fp32", "fma_fp32", {"op": "fma", "acc_fmt": "fp32", "mul_fmt": "bf16",
                                     "random": _RANDOM, "corner_neg": "all"}),
        ("fp_compare_bf16", "compare_bf16", {"op": "compare", "fmt": "bf16",
                                             "random": _RANDOM}),
        ("fp_convert_fp32_bf16", "cvt_fp32_bf16", {"op": "convert", "src_fmt": "fp32",
                                                   "dst_fmt": "bf16", "random": _RANDOM}),
        ("fp_convert_bf16_fp32", "cvt_bf16_fp32", {"op": "convert", "src_fmt": "bf16",
                                                   "dst_fmt": "fp32"}),
        ("fp_scale_bf16", "scale_bf16", {"op": "scale", "fmt": "bf16", "exp_width": 8,
                                         "random": _RANDOM}),
        (f"fp_int_to_float_{width}", f"int{width}_to_bf16", {"op": "int_to_float",
                                                              "width": width, "fmt": "bf16"}),
        (f"fp_float_to_int_{width}", f"bf16_to_int{width}", {"op": "float_to_int",
                                                              "width": width, "fmt": "bf16"}),
    ]
    return [Regression(name, specs[entry], {**params, "seed": seed}, lanes=FP_LANES)
            for seed, (name, entry, params) in enumerate(table, 1)]


# ---- expp and GELU: the configuration's unit and variants over lanes, modes, latencies ------

def _expp_regressions(spec):
    """All 65,536 BF16 inputs through the catalogue's expp unit and variants of it (both modes,
    several lane counts and latencies; latency 0 is combinational and has no clock)."""
    variants = [dict(mode="softex", lanes=1, latency=2), dict(mode="accurate", lanes=1, latency=3),
                dict(mode="accurate", lanes=4, latency=1), dict(mode="softex", lanes=4, latency=0)]
    out = []
    for v in variants:
        mode, lanes, latency = v["mode"], v["lanes"], v["latency"]
        out.append(Regression(f"expp_{mode}_x{lanes}_l{latency}", spec.replace(**v),
                              {"mode": mode, "lanes": lanes, "seed": 7 + lanes + latency,
                               "gap": 0.25, "stall": 0.25},
                              tb="sim.benches.expp_tb", result_file="result.json"))
    return out


def _gelu_regressions(specs, config):
    """Both GELU units (the table; the expp unit at the default K, 14-bit accumulator, accurate
    expp): all 65,536 inputs, once under random stalls (at the unit's default latency) and once
    at full throughput (the benchmark: cycles per element = 1/lanes + fill)."""
    out = []
    n = config.softex.lanes // 2
    for method in GELU_METHODS:
        spec = specs[f"gelu_x{n}" if method == config.softex.gelu_method else f"gelu_{method}_x{n}"]
        for lanes, latency, gap, stall, seed in ((1, GELU_DEFAULT_LATENCY[method], 0.25, 0.25, 21),
                                                  (2, 1 if method == "table" else 3, 0.0, 0.0, 22)):
            out.append(Regression(
                f"gelu_{method}_x{lanes}_l{latency}{'_stall' if gap else '_full'}",
                spec.replace(lanes=lanes, latency=latency),
                {"method": method, "terms": DEFAULT_TERMS, "acc_width": 14,
                 "expp_mode": "accurate", "lanes": lanes, "seed": seed, "gap": gap,
                 "stall": stall},
                tb="sim.benches.gelu_tb", result_file="result.json"))
    return out


# ---- engines: whole jobs through the register file and a stalling scratchpad ---------------
# Their testbenches compare the whole memory image after every job; `cases` counts the output
# elements (and state slots) compared, `mismatches` the failing checks (a test stops at its
# first), `cycles` the simulated cycles (sim/tb/summary.py).

SOFTEX_MEM = (0x1000_0000, 0x20000)          # scratchpad window (base, size) of the SoftEx runs
TENSOR_MEM = (0x1000_0000, 1 << 19)
#: (M, N, K) with L=4, D=16, H=4: 1s, primes, just below/at/above tile multiples in every
#: dimension (M vs L, N vs D, K vs H and vs the X beat D), and 96^3.
TENSOR_SHAPES = [
    (1, 1, 1), (1, 16, 4), (4, 16, 16), (3, 5, 7), (5, 17, 3), (7, 13, 11), (8, 32, 8),
    (4, 15, 5), (9, 31, 17), (11, 33, 15), (13, 1, 19), (2, 47, 2), (17, 16, 1), (6, 18, 33),
    (12, 64, 31), (23, 29, 37), (1, 97, 13), (31, 3, 64), (16, 48, 65), (5, 2, 129),
    (33, 17, 47), (3, 80, 63), (20, 20, 20), (29, 41, 7), (96, 96, 96),
]
TENSOR_OPS = ["ADD_MAX", "ADD_MIN", "MUL_MAX", "MUL_MIN", "MAX_MIN", "MIN_MAX"]


def tensor_jobs(kind):
    """Job groups of sim/benches/tensor_tb.py: "shapes" (every regression shape, MATMUL and GEMM),
    "special" (special / cancelling operands, every GEMM-op), "b2b" (misprogrammed jobs, pairs
    on both contexts, a soft clear mid-job)."""
    if kind == "shapes":
        # every third job reads W scaled by 2^w_exp (COMMAND.W_EXP), -6 .. 6
        return [[dict(M=m, N=n, K=k, op="GEMM" if i % 2 else "MATMUL", data="normal", seed=i,
                      pad=i % 3, w_exp=(i % 13) - 6 if i % 3 == 0 else 0)]
                for i, (m, n, k) in enumerate(TENSOR_SHAPES)]
    if kind == "special":
        shapes = [(5, 17, 9), (4, 16, 4), (7, 3, 23), (9, 33, 5)]
        jobs = []
        for i, (m, n, k) in enumerate(shapes):
            for data in ("special", "cancel"):
                jobs.append([dict(M=m, N=n, K=k, op="GEMM", data=data, seed=100 + i)])
                jobs.append([dict(M=m, N=n, K=k, op="MATMUL", data=data, seed=200 + i)])
        for i, op in enumerate(TENSOR_OPS):
            m, n, k = shapes[i % len(shapes)]
            jobs.append([dict(M=m, N=n, K=k, op=op, data="normal", seed=300 + i)])
            jobs.append([dict(M=k, N=m, K=n, op=op, data="special", seed=400 + i,
                              w_exp=(-1) ** i * 7)])
        # W_EXP at and near its ends and across the subnormal / overflow edges of W
        for i, w_exp in enumerate((-128, -127, -120, -9, -1, 1, 9, 120, 126, 127)):
            m, n, k = shapes[i % len(shapes)]
            jobs.append([dict(M=m, N=n, K=k, op="GEMM" if i % 2 else "MATMUL",
                              data=("special", "cancel", "normal")[i % 3], seed=900 + i,
                              w_exp=w_exp)])
        return jobs
    if kind == "b2b":
        bad = [("zero_m", "BAD_DIM"), ("big_k", "BAD_DIM"), ("op", "BAD_OP"),
               ("align", "BAD_ALIGN"), ("stride", "BAD_STRIDE"), ("addr", "BAD_ADDR"),
               ("below", "BAD_ADDR")]
        jobs = []
        for i, (b, cause) in enumerate(bad):
            jobs.append([dict(M=5, N=20, K=7, bad=b, cause=cause)])
            # a good job right after every bad one, and pairs on both contexts
            jobs.append([dict(M=6, N=17, K=9, op="GEMM", seed=500 + i, w_exp=i - 3),
                         dict(M=3, N=40, K=21, op=TENSOR_OPS[i % len(TENSOR_OPS)], seed=600 + i)])
        jobs.append([dict(M=5, N=5, K=5, seed=700), dict(M=4, N=16, K=1, bad="op", cause="BAD_OP")])
        # soft clear in the middle of a job, then a good pair again
        jobs.append({"clear_after": 150, "job": dict(M=20, N=40, K=30, op="GEMM", seed=800)})
        jobs.append([dict(M=9, N=19, K=13, op="GEMM", seed=801), dict(M=4, N=16, K=4, seed=802)])
        return jobs
    raise ValueError(f"kind must be one of shapes, special, b2b; got {kind!r}")


def _engine_regressions(specs, config):
    """The SoftEx engines (expp and both LUT methods; every edge case under 30 % grant stalls)
    and the tensor unit (every shape, special operands and GEMM-op, misprogrammed and
    back-to-back jobs, soft clear; 25 % stalls, 30 % bus gaps) of ``config``."""
    lanes, t = config.softex.lanes, config.tensor
    softex_mem = dict(mem_base=SOFTEX_MEM[0], mem_size=SOFTEX_MEM[1])
    tensor_mem = dict(mem_base=TENSOR_MEM[0], mem_size=TENSOR_MEM[1])
    tensor = specs[f"tensor_{t.rows}x{t.cols}x{t.pipes}"]
    return [
        Regression(f"softmax_l{lanes}", specs[f"softex_softmax_x{lanes}"].replace(**softex_mem),
                   {"lanes": lanes, **softex_mem, "stall": 0.3, "seed": 11,
                    "gelu_method": config.softex.gelu_method},
                   tb="sim.benches.softmax_tb", result_file="summary.json"),
        Regression("tensor_unit", tensor.replace(**tensor_mem),
                   {"L": t.rows, "H": t.cols, "P": t.pipes, "acc": tensor.kwargs["acc"],
                    **tensor_mem, "stall": 0.25, "seed": 3, "gap_prob": 0.3,
                    "jobs": tensor_jobs("shapes") + tensor_jobs("special") + tensor_jobs("b2b")},
                   tb="sim.benches.tensor_tb", result_file="summary.json"),
        *(Regression(f"lut_softmax_{method}_l{lanes}",
                     specs[f"softex_lut_{method}_x{lanes}"].replace(**softex_mem),
                     {"lanes": lanes, "method": method, **softex_mem, "stall": 0.3,
                      "seed": seed},
                     tb="sim.benches.lut_softmax_tb", result_file="summary.json")
          for method, seed in (("a", 21), ("b", 22))),
    ]


def regressions(config="default"):
    """Every block regression of ``config`` (a Config or its name), in report order."""
    config = get_config(config)
    specs = components(config)
    lanes = config.softex.lanes
    return (_fp_regressions(specs, config.arith.fixed_width)
            + _expp_regressions(specs[f"expp_x{lanes}"])
            + _gelu_regressions(specs, config)
            + _engine_regressions(specs, config))


REGRESSIONS = regressions(TEST_CONFIG)
FP_REGRESSIONS = [r for r in REGRESSIONS if r.tb == FP_TB]
EXPP_REGRESSIONS = [r for r in REGRESSIONS if r.tb == "sim.benches.expp_tb"]
GELU_REGRESSIONS = [r for r in REGRESSIONS if r.tb == "sim.benches.gelu_tb"]
ENGINE_REGRESSIONS = [r for r in REGRESSIONS if r.result_file == "summary.json"]


def by_name(name, regs=REGRESSIONS):
    for reg in regs:
        if reg.name == name:
            return reg
    raise KeyError(f"no regression {name!r}; known: {', '.join(r.name for r in regs)}")


def run_regression(reg, *, raise_on_failure=False, waves=False, **overrides):
    """Build and run one regression; returns a dict: name, passed, cases, mismatches, cycles,
    seconds (wall, incl. build), sim_seconds, first_mismatches, error (text or None), run_dir.

    ``overrides`` replace entries of ``reg.params`` (e.g. ``random=1000`` for a quick run).
    With ``raise_on_failure`` a failing run raises :class:`flows.runner.SimulationFailed`.
    """
    t0 = time.perf_counter()
    component = reg.component()
    params = {**reg.params, **overrides, "name": reg.name, "run_id": uuid.uuid4().hex,
              "latency": getattr(component, "latency", None), "lanes_per_beat": reg.lanes}
    if hasattr(component, "operand_layout"):
        params["operand_layout"] = layout_to_json(component.operand_layout)
        params["result_layout"] = layout_to_json(component.result_layout)
    sim = VerilatorSim.for_component(component, reg.name, waves=waves)
    sim.build()
    t_built = time.perf_counter()
    error = None
    try:
        sim.run(reg.tb, params=params, name=reg.name)
    except SimulationFailed as e:
        error = e
    result = {}
    path = sim.last_run_dir / reg.result_file if sim.last_run_dir else None
    if path is not None and path.exists():
        data = json.loads(path.read_text())
        if data.get("run_id") == params["run_id"]:
            result = data
    out = {
        "name": reg.name,
        "passed": error is None,
        "cases": result.get("cases"),
        "mismatches": result.get("mismatches"),
        "cycles": result.get("cycles"),
        "kinds": result.get("kinds"),
        "first_mismatches": result.get("first_mismatches", []),
        "sim_seconds": result.get("sim_seconds"),
        "build_seconds": t_built - t0,
        "seconds": time.perf_counter() - t0,
        "error": None if error is None else str(error),
        "run_dir": str(sim.last_run_dir) if sim.last_run_dir else None,
    }
    if error is not None and raise_on_failure:
        raise error
    return out


def _num(v, fmt="{:,}"):
    return "-" if v is None else fmt.format(v)


def report_row(r):
    """One line of the report for a :func:`run_regression` result."""
    return (f"{r['name']:<24} {_num(r['cases']):>10} {_num(r['mismatches']):>10} "
            f"{_num(r['cycles']):>10} {_num(r['sim_seconds'], '{:.1f}'):>7} "
            f"{r['seconds']:>8.1f}  {'PASS' if r['passed'] else 'FAIL'}")


def report(results):
    """A plain-text table of :func:`run_regression` results (first mismatches below a row)."""
    lines = [f"{'regression':<24} {'cases':>10} {'mismatches':>10} {'cycles':>10} {'sim s':>7} "
             f"{'total s':>8}  result", "-" * 84]
    for r in results:
        lines.append(report_row(r))
        for m in r["first_mismatches"][:3]:
            lines.append(f"    {m}")
        if not r["passed"] and not r["first_mismatches"] and r["error"]:
            lines.append("    " + r["error"].splitlines()[0][:200] + f" (see {r['run_dir']}/sim.log)")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the Verilator/cocotb block regressions")
    ap.add_argument("names", nargs="*", help="regressions to run (default: all)")
    ap.add_argument("--random", type=int, help="override the number of random cases")
    ap.add_argument("--no-corners", action="store_true", help="skip the corner combinations")
    args = ap.parse_args(argv)
    overrides = {}
    if args.random is not None:
        overrides["random"] = args.random
    if args.no_corners:
        overrides["corners"] = False
    regs = [by_name(n) for n in args.names] if args.names else REGRESSIONS
    results = []
    for reg in regs:
        results.append(run_regression(reg, **overrides))
        print(report_row(results[-1]), flush=True)
    print()
    print(report(results))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
