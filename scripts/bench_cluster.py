"""Cluster benchmarks in simulated cycles: docs/cluster_bench.md and docs/cluster_bench.png.

    python -m scripts.bench_cluster [--config default] [--quick]

1. Softmax: SoftEx (firmware/apps/softmax_offload.c on the AcceleratedCluster) against the
   software softmax (firmware/apps/softmax_sw.c, firmware/lib/bf16_softmax.c) on 1 core and on
   all cores, ROWS rows of n elements. The software touches no accelerator, so it runs on the
   plain cluster of the same configuration (same cores, memories and banks: the same cycles;
   tests/cluster/test_system_verilator.py checks that on a small case) -- a much faster model
   (the simulation speeds of both: docs/cluster_bench.md).
2. The cores' cycles per instruction (firmware/tests/cpi.c), to read the ratios with: the
   cores are sentinel-cpu (RV32I, multi-cycle, no FPU, no multiplier).
3. The attention head of ``make sim`` (sim/attention.py) with and without each accelerator:
   stage cycles with both accelerators measured end to end; the software stages (bf16_gemm
   for scale / qk / pv, bf16_softmax) measured on the plain cluster on the first query tile and
   multiplied by the number of tiles (every tile does the same work; stages are separated by
   barriers, so a variant's total is the sum of its stages).
4. Simulation speed: Verilator against Amaranth's Python simulator, same design and program.
"""

import argparse
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.progress import Progress

from flows.elf import load_elf
from flows.firmware import FIRMWARE, build
from hw.cluster import Cluster
from hw.cluster.system import AcceleratedCluster
from sim.attention import attention_inputs, demo_shape, golden_attention, run_attention
from sim.cluster_amaranth import run_amaranth
from sim.offload import (build_app, plain_sim, run_program, softex_softmax_mismatches,
                         softmax_inputs, sw_softmax, system_sim)

ROOT_DOCS = "docs"
ROWS = 4


def _cycles(text, key="cycles"):
    return int(re.search(rf"{key} (\d+)", text).group(1))


class Bench:
    def __init__(self, config, console):
        self.config = config
        self.console = console
        self.acc_sim, self.acc_params = system_sim(config)
        self.plain_sim, self.plain_params = plain_sim(config)

    # ---- 1. softmax ---------------------------------------------------------------------
    def softmax(self, n):
        x = softmax_inputs(ROWS, n, seed=n)
        out = dict(n=n)
        # One multi-row job (ROWS.COUNT = ROWS) and, for comparison, one job per row.
        for key, job_rows in (("softex", ROWS), ("softex_per_row", 1)):
            elf = build_app("softmax_offload.c", {"sx_in": x, "sx_out": x.size},
                            dict(ROWS=ROWS, N=n, JOB_ROWS=job_rows), preload=True)
            r = run_program(self.acc_sim, self.acc_params, elf, {"sx_out": 2 * x.size})
            assert r["exit_code"] == 0, r
            base, lanes = load_elf(elf).symbols["sx_in"], self.acc_params["softex"]["lanes"]
            bad, _ = softex_softmax_mismatches(x, r.array("sx_out").reshape(ROWS, n), base, lanes)
            assert not bad, f"SoftEx rows differ from the golden model (row: columns): {bad}"
            out[key] = _cycles(r["output"])
            out[f"{key}_sim_s"] = r["seconds"]
        want_sw = np.stack([sw_softmax(row) for row in x])
        for cores in (1, self.plain_params["cores"]):
            elf = build_app("softmax_sw.c", {"sx_in": x, "sw_out": x.size},
                            dict(ROWS=ROWS, N=n, USE_CORES=cores), sw_lib=True, preload=True)
            r = run_program(self.plain_sim, self.plain_params, elf, {"sw_out": 2 * x.size},
                            max_cycles=100_000_000)
            assert r["exit_code"] == 0, r
            assert np.array_equal(r.array("sw_out").reshape(ROWS, n), want_sw)
            out[f"sw_{cores}"] = _cycles(r["output"])
            out[f"sw_{cores}_sim_s"] = r["seconds"]
        return out

    # ---- 2. CPI ---------------------------------------------------------------------------
    def cpi(self):
        elf = build([FIRMWARE / "tests" / "cpi.c"])
        r = run_program(self.plain_sim, self.plain_params, elf, {})
        return {m.group(1): int(m.group(2)) / 64
                for m in re.finditer(r"^(\w+) (\d+)$", r["output"], re.M) if m.group(1) != "base"}

    # ---- 3. attention ---------------------------------------------------------------------
    def attention(self):
        shape = demo_shape(self.config)
        q, k, v = attention_inputs(shape)
        hw = run_attention(self.acc_sim, self.acc_params, shape, q, k, v)
        want = golden_attention(shape, q, k, v, lanes=self.acc_params["softex"]["lanes"],
                                sbuf_addr=hw["sbuf_addr"])
        assert np.array_equal(hw["o"], want["o"]), "attention O differs from the golden model"
        sw = run_attention(self.plain_sim, self.plain_params, shape, q, k, v, gemm_sw=True,
                           softmax_sw=True, tiles=1, max_cycles=200_000_000)
        want1 = golden_attention(shape, q, k, v, lanes=1, softex=False, tiles=1)
        assert np.array_equal(sw["o"], want1["o"]), "software attention differs from its model"
        tiles = shape.tiles
        return dict(shape=shape, tiles=tiles, hw=hw["stages"], hw_total=hw["total"],
                    hw_sim_s=hw["run"]["seconds"], hw_run_cycles=hw["run"]["cycles"],
                    sw_run_cycles=sw["run"]["cycles"],
                    sw={k: v * tiles for k, v in sw["stages"].items()},
                    sw_tile=sw["stages"], sw_sim_s=sw["run"]["seconds"])

    # ---- 4. simulation speed -----------------------------------------------------------
    def sim_speed(self, amaranth_cycles):
        """Cycles per second of hello.c on the accelerated and on the plain cluster, Verilator
        and Amaranth (accelerators idle; the attention run gives Verilator with them busy)."""
        out = {}
        hello = build([FIRMWARE / "tests" / "hello.c"])
        progs = {"accelerated": (AcceleratedCluster, self.acc_sim, self.acc_params, hello),
                 "plain": (Cluster, self.plain_sim, self.plain_params, hello)}
        for name, (top, vsim, params, elf) in progs.items():
            r = run_program(vsim, params, elf, {})
            out[name] = dict(verilator_cycles=r["cycles"], verilator_s=r["seconds"])
            res = run_amaranth(elf, top=top, max_cycles=amaranth_cycles, **params)
            assert res.exit_code == r["exit_code"], (res, r)
            out[name].update(amaranth_cycles=res.cycles, amaranth_s=res.seconds)
        return out


def _md_table(head, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"] + \
           ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def plot_variants(ax, variants):
    """Grouped bars (log scale; stacking on a log axis would misstate the shares): each
    stage and the total per variant."""
    names = list(variants)
    parts = ("scale", "qk", "softmax", "pv", "total")
    y = np.arange(len(names))
    h = 0.8 / len(parts)
    for i, part in enumerate(parts):
        vals = [sum(variants[n].values()) if part == "total" else variants[n][part]
                for n in names]
        ax.barh(y + (i - (len(parts) - 1) / 2) * h, vals, height=h, label=part,
                color="black" if part == "total" else None)
    ax.set_yticks(y, names)
    ax.set_xscale("log")
    ax.set_xlabel("cycles (log)")
    ax.legend(fontsize=8)


def write_docs(cfg_name, params, sm, cpi, att, speed, docs):
    matplotlib.use("Agg")
    docs = Path(docs)
    nc = params["cores"]
    L = ["# Cluster benchmarks", "",
         "Generated by `python -m scripts.bench_cluster` (simulated cycles; do not edit). "
         f"Configuration `{cfg_name}`: {nc} sentinel-cpu cores, SoftEx {params['softex']['lanes']} "
         f"lanes, tensor unit {'x'.join(str(params['tensor'][k]) for k in ('rows', 'cols', 'pipes'))}, "
         f"{params['scratchpad_kib']} KiB scratchpad in {params['banks']} banks.", "",
         f"## Softmax: SoftEx against software on the cores ({ROWS} rows of n elements)", "",
         f"SoftEx: `softmax_offload.c`, one job of {ROWS} rows (ROWS.COUNT = {ROWS}) and, for "
         "comparison, one job per row on both job contexts; cycles from the first ACQUIRE to "
         "idle, outputs bit-exact against the golden model; the speed-ups are those of the "
         f"{ROWS}-row job. Software: `softmax_sw.c` "
         "(`bf16_softmax`: BF16 emulated in integer code, error <= 2^-7 relative, outputs "
         "bit-exact against its Python model), rows split by core id between two barriers.", ""]
    rows = []
    for r in sm:
        rows.append([r["n"], f"{r['softex']:,}", f"{r['softex'] / (ROWS * r['n']):.3f}",
                     f"{r['softex_per_row']:,}",
                     f"{r['sw_1']:,}", f"{r['sw_1'] / (ROWS * r['n']):,.0f}",
                     f"{r[f'sw_{nc}']:,}", f"{r['sw_1'] / r['softex']:,.0f}x",
                     f"{r[f'sw_{nc}'] / r['softex']:,.0f}x"])
    L += _md_table(["n", f"SoftEx, one {ROWS}-row job", "cycles/element",
                    "SoftEx, one job per row", "software, 1 core",
                    "cycles/element", f"software, {nc} cores", "speed-up vs 1 core",
                    f"speed-up vs {nc} cores"], rows)
    L += ["", "The paper's SoftEx is 10.8x faster than 8 cores *with* an FPU; these cores have no "
          "FPU and no multiplier, and take this many cycles per instruction "
          "(`firmware/tests/cpi.c`, 64 copies of one instruction, cycle counter):", ""]
    L += _md_table(["instruction"] + list(cpi), [["cycles"] + [f"{v:.2f}" for v in cpi.values()]])
    sh = att["shape"]
    L += ["", f"## Attention head {sh.seq} x {sh.head_dim} with and without each accelerator", "",
          f"Query tiles of {sh.block_q} rows ({att['tiles']} tiles), key chunks of {sh.block_k} "
          "(`firmware/apps/attention.c`). Both accelerators: measured end to end (O bit-exact). "
          "Software stages: `bf16_gemm` (bit-identical to the tensor unit) and `bf16_softmax` on "
          f"all {nc} cores, measured on the first query tile (plain cluster, O rows bit-exact "
          f"against the model) x {att['tiles']} tiles. A variant's total is the sum of its "
          "stages (every stage ends at a barrier).", ""]
    hw, sw = att["hw"], att["sw"]
    gemm_st = ("scale", "qk", "pv")
    variants = {
        "tensor unit + SoftEx": {s: hw[s] for s in hw},
        "tensor unit, software softmax": {**{s: hw[s] for s in gemm_st}, "softmax": sw["softmax"]},
        "software GEMMs, SoftEx": {**{s: sw[s] for s in gemm_st}, "softmax": hw["softmax"]},
        "cores only": dict(sw),
    }
    base = sum(variants["cores only"].values())
    rows = []
    for name, st in variants.items():
        tot = sum(st.values())
        rows.append([name] + [f"{st[s]:,}" for s in ("scale", "qk", "softmax", "pv")]
                    + [f"{tot:,}", f"{base / tot:,.1f}x"])
    L += _md_table(["variant", "scale", "qk", "softmax", "pv", "total", "speed-up vs cores"], rows,
                   ["---"] + ["---:"] * 6)
    L += ["", "## Simulation speed", "",
          "Same design and program in both simulators (Verilator: the cocotb testbench runs "
          "freely between mailbox bytes; Amaranth: `sim.cluster_amaranth.run_amaranth`, one "
          "Python testbench step per cycle; elaboration not counted; both runs must end with the "
          "same exit code). Program: `hello.c` (startup and "
          "mailbox output; the accelerators idle). With the accelerators busy, the attention "
          f"runs above: {att['hw_run_cycles']:,} cycles in {att['hw_sim_s']:.0f} s "
          f"({att['hw_run_cycles'] / att['hw_sim_s']:,.0f} cycles/s, accelerated cluster), "
          f"{att['sw_run_cycles']:,} cycles in {att['sw_sim_s']:.0f} s "
          f"({att['sw_run_cycles'] / att['sw_sim_s']:,.0f} cycles/s, plain cluster).", ""]
    rows = []
    for name, s in speed.items():
        v = s["verilator_cycles"] / s["verilator_s"]
        a = s["amaranth_cycles"] / s["amaranth_s"]
        rows.append([name, f"{s['verilator_cycles']:,}", f"{v:,.0f}", f"{s['amaranth_cycles']:,}", f"{a:,.1f}",
                     f"{v / a:,.1f}x"])
    L += _md_table(["cluster", "Verilator cycles", "Verilator cycles/s", "Amaranth cycles",
                    "Amaranth cycles/s", "Verilator / Amaranth"], rows)
    ratio = {name: (s["verilator_cycles"] / s["verilator_s"])
             / (s["amaranth_cycles"] / s["amaranth_s"]) for name, s in speed.items()}
    L += ["", "Reading: Verilator evaluates the idle accelerators' logic on every cycle, while Amaranth's event-driven simulator only re-evaluates what changed: on the accelerated cluster Verilator is "
          f"{ratio['accelerated']:,.1f}x ahead, against {ratio['plain']:,.0f}x on the plain cluster. The simulators measured here are the compiled harness of `sim.system` (the system runs of this benchmark); docs/sim_speed.md compares every simulator on the same designs."]
    (docs / "cluster_bench.md").write_text("\n".join(L) + "\n")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [r["n"] for r in sm]
    a1.loglog(ns, [r["softex"] for r in sm], "o-", label=f"SoftEx, one {ROWS}-row job")
    a1.loglog(ns, [r["softex_per_row"] for r in sm], "x--", label="SoftEx, one job per row")
    a1.loglog(ns, [r["sw_1"] for r in sm], "s-", label="software, 1 core")
    a1.loglog(ns, [r[f"sw_{nc}"] for r in sm], "^-", label=f"software, {nc} cores")
    a1.set_xlabel("row length n")
    a1.set_ylabel(f"cycles for {ROWS} rows")
    a1.set_title("Softmax")
    a1.legend()
    a1.grid(True, which="both", alpha=0.3)
    plot_variants(a2, variants)
    a2.set_title(f"Attention head {sh.seq} x {sh.head_dim}")
    fig.tight_layout()
    fig.savefig(docs / "cluster_bench.png", dpi=110)
    return docs / "cluster_bench.md"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--quick", action="store_true", help="short rows only (n = 64)")
    ap.add_argument("--amaranth-cycles", type=int, default=50_000,
                    help="watchdog of the Amaranth runs")
    ap.add_argument("--docs", default=ROOT_DOCS)
    args = ap.parse_args(argv)
    console = Console()
    ns = (64,) if args.quick else (64, 256, 1024)
    with Progress(console=console) as progress:
        task = progress.add_task("building the simulators", total=len(ns) + 3)
        b = Bench(args.config, console)
        sm = []
        for n in ns:
            progress.update(task, description=f"softmax n = {n}")
            sm.append(b.softmax(n))
            progress.advance(task)
        progress.update(task, description="CPI")
        cpi = b.cpi()
        progress.advance(task)
        progress.update(task, description="attention head (software: first tile)")
        att = b.attention()
        progress.advance(task)
        progress.update(task, description="simulation speed (Amaranth)")
        speed = b.sim_speed(args.amaranth_cycles)
        progress.advance(task)
    path = write_docs(args.config, b.acc_params, sm, cpi, att, speed, args.docs)
    console.print(f"wrote {path}")
    console.print(path.read_text())


if __name__ == "__main__":
    main()
