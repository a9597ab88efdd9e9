"""Simulation speed: writes docs/sim_speed.md and docs/sim_speed.json.

    python -m scripts.bench_sim                # everything (about 25 minutes on 2 cores)
    python -m scripts.bench_sim --only system  # one part: system, steps, blocks, batch

What is measured, each on this machine (its load is recorded before and after):

- **system**: the default accelerated cluster running the attention head of ``make sim``
  (firmware to exit code), simulated cycles per second of the run (load excluded), and the
  cold build of each simulator, built afresh in build/bench_sim/: the compiled harness with a
  profile-guided build (``SIM_PGO=1``), the same without the profile (what ``make sim`` uses;
  the test suite builds it at -O1, tests/conftest.py), the project's cocotb bench on the project's build (top ports public), the cocotb bench
  on the build recipe of cocotb's runner (``--public-flat-rw``, C++ at -O0; the recipe before
  this benchmark existed), and Amaranth's simulator (the first cycles of the same program).
- **steps**: the compiled harness on the same run, one change at a time, to show what each
  change is worth.
- **blocks**: the tensor unit alone on a 96 x 96 x 96 GEMM and the SoftEx engine alone on
  long rows (the block regressions' builds of the two blocks), of the default configuration
  (compiled harness, cocotb bench, Amaranth's simulator) and of ``large`` (compiled harness).
- **batch**: runs per second of short jobs on one build: a 16 x 16 x 16 GEMM on the tensor
  unit, one SoftEx row job, the tiny configuration's attention head (system runs started from
  a snapshot of the loaded model, or forked from it), on 1 and 2 processes.

Every speed is the median of ``--repeat`` runs; every simulated result is checked (the system
runs' O against the golden model, the block jobs bit for bit), so a fast wrong simulator cannot
enter the table.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from rich.console import Console

from flows.docs import splice
from flows.elf import load_elf
from flows.emit import to_verilog
from flows.runner import VerilatorSim
from flows.toolchain import BUILD
from hw.catalog import build as build_component
from hw.config import get_config
from sim.amaranth_speed import amaranth_block_rate, amaranth_system_rate
from sim.attention import attention_inputs, build_attention, demo_shape, golden_attention
from sim.blocks import BlockSim, gemm_job, softmax_row_job
from sim.offload import run_program
from sim.regressions import by_name, regressions
from sim.system import Run, SystemSim

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sim_speed.md"
JSON = ROOT / "docs" / "sim_speed.json"
SCRATCH = BUILD / "bench_sim"
console = Console()


def _slug(label):
    """A folder name for a row label (make cannot build in folders with spaces)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")[:60]


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def _median(values):
    return statistics.median(values) if values else None


# ---- system: the default accelerated cluster, attention head ------------------------------

class SystemBench:
    def __init__(self, config="default"):
        self.config = config
        t = time.perf_counter()
        self.top = build_component(config, "cluster")
        # elaborated here whatever flows.emit's cache holds: the emission's own time
        self.verilog = to_verilog(self.top, f"system_{config}")[0]
        self.emit_seconds = time.perf_counter() - t
        self.params = self.top.params
        self.shape = demo_shape(config)
        self.q, self.k, self.v = attention_inputs(self.shape)
        self.elf = build_attention(self.shape, self.q, self.k, self.v, pipeline=True)
        self.name = f"system_{config}"
        self.want_o = golden_attention(self.shape, self.q, self.k, self.v,
                                       lanes=self.params["softex"]["lanes"], pipeline=True,
                                       sbuf_addr=load_elf(self.elf).symbols["sbuf"])["o"]

    def check(self, result):
        """O, read back from memory, against the golden model (bit for bit)."""
        st = self.shape.strides
        o = result.array("o").reshape(self.shape.seq, st["OS"] // 2)[:, :self.shape.head_dim]
        if not np.array_equal(o, self.want_o):
            raise AssertionError("the attention head's O differs from the golden model")

    def native(self, label, repeat, *, fresh=True, **kwargs):
        root = SCRATCH / "native" / _slug(label)
        if fresh:
            shutil.rmtree(root, ignore_errors=True)
        kwargs.setdefault("pgo", True)              # profile-guided unless told
        sim = SystemSim.for_verilog(self.verilog, self.name, self.params, build_root=root,
                                    **kwargs)
        dump = {"o": self.shape.seq * self.shape.strides["OS"]}
        rates, cycles = [], None
        for _ in range(repeat):
            r = sim.run_or_raise(self.elf, dump, max_cycles=20_000_000)
            rates.append(r["cycles_per_second"])
            cycles = r["cycles"]
        self.check(r)
        return dict(label=label, cycles=cycles, cycles_per_second=_median(rates),
                    runs=[round(x) for x in rates], build_seconds=sim.build.build_seconds)

    def cocotb(self, label, repeat, **kwargs):
        root = SCRATCH / "cocotb" / _slug(label)
        shutil.rmtree(root, ignore_errors=True)
        sim = VerilatorSim(self.verilog, self.name, build_root=root, **kwargs)
        t = time.perf_counter()
        sim.build()
        build = time.perf_counter() - t
        dump = {"o": self.shape.seq * self.shape.strides["OS"]}
        rates = []
        for _ in range(repeat):
            r = run_program(sim, self.params, self.elf, dump, max_cycles=20_000_000)
            rates.append(r["cycles"] / r["seconds"])
        self.check(r)
        return dict(label=label, cycles=r["cycles"], cycles_per_second=_median(rates),
                    runs=[round(x) for x in rates], build_seconds=build)

    def amaranth(self, cycles):
        r = amaranth_system_rate(self.top, self.elf, imem_size=self.params["imem_kib"] * 1024,
                                 spm_size=self.params["scratchpad_kib"] * 1024, cycles=cycles)
        return dict(label="Amaranth simulator", cycles=r["cycles"],
                    cycles_per_second=r["cycles_per_second"], runs=[round(r["cycles_per_second"])],
                    build_seconds=None, note=f"first {r['cycles']:,} cycles after the load")


def _row(label, measure, *args, **kwargs):
    """One row: ``measure(*args, **kwargs)``, or the error it raised (the table says so)."""
    try:
        return measure(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported in the table, the other rows go on
        console.print(f"[red]{label}: {type(e).__name__}: {e}"[:2000])
        return dict(label=label, cycles=None, cycles_per_second=None, runs=[],
                    build_seconds=None, note=f"failed: {type(e).__name__}: {str(e)[:200]}")


def bench_system(repeat, amaranth_cycles):
    b = SystemBench()
    pgo = "compiled harness, -O3, profile-guided (SIM_PGO=1)"
    o3 = "compiled harness, -O3 (make sim)"
    new = "cocotb bench, top ports public, -O1 (block tests)"
    old = "cocotb bench, --public-flat-rw, -O0 (cocotb runner's recipe)"
    rows = [_row(pgo, b.native, pgo, repeat),
            _row(o3, b.native, o3, repeat, pgo=False),
            _row(new, b.cocotb, new, repeat),
            _row(old, b.cocotb, old, 1, public_flat=True, cxx_opt="-O0"),
            _row("Amaranth simulator", b.amaranth, amaranth_cycles)]
    return dict(design=f"default accelerated cluster, attention head {b.shape.seq} x "
                       f"{b.shape.head_dim}", emit_seconds=b.emit_seconds, rows=rows)


def bench_steps(repeat):
    """The compiled harness, one change at a time (each a cold build)."""
    b = SystemBench()
    steps = [
        ("top ports only, clock loop in C++, -O2", dict(registered_inputs=(), registered_buses=(),
                                                     pgo=False, cxx_opt="-O2")),
        ("+ reset and fetch_enable registered", dict(registered_buses=(), pgo=False,
                                                     cxx_opt="-O2")),
        ("+ loader requests registered (no input-combinational logic)", dict(pgo=False,
                                                                              cxx_opt="-O2")),
        ("+ C++ -O3", dict(pgo=False, cxx_opt="-O3")),
        ("+ profile-guided build", dict(cxx_opt="-O3")),
    ]
    rows = []
    for i, (label, kwargs) in enumerate(steps):
        rows.append(_row(label, b.native, f"step{i}", repeat, **kwargs) | {"label": label})
    return dict(design="default accelerated cluster, attention head", rows=rows)


# ---- blocks --------------------------------------------------------------------------------

#: The configurations whose blocks are measured: the default cluster's (every simulator) and
#: the larger ones of the block regressions (``sim.regressions.TEST_CONFIG``; compiled only).
BLOCK_CONFIGS = ("default", "large")


def _reg(config, kind):
    """The block regression ``kind`` ("tensor" or "softmax") of ``config``."""
    regs = regressions(config)
    lanes = get_config(config).softex.lanes
    return by_name("tensor_unit" if kind == "tensor" else f"softmax_l{lanes}", regs)


def _block(reg, label, *, fresh, **kwargs):
    root = SCRATCH / "blocks" / reg.name / _slug(label)
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    p = reg.params
    return reg, BlockSim(reg.component(), reg.name, mem_base=p["mem_base"], mem_size=p["mem_size"],
                         build_root=root, **kwargs)


def _block_native(reg, label, job, profile_job, repeat, **kwargs):
    kwargs.setdefault("pgo", True)
    _, sim = _block(reg, label, fresh=True, **kwargs)
    if sim.build.pgo:
        sim.build.build(profile=lambda model: profile_job(sim.wrap(model)))
    rates = []
    with sim.open() as blk:
        for i in range(repeat):
            job(blk, i)
            rates.append(blk.last_run[0] / blk.last_run[1])
        cycles = blk.last_run[0]
    return dict(label=label, cycles=cycles, cycles_per_second=_median(rates),
                runs=[round(x) for x in rates], build_seconds=sim.build.build_seconds)


def _block_cocotb(reg, label, repeat, **kwargs):
    """The cocotb bench of the block on one long job without stalls; the speed is that of
    the cycles spent waiting for the done event (programming and checks excluded)."""
    reg_name = reg.name
    root = SCRATCH / "blocks" / reg_name / _slug(label)
    shutil.rmtree(root, ignore_errors=True)
    sim = VerilatorSim.for_component(reg.component(), reg.name, build_root=root, **kwargs)
    t = time.perf_counter()
    sim.build()
    build = time.perf_counter() - t
    p = reg.params
    rates, cycles = [], None
    for i in range(repeat):
        if reg_name == "tensor_unit":
            out = root / "res.json"
            sim.run("sim.benches.tensor_tb", name="bench_sim", params=dict(
                L=p["L"], H=p["H"], P=p["P"], acc=p["acc"], mem_base=p["mem_base"],
                mem_size=p["mem_size"], stall=0.0, results=str(out),
                jobs=[[dict(M=96, N=96, K=96, op="GEMM", seed=i)]]))
            r = json.loads(out.read_text())[0]
        else:
            sim.run("sim.benches.softmax_tb", name="bench_sim", testcase="bench",
                    params=dict(lanes=p["lanes"], mem_base=p["mem_base"], mem_size=p["mem_size"],
                                stall=0.0, seed=i, bench=[16_384]))
            r = json.loads((sim.last_run_dir / "result.json").read_text())
        cycles = r["wait_cycles"]
        rates.append(r["wait_cycles"] / r["wait_seconds"])
    note = "one softmax and one GELU job" if reg_name != "tensor_unit" else ""
    return dict(label=label, cycles=cycles, cycles_per_second=_median(rates),
                runs=[round(x) for x in rates], build_seconds=build, note=note)


def bench_blocks(repeat, amaranth_cycles):
    out = []
    n_row = 16_384
    for config in BLOCK_CONFIGS:
        tensor, softmax = _reg(config, "tensor"), _reg(config, "softmax")
        t = tensor.params
        lanes = softmax.params["lanes"]
        t_job = lambda blk, i: gemm_job(blk, 96, 96, 96, seed=i)                    # noqa: E731
        t_prof = lambda blk: gemm_job(blk, 32, 32, 32, seed=99)                     # noqa: E731
        s_job = (lambda lanes: lambda blk, i: softmax_row_job(blk, n_row, lanes=lanes,
                                                               seed=i))(lanes)
        s_prof = (lambda lanes: lambda blk: softmax_row_job(blk, 1024, lanes=lanes,
                                                             seed=99))(lanes)
        full = config == BLOCK_CONFIGS[0]
        for reg, design, job, prof, am in [
                (tensor, f"tensor unit alone ({t['L']} x {t['H']} x {t['P']}, configuration "
                         f"{config}), 96 x 96 x 96 GEMM", t_job, t_prof, _amaranth_gemm),
                (softmax, f"SoftEx engine alone ({lanes} lanes, GELU, configuration {config}), "
                          f"softmax rows of {n_row:,}", s_job, s_prof, _amaranth_softmax)]:
            pgo, o3 = "compiled harness, -O3, profile-guided", "compiled harness, -O3"
            rows = [_row(pgo, _block_native, reg, pgo, job, prof, repeat),
                    _row(o3, _block_native, reg, o3, job, prof, repeat, pgo=False)]
            if full:
                rows += [_row("cocotb bench", _block_cocotb, reg,
                              "cocotb bench, top ports public, -O1 (block tests)", repeat),
                         _row("cocotb bench (recipe)", _block_cocotb, reg,
                              "cocotb bench, --public-flat-rw, -O0 (cocotb runner's recipe)", 1,
                              public_flat=True, cxx_opt="-O0"),
                         _row("Amaranth simulator", am, reg, amaranth_cycles)]
            out.append(dict(design=design, rows=rows))
    return out


def _amaranth_gemm(reg, cycles):
    from hw.tensor.regmap import TensorOp
    p = reg.params
    dut = reg.component()
    base = p["mem_base"]
    beat = len(dut.tcdm.wdata) // 8
    stride = -(-2 * 96 // beat) * beat
    rng = np.random.default_rng(1)
    data = rng.integers(0x3C00, 0x4000, 96 * stride // 2, dtype=np.uint16).tobytes()
    regs = dict(X_PTR=base, W_PTR=base + 96 * stride, Y_PTR=base + 2 * 96 * stride,
                Z_PTR=base + 3 * 96 * stride, X_STRIDE=stride, W_STRIDE=stride, Y_STRIDE=stride,
                Z_STRIDE=stride, DIM_MN={"M": 96, "N": 96}, DIM_K={"K": 96},
                COMMAND={"OP": int(TensorOp.GEMM)})
    r = amaranth_block_rate(dut, regs, mem_base=base, mem_size=p["mem_size"],
                            preload=[(base + i * 96 * stride, data) for i in range(3)],
                            cycles=cycles)
    return dict(label="Amaranth simulator", cycles=r["cycles"],
                cycles_per_second=r["cycles_per_second"], runs=[round(r["cycles_per_second"])],
                build_seconds=None, note=f"first {r['cycles']:,} cycles of the job")


def _amaranth_softmax(reg, cycles):
    p = reg.params
    dut = reg.component()
    base = p["mem_base"]
    n = 16_384
    rng = np.random.default_rng(1)
    from sim.golden.softmax import float_to_bf16
    x = np.asarray(float_to_bf16(rng.normal(0, 3, n)), np.uint16)
    regs = {"IN_ADDR": base, "OUT_ADDR": base, "LENGTH": {"ELEMS": n}, "ROWS": {"COUNT": 1},
            "COMMAND": {"OP": 0, "ACC": 1, "DIV": 1}}
    r = amaranth_block_rate(dut, regs, mem_base=base, mem_size=p["mem_size"],
                            preload=[(base, x.tobytes())], cycles=cycles)
    return dict(label="Amaranth simulator", cycles=r["cycles"],
                cycles_per_second=r["cycles_per_second"], runs=[round(r["cycles_per_second"])],
                build_seconds=None, note=f"first {r['cycles']:,} cycles of the job")


# ---- batch ---------------------------------------------------------------------------------

_BATCH = {}          # the block's simulator, made before the workers fork (they inherit it)


def _block_worker(args):
    kind, n_runs, seed0 = args
    sim, lanes = _BATCH[kind]
    with sim.open() as blk:
        def job(expect=None):
            if kind == "gemm":
                return gemm_job(blk, 16, 16, 16, seed=seed0, expect=expect)
            return softmax_row_job(blk, 1024, lanes=lanes, seed=seed0, expect=expect)
        job()                                    # checked against the golden model once
        expect = blk.last_output.copy()
        t = time.perf_counter()
        for _ in range(n_runs):                  # each run checked against the first
            job(expect)
        return time.perf_counter() - t


def _block_batch(reg, kind, n_runs):
    reg, sim = _block(reg, "batch", fresh=True, pgo=False)
    sim.build.build()
    _BATCH[kind] = (sim, reg.params.get("lanes"))
    out = {}
    for procs in (1, 2):
        t = time.perf_counter()
        with ProcessPoolExecutor(procs, mp_context=get_context("fork")) as pool:
            list(pool.map(_block_worker, [(kind, n_runs // procs, 1000 * w)
                                          for w in range(procs)]))
        out[procs] = n_runs / (time.perf_counter() - t)
    return out


def bench_batch(n_runs):
    rows = []
    config = BLOCK_CONFIGS[0]
    g = _block_batch(_reg(config, "tensor"), "gemm", n_runs)
    rows.append(dict(job=f"16 x 16 x 16 GEMM on the tensor unit (configuration {config}; "
                         "inputs written, program, run, read back, compared with the first "
                         "run's golden-checked result)", per_second=g))
    s = _block_batch(_reg(config, "softmax"), "softmax", n_runs)
    rows.append(dict(job=f"one SoftEx softmax row job, 1,024 elements (configuration {config}; "
                         "the same)", per_second=s))
    top = build_component("tiny", "cluster")
    shape = demo_shape("tiny")
    q, k, v = attention_inputs(shape)
    elf = build_attention(shape, q, k, v, pipeline=True, report=False)   # no text report
    want = golden_attention(shape, q, k, v, lanes=top.params["softex"]["lanes"],
                            sbuf_addr=load_elf(elf).symbols["sbuf"], pipeline=True)["o"]
    runs = [Run(str(elf), {"o": shape.seq * shape.strides["OS"]}, tag=i) for i in range(n_runs)]
    modes = [(True, "pool", "worker processes, each loading the image once and starting every "
                            "run from the model's snapshot after the load; worker start-up "
                            "included"),
             (True, "fork", "each run a fork of one loaded model"),
             (False, "pool", "the same, the build without the profile")]
    for pgo, mode, how in modes:
        sim = SystemSim.for_component(top, "system_tiny", top.params, pgo=pgo)
        first = sim.run_or_raise(elf, {"o": shape.seq * shape.strides["OS"]})
        got = np.frombuffer(bytes.fromhex(first["dump"]["o"]), dtype="<u2")
        if not np.array_equal(got.reshape(shape.seq, -1)[:, :shape.head_dim], want):
            raise AssertionError("the tiny head's O differs from the golden model")
        per = {}
        for procs in (1, 2):
            t = time.perf_counter()
            res = sim.run_batch(runs, jobs=procs, mode=mode)
            per[procs] = n_runs / (time.perf_counter() - t)
            if any(r["dump"] != first["dump"] or r["cycles"] != first["cycles"] for r in res):
                raise AssertionError(f"a {mode} batch run differs from the single run")
        build = "profile-guided build" if pgo else "-O3 build"
        rows.append(dict(job=f"tiny configuration's attention head {shape.seq} x "
                             f"{shape.head_dim} ({first['cycles']:,} cycles, without the "
                             f"firmware's text report; run, O read back and compared with the "
                             f"golden model's), {build}, `run_batch(mode={mode!r})`: {how}",
                         per_second=per))
    return rows


# ---- report --------------------------------------------------------------------------------

def _fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def _speed_table(part):
    lines = [f"**{part['design']}**", "",
             "| simulator | cold build (s) | cycles | cycles/s (median) | runs | note |",
             "|---|---:|---:|---:|---|---|"]
    for r in part["rows"]:
        lines.append(f"| {r['label']} | {_fmt(r.get('build_seconds'), '{:.0f}')} | "
                     f"{_fmt(r['cycles'])} | {_fmt(r['cycles_per_second'])} | "
                     f"{', '.join(f'{x:,}' for x in r['runs'])} | {r.get('note', '')} |")
    return lines


def render(results):
    m = results["machine"]
    out = [f"Measured by `python -m scripts.bench_sim` on {m['cpu']} ({m['cores']} cores). One "
           f"simulation runs on one core; builds use both. Load averages (1, 5, 15 min) before "
           f"and after each part:", ""]
    for part, load in results.get("load", {}).items():
        out.append(f"- {part}: {load['date']}, {load['before']} -> {load['after']}")
    out.append("")
    if "system" in results:
        s = results["system"]
        out += ["### System: firmware to exit code", ""] + _speed_table(s) + [
            "", f"Verilog emission (Amaranth elaboration and Yosys) of this design: "
                f"{s['emit_seconds']:.0f} s, not part of the build times.", ""]
    if "steps" in results:
        out += ["### What each change is worth", "",
                "The compiled harness on the same run, one change at a time (each a cold "
                "build):", ""] + _speed_table(results["steps"]) + [""]
    if "blocks" in results:
        out += ["### Blocks alone", ""]
        for part in results["blocks"]:
            out += _speed_table(part) + [""]
    if "batch" in results:
        out += ["### Many runs per build", "",
                "| job | runs/s, 1 process | runs/s, 2 processes |", "|---|---:|---:|"]
        for r in results["batch"]:
            out.append(f"| {r['job']} | {r['per_second']['1']:,.1f} | "
                       f"{r['per_second']['2']:,.1f} |")
        out.append("")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=("system", "steps", "blocks", "batch"),
                    help="parts to run (default: all); the others keep their last results")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--amaranth-cycles", type=int, default=3000)
    ap.add_argument("--batch-runs", type=int, default=300)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render", action="store_true",
                    help="only write docs/sim_speed.md again from docs/sim_speed.json")
    args = ap.parse_args(argv)
    if args.render:
        DOC.write_text(splice(DOC.read_text(), "sim speed", render(json.loads(JSON.read_text()))))
        return 0
    parts = args.only or ["system", "steps", "blocks", "batch"]
    results = json.loads(JSON.read_text()) if JSON.exists() and args.only else {}
    results.setdefault("load", {})
    for part in parts:
        load_before = _load()
        with console.status(f"[bold]{part}[/]: building and simulating ..."):
            t = time.perf_counter()
            if part == "system":
                results["system"] = bench_system(args.repeat, args.amaranth_cycles)
            elif part == "steps":
                results["steps"] = bench_steps(args.repeat)
            elif part == "blocks":
                results["blocks"] = bench_blocks(args.repeat, args.amaranth_cycles)
            else:
                results["batch"] = [dict(r, per_second={str(k): v for k, v in
                                                        r["per_second"].items()})
                                    for r in bench_batch(args.batch_runs)]
        results["load"][part] = dict(date=time.strftime("%Y-%m-%d %H:%M"), before=load_before,
                                     after=_load())
        console.print(f"{part}: {time.perf_counter() - t:.0f} s")
    results["date"] = time.strftime("%Y-%m-%d")
    results["machine"] = dict(cpu=platform.processor() or platform.machine(),
                              cores=os.cpu_count())
    text = render(results)
    console.print(text)
    if not args.no_write:
        JSON.write_text(json.dumps(results, indent=1) + "\n")
        page = DOC.read_text()
        DOC.write_text(splice(page, "sim speed", text))
        console.print(f"wrote {DOC.relative_to(ROOT)} and {JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
