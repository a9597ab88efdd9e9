"""The block regressions under Verilator/cocotb, listed in ONE place.

``REGRESSIONS`` is used by the pytest suite (tests/fp/test_fp_verilator.py: one test each) and
by the ``make sim`` report: each entry names a component factory, the cocotb module that tests
it and its parameters. :func:`run_regression` builds (cached under build/sim/<hash>/), runs,
and returns the numbers the test module left in its run folder::

    for reg in REGRESSIONS:
        r = run_regression(reg)
        print(r["name"], r["cases"], r["mismatches"], r["cycles"], r["passed"])
"""

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Regression", "REGRESSIONS", "FP_REGRESSIONS", "EXPP_REGRESSIONS", "GELU_REGRESSIONS", "run_regression", "by_name", "report",
           "report_row"]

FP_TB = "tests.tb.fp_tb"


@dataclass(frozen=True)
class Regression:
    name: str                        # also the Verilog top-level name (unique)
    factory: Callable[[], object]    # builds the Amaranth component (imports lazily)
    params: dict = field(default_factory=dict)
    tb: str = FP_TB                  # cocotb module
    result_file: str = "fp_result.json"

    def component(self):
        return self.factory()


def _fp(cls_name, *args, **kwargs):
    def factory():
        import hw.fp
        from hw.fp import BF16, FP32
        fmts = {"bf16": BF16, "fp32": FP32}
        args_ = [fmts.get(a, a) if isinstance(a, str) else a for a in args]
        kwargs_ = {k: fmts.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return getattr(hw.fp, cls_name)(*args_, **kwargs_)
    return factory


# Stimulus sizes: >= 200,000 random cases plus every corner combination for the binary and
# ternary ops; exhaustive unary ops. Stalls: the first 20,000 cases run with heavy random
# stalls (input gaps 30 %, output stalls 50 %), the rest with light ones (5 % / 5 %).
_RANDOM = 200_000

FP_REGRESSIONS = [
    Regression("fp_add_bf16", _fp("FPAdd", "bf16", latency=2),
               {"op": "add", "fmt": "bf16", "random": _RANDOM, "seed": 1}),
    Regression("fp_add_fp32", _fp("FPAdd", "fp32", latency=2),
               {"op": "add", "fmt": "fp32", "random": _RANDOM, "seed": 2}),
    Regression("fp_mul_bf16", _fp("FPMul", "bf16", latency=2),
               {"op": "mul", "fmt": "bf16", "random": _RANDOM, "seed": 3}),
    Regression("fp_fma_bf16", _fp("FPFMA", "bf16", latency=2, mul_fmt="bf16"),
               {"op": "fma", "acc_fmt": "bf16", "mul_fmt": "bf16", "random": _RANDOM, "seed": 4,
                "corner_neg": "all"}),
    Regression("fp_fma_fp32", _fp("FPFMA", "fp32", latency=3, mul_fmt="bf16"),
               {"op": "fma", "acc_fmt": "fp32", "mul_fmt": "bf16", "random": _RANDOM, "seed": 5,
                "corner_neg": "all"}),
    Regression("fp_compare_bf16", _fp("FPCompare", "bf16", latency=2),
               {"op": "compare", "fmt": "bf16", "random": _RANDOM, "seed": 6}),
    Regression("fp_convert_fp32_bf16", _fp("FPConvert", "fp32", "bf16", latency=2),
               {"op": "convert", "src_fmt": "fp32", "dst_fmt": "bf16", "random": _RANDOM, "seed": 7}),
    Regression("fp_convert_bf16_fp32", _fp("FPConvert", "bf16", "fp32", latency=0),
               {"op": "convert", "src_fmt": "bf16", "dst_fmt": "fp32", "seed": 8}),
    Regression("fp_int_to_float_8", _fp("IntToFloat", 8, "bf16", latency=0),
               {"op": "int_to_float", "width": 8, "fmt": "bf16", "seed": 9}),
    Regression("fp_float_to_int_8", _fp("FloatToInt", 8, "bf16", latency=2),
               {"op": "float_to_int", "width": 8, "fmt": "bf16", "seed": 10}),
]

def _expp(mode, lanes, latency):
    def factory():
        from hw.softex import Expp
        return Expp(lanes, mode=mode, latency=latency)
    return Regression(f"expp_{mode}_x{lanes}_l{latency}", factory,
                      {"mode": mode, "lanes": lanes, "seed": 7 + lanes + latency, "gap": 0.25, "stall": 0.25},
                      tb="tests.tb.expp_tb", result_file="result.json")


# expp: all 65,536 BF16 inputs through each configuration (both modes, several lane counts and
# latencies; latency 0 is combinational and has no clock in the Verilog).
EXPP_REGRESSIONS = [
    _expp("softex", 1, 2),
    _expp("accurate", 1, 3),
    _expp("accurate", 4, 1),
    _expp("softex", 4, 0),
]

def _gelu(lanes, latency, gap, stall, seed):
    def factory():
        from hw.softex.gelu import Gelu
        return Gelu(lanes, latency=latency)
    from hw.softex.gelu_coeffs import DEFAULT_TERMS
    return Regression(f"gelu_x{lanes}_l{latency}{'_stall' if gap else '_full'}", factory,
                      {"terms": DEFAULT_TERMS, "acc_width": 14, "expp_mode": "accurate",
                       "lanes": lanes, "seed": seed, "gap": gap, "stall": stall},
                      tb="tests.tb.gelu_tb", result_file="result.json")


# GELU (default K, 14-bit accumulator, accurate expp): all 65,536 inputs, once under random
# stalls and once at full throughput (the benchmark: cycles per element = 1/lanes + fill).
GELU_REGRESSIONS = [
    _gelu(1, 6, 0.25, 0.25, 21),
    _gelu(2, 3, 0.0, 0.0, 22),
]

REGRESSIONS = FP_REGRESSIONS + EXPP_REGRESSIONS + GELU_REGRESSIONS


def by_name(name):
    for reg in REGRESSIONS:
        if reg.name == name:
            return reg
    raise KeyError(f"no regression {name!r}; known: {', '.join(r.name for r in REGRESSIONS)}")


def run_regression(reg, *, raise_on_failure=False, waves=False, **overrides):
    """Build and run one regression; returns a dict: name, passed, cases, mismatches, cycles,
    seconds (wall, incl. build), sim_seconds, first_mismatches, error (text or None), run_dir.

    ``overrides`` replace entries of ``reg.params`` (e.g. ``random=1000`` for a quick run).
    With ``raise_on_failure`` a failing run raises :class:`sim.runner.SimulationFailed`.
    """
    from sim.runner import SimulationFailed, VerilatorSim
    from sim.tb.layout import layout_to_json

    t0 = time.perf_counter()
    component = reg.component()
    params = {**reg.params, **overrides, "name": reg.name, "run_id": uuid.uuid4().hex,
              "latency": getattr(component, "latency", None)}
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
    import argparse
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
