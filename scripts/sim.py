"""`make sim`: run every block regression under Verilator/cocotb and, beside them, the attention
head on the accelerated cluster, and print a report.

The regressions are ``sim.regressions.regressions(CONFIG)``, the configuration's blocks from
the catalogue (the pytest suite runs the same list for configuration ``large``): each
component's emitted Verilog is built once (cached in build/sim/), driven with random stalls, and compared bit for bit with its golden model. The attention demo
(``sim.attention``, ``firmware/apps/attention.c``) runs one head on the configuration's
AcceleratedCluster (cores + SoftEx + tensor unit) with the query tiles pipelined over two
cores (core 1 drives the tensor unit, core 0 SoftEx), checks O and the last tile's scores and
probabilities bit for bit, and reports the cycles per stage, the errors against float64 and the
SoftEx speed-up over the software softmax on the cores (measured on the plain cluster of the same
configuration, on one query tile). The report is printed and written to build/sim/report.md;
the exit code is non-zero if anything failed. The attention demo runs in a thread of its own
while the regressions run (its report is printed after theirs), so the two share the
machine's cores.
"""

import argparse
import contextlib
import io
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from rich.console import Console
from rich.table import Table

import numpy as np

from flows.toolchain import BUILD
from hw.abft.layout import CAUSES
from hw.config import config_names, get_config
from sim.attention import (attention_inputs, demo_shape, errors_vs_float64, golden_attention,
                           run_attention)
from sim.offload import build_app, plain_sim, run_program, system_sim
from sim.regressions import by_name, regressions, run_regression


def _array(tensor):
    """``rows x cols x pipes`` of a cluster's ``tensor`` argument."""
    return "x".join(str(tensor[k]) for k in ("rows", "cols", "pipes"))


def _fmt(v, spec="{:,}"):
    return "-" if v is None else spec.format(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default",
                    help="configuration name (" + ", ".join(config_names()) + ")")
    ap.add_argument("names", nargs="*", help="only these regressions (default: all)")
    ap.add_argument("--no-attention", action="store_true", help="skip the attention demo")
    ap.add_argument("--attention-only", action="store_true", help="only the attention demo")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="regressions simulated at once (default: the machine's cores)")
    args = ap.parse_args(argv)
    config = get_config(args.config)
    regs = regressions(config)
    if args.names:
        regs = [by_name(n, regs) for n in args.names]
    if args.attention_only:
        regs = []

    console = Console()
    console.print(f"[bold]make sim[/]: {len(regs)} block regressions, configuration "
                  f"[cyan]{config.name}[/], Verilator + cocotb against the golden models")
    results = [None] * len(regs)
    t0 = time.perf_counter()
    demo_out = Console(file=io.StringIO(), width=console.width,
                       force_terminal=console.is_terminal, color_system=console.color_system)
    demo_pool = ThreadPoolExecutor(1)
    demo = None if args.no_attention else demo_pool.submit(_demos, demo_out, config.name)
    # Each regression is its own simulator process: run `--jobs` of them at once.
    with console.status("") as status, ThreadPoolExecutor(max(1, args.jobs)) as pool:
        running = {pool.submit(run_regression, reg): i for i, reg in enumerate(regs)}
        status.update(f"{len(regs)} regressions, {args.jobs} at a time: building / simulating ...")
        for n, done in enumerate(as_completed(running), 1):
            r = results[running[done]] = done.result()
            mark = "[green]PASS[/]" if r["passed"] else "[red]FAIL[/]"
            console.print(f"  {mark} {r['name']:<26} {_fmt(r['cases']):>10} cases  "
                          f"{_fmt(r['mismatches'])} mismatches  {r['seconds']:.0f} s")
            status.update(f"{n}/{len(regs)} regressions done: building / simulating ...")

    table = Table(title="Block regressions (bit-exact, random valid/ready stalls)")
    for col, justify in [("regression", "left"), ("cases", "right"), ("mismatches", "right"),
                         ("cycles", "right"), ("cases/s", "right"), ("cycles/s", "right"),
                         ("result", "center")]:
        table.add_column(col, justify=justify)
    lines = ["| regression | cases | mismatches | cycles | result |", "|---|---:|---:|---:|---|"]
    for r in results:
        rate = (r["cases"] / r["sim_seconds"]) if r["cases"] and r.get("sim_seconds") else None
        cps = (r["cycles"] / r["sim_seconds"]) if r["cycles"] and r.get("sim_seconds") else None
        ok = "PASS" if r["passed"] else "FAIL"
        table.add_row(r["name"], _fmt(r["cases"]), _fmt(r["mismatches"]), _fmt(r["cycles"]),
                      _fmt(rate, "{:,.0f}"), _fmt(cps, "{:,.0f}"),
                      f"[green]{ok}[/]" if r["passed"] else f"[red]{ok}[/]")
        lines.append(f"| {r['name']} | {_fmt(r['cases'])} | {_fmt(r['mismatches'])} | "
                     f"{_fmt(r['cycles'])} | {ok} |")
    if results:
        console.print(table)
    for r in results:
        if not r["passed"]:
            console.print(f"[red]{r['name']} failed[/]: " + (r["first_mismatches"][:3] or
                          [(r["error"] or "").splitlines()[0] if r["error"] else ""]).__repr__())
            console.print(f"  log: {r['run_dir']}/sim.log")
    attention_lines, attention_ok = [], True
    if demo is not None:
        with console.status("attention heads on the accelerated clusters ..."):
            attention_ok, attention_lines = demo.result()
        console.file.write(demo_out.file.getvalue())
    demo_pool.shutdown()
    total_cases = sum(r["cases"] or 0 for r in results)
    failed = [r for r in results if not r["passed"]]
    if not attention_ok:
        failed.append({"name": "attention"})
    summary = (f"{len(results) - len(failed)} passed, {len(failed)} failed: {total_cases:,} cases, "
               f"{sum(r['mismatches'] or 0 for r in results):,} mismatches, "
               f"{time.perf_counter() - t0:.0f} s")
    console.print(("[green]" if not failed else "[red]") + summary + "[/]")
    report = BUILD / "sim" / "report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# make sim report\n\n" + "\n".join(lines) + "\n\n"
                      + "\n".join(attention_lines) + f"\n\n{summary}\n")
    console.print(f"report: {report.relative_to(BUILD.parent)}")
    return 1 if failed else 0


def _demos(console, config):
    """The attention head without and with the checker; returns (passed, markdown lines)."""
    attention_ok, attention_lines, plain_total = _attention_demo(console, config)
    abft_ok, abft_lines = _abft_demo(console, config, plain_total)
    return attention_ok and abft_ok, attention_lines + [""] + abft_lines


def _status(console, text):
    """A spinner on a terminal console; nothing on the demos' buffer (one live display at a
    time: the regressions' spinner runs meanwhile)."""
    return console.status(text) if not isinstance(console.file, io.StringIO) else \
        contextlib.nullcontext()


def _attention_demo(console, config):
    """Run the attention head; returns (passed, markdown lines)."""
    t0 = time.perf_counter()
    with _status(console, f"attention head on the {config} accelerated cluster: building / "
                          "running"):
        sim, params = system_sim(config)
        shape = demo_shape(config)
        seq, hd, bq, bk = shape.seq, shape.head_dim, shape.block_q, shape.block_k
        q, k, v = attention_inputs(shape)
        got = run_attention(sim, params, shape, q, k, v, pipeline=True)
    want = golden_attention(shape, q, k, v, lanes=params["softex"]["lanes"],
                            sbuf_addr=got["sbuf_addr"], pipeline=got["pipelined"])
    mism = {n: int(np.count_nonzero(got[n] != want[n])) for n in ("o", "s", "p")}
    err = errors_vs_float64(shape, q, k, v, got["o"])
    sim_s = got["run"]["seconds"]

    # Software softmax baseline: the same score rows (the last tile's) on the plain cluster of
    # this configuration (the software touches no accelerator: same cycles, much faster model).
    with _status(console, "software softmax of one query tile on the plain cluster"):
        psim, pparams = plain_sim(config)
        rows = got["s"].shape[0]
        elf = build_app("softmax_sw.c", {"sx_in": got["s"], "sw_out": got["s"].size},
                        dict(ROWS=rows, N=seq, USE_CORES=0), sw_lib=True)
        r = run_program(psim, pparams, elf, {}, max_cycles=50_000_000)
        sw_tile = int(re.search(r"cycles (\d+)", r["output"]).group(1))
    tiles = shape.tiles
    sw_total = sw_tile * tiles            # every tile has the same rows x seq elements
    hw_softmax = got["stages"]["softmax"]
    ok = not any(mism.values()) and r["exit_code"] == 0

    table = Table(title=f"Attention head {seq} x {hd} (query tiles {bq}, key chunks {bk}) on the "
                        f"{config} cluster ({params['cores']} cores, SoftEx {params['softex']['lanes']} "
                        f"lanes, tensor {_array(params['tensor'])})")
    # Pipelined: a stage's cycles are its driving core's busy time (tensor stages on core 1,
    # softmax on core 0) and the stages overlap; serial (1 core): they add up to the total.
    def driver(stage):
        if not got["pipelined"]:
            return "all cores"
        return "core 0 (SoftEx)" if stage == "softmax" else "core 1 (tensor unit)"
    table.add_column("stage")
    table.add_column("cycles", justify="right")
    table.add_column("share of total", justify="right")
    table.add_column("driven by")
    md = [f"## Attention head {seq} x {hd}, {config} configuration", "",
          "| stage | cycles | share of total | driven by |", "|---|---:|---:|---|"]
    for stage, cyc in got["stages"].items():
        share = f"{100 * cyc / got['total']:.1f} %"
        who = driver(stage)
        table.add_row(stage, f"{cyc:,}", share, who)
        md.append(f"| {stage} | {cyc:,} | {share} | {who} |")
    table.add_row("total", f"{got['total']:,}", "100 %", "end to end")
    md.append(f"| total | {got['total']:,} | 100 % | end to end |")
    console.print(table)
    stage_sum = sum(got["stages"].values())
    facts = [
        (f"tiles pipelined over two cores (tensor unit on core 1, SoftEx on core 0, double "
         f"buffers): the stages overlap, total {got['total']:,} cycles = "
         f"{100 * got['total'] / stage_sum:.1f} % of their sum {stage_sum:,}"
         if got["pipelined"] else "tiles in series: the stages add up to the total"),
        f"bit-exact against the golden model: O {mism['o']} mismatches of {got['o'].size:,}, "
        f"last tile scores {mism['s']} and probabilities {mism['p']} of {got['s'].size:,} each",
        f"O against float64 attention: max |error| {err['max_abs']:.3g}, mean {err['mean_abs']:.3g} "
        f"(float64 rounded once to BF16: max {err['bf16_floor_max_abs']:.3g}, mean "
        f"{err['bf16_floor_mean_abs']:.3g})",
        f"softmax stage on SoftEx: {hw_softmax:,} cycles; software softmax on {pparams['cores']} "
        f"cores: {sw_tile:,} cycles per tile x {tiles} tiles = {sw_total:,} cycles -> SoftEx "
        f"speed-up {sw_total / hw_softmax:,.1f}x",
        f"simulation: {got['run']['cycles']:,} cycles (startup, .bss clearing and the head) in "
        f"{sim_s:.2f} s: {got['run']['cycles'] / sim_s:,.0f} simulated cycles/s (compiled "
        f"harness, sim.system, sharing the cores with the regressions; alone: "
        f"docs/sim_speed.md), demo wall time "
        f"{time.perf_counter() - t0:.0f} s (builds included)",
    ]
    for f in facts:
        console.print(("  [green]" if ok else "  [red]") + f + "[/]")
        md.append("")
        md.append(f"- {f}")
    return ok, md, got["total"]


def _abft_demo(console, config, plain_total):
    """The same head on the cluster with the Flash-ABFT checker (docs/abft.md): fault-free
    (cycles against the unprotected head), with a planted O word flip (located, corrected)
    and with a corrupted input (reported as uncorrectable). Returns (passed, markdown)."""
    with _status(console, f"protected attention head on the {config} cluster with the "
                          "Flash-ABFT checker: building / running"):
        sim, params = system_sim(config, abft=True)
        shape = demo_shape(config)
        q, k, v = attention_inputs(shape)
        want = golden_attention(shape, q, k, v, lanes=params["softex"]["lanes"],
                                pipeline=True)["o"]
        clean = run_attention(sim, params, shape, q, k, v, pipeline=True, abft=True)
        row, col, bit = shape.seq // 2 + 1, 1, 9
        planted = run_attention(sim, params, shape, q, k, v, pipeline=True, abft=True,
                                abft_plant=(row, col, bit))
        bad_v = np.array(v)
        bad_v[3, 0] ^= 0x4000                          # an exponent bit of V[3][0]
        corrupt = run_attention(sim, params, shape, q, k, bad_v, pipeline=True, abft=True,
                                abft_encoded=(q, k, v), check_exit=False)
    over = clean["total"] / plain_total - 1
    cases = [
        ("no fault", clean, np.array_equal(clean["o"], want) and clean["exit_code"] == 0
         and clean["abft"]["causes"] == 0),
        (f"O[{row}][{col}] bit {bit} flipped before VERIFY", planted,
         np.array_equal(planted["o"], want) and planted["exit_code"] == 0
         and planted["abft"]["corrected"] == 1 and planted["abft"]["verdict"] == 0),
        ("V[3][0] exponent bit flipped in the scratchpad before the head", corrupt,
         corrupt["exit_code"] == 0x400 and corrupt["abft"]["verdict"] != 0),
    ]
    def names(mask):
        return ", ".join(n for i, n in enumerate(CAUSES) if mask >> i & 1) or "none"
    table = Table(title=f"Flash-ABFT checker on the {config} cluster (docs/abft.md)")
    for c in ("case", "cycles", "first verdict", "repairs", "last verdict", "exit", "result"):
        table.add_column(c)
    md = ["## The same head under the Flash-ABFT checker", "",
          "| case | cycles | first verdict | repairs | last verdict | exit | result |",
          "|---|---:|---|---|---|---|---|"]
    for label, r, good in cases:
        a = r["abft"]
        repairs = f"{a['corrected']} word(s) corrected, {a['recomputed']} tile(s) recomputed"
        cells = [label, f"{r['total']:,}", names(a["causes"]), repairs, names(a["verdict"]),
                 f"{r['exit_code']:#x}", "as designed" if good else "WRONG"]
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    console.print(table)
    ok = all(good for _, _, good in cases)
    fact = (f"cycles with the checker {clean['total']:,} against {plain_total:,} without: "
            f"{100 * over:+.2f} % (its ARM, VERIFY and repairs: {clean['abft']['cycles']:,}; "
            f"SoftEx's second run overlaps the tensor unit)")
    console.print(("  [green]" if ok else "  [red]") + fact + "[/]")
    md += ["", f"- {fact}"]
    return ok, md


if __name__ == "__main__":
    sys.exit(main())
