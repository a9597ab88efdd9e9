"""docs/abft.md's generated sections and plot from the measurements in docs/abft/ (scripts.abft),
the campaigns in docs/faults/ (scripts.faults baseline / protected) and docs/synth.json.

    python -m scripts.abft render
"""

import csv
import gzip
import io
import json
import math
from pathlib import Path

from flows.docs import splice
from hw.abft.layout import CAUSES
from sim.abft import STAGES
from sim.faults.outcomes import TOLERANCE_ULP
from sim.faults.stats import wilson

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "abft"
FAULTS = ROOT / "docs" / "faults"
PAGE = ROOT / "docs" / "abft.md"

#: The campaigns compared: (label, file stem in docs/faults/).
CAMPAIGNS = (("unprotected", "attention_tiny"), ("detect only", "attention_tiny_abft_detect"),
             ("detect and correct", "attention_tiny_abft_correct"),
             ("detect only, consumer check", "attention_tiny_abft_detect_consumer"),
             ("detect and correct, consumer check", "attention_tiny_abft_correct_consumer"),
             ("per-operation protection (detect and recompute)", "attention_tiny_perop"),
             ("GEMM, unprotected", "gemm_tiny"),
             ("GEMM, detect only, consumer check", "gemm_tiny_abft_detect_consumer"),
             ("GEMM, detect and correct, consumer check", "gemm_tiny_abft_correct_consumer"))


def _load(path):
    return json.loads(path.read_text()) if path.exists() else None


def _pct(p):
    return f"{100 * p:.2f}"


def _interval(k, n):
    p, lo, hi = wilson(k, n)
    return f"{_pct(p)} ({_pct(lo)}-{_pct(hi)})"


def _rows(stem):
    """A campaign's per-run rows (its CSV, gzipped or not)."""
    for path in (FAULTS / f"{stem}.csv.gz", FAULTS / f"{stem}.csv"):
        if path.exists():
            opener = gzip.open(path, "rt") if path.suffix == ".gz" else open(path)
            with opener as f:
                return list(csv.DictReader(f))
    return None


def _ulp(row):
    v = row.get("max_ulp", "")
    return math.inf if v == "inf" else (float(v) if v not in ("", None) else None)


def false_positives_section():
    gold = _load(DATA / "false_positives_golden.json")
    rtl = _load(DATA / "false_positives_rtl.json")
    out = []
    if gold:
        s = gold["summary"]
        out += [f"Golden model (`python -m scripts.abft study --heads {s['heads']} --seed "
                f"{s['seed']}`): **{s['false_positives']} false positives in {s['heads']:,} "
                f"fault-free heads** (95 % upper bound of the rate {_pct(s['rate_upper_95'])} %), "
                f"{len(s['shapes'])} shapes (sequence 16-128, head dimension 4-64, SoftEx 4 or 8 lanes), the kinds "
                "below. A margin is the largest |residual| / threshold over the rows of a head "
                "(a false positive needs a margin above 1). The thresholds are worst-case "
                "bounds: the accelerators' roundings stay far below them, and the largest "
                "margins come from the checker's own truncations (under one LSB per term, "
                "n + d of them in a residual), which in rows of equal keys all fall the same "
                "way and still cannot exceed their share of the bound.", "",
                "| kind | heads | false positives | max S margin | max P margin | max O margin |",
                "|---|---:|---:|---:|---:|---:|"]
        for kind, k in s["by_kind"].items():
            out.append(f"| {kind} | {k['heads']:,} | {k['false']} | {k['max_s']:.4f} | "
                       f"{k['max_p']:.4f} | {k['max_o']:.4f} |")
        out.append("")
    if rtl:
        s = rtl["summary"]
        out += [f"RTL (`python -m scripts.abft rtl-heads --heads {s['heads']} --seed {s['seed']}`, "
                f"the tiny cluster with the checker, attention.c with repairs, head "
                f"{' x '.join(map(str, s['shape'][:2]))}, every kind in turn): **{s['false_positives']} "
                f"false positives in {s['heads']} heads**, O bit-exact in {s['exact']} of "
                f"{s['heads']}.", ""]
    return "\n".join(out) or "(not measured yet: `python -m scripts.abft study`)\n"


def model_section():
    d = _load(DATA / "model_campaign.json")
    if not d:
        return "(not measured yet: `python -m scripts.abft model`)\n"
    s = d["summary"]
    out = [f"`python -m scripts.abft model --runs {s['runs']} --seed {s['seed']}`: single-bit "
           "faults in the golden model's data flow of the tiny demo head (32 x 4, three query "
           "tiles), a stage drawn uniformly, then the tile, the element and the bit. Critical: O "
           f"moved by more than {TOLERANCE_ULP} BF16 ulp. *Checker*: every check of the unit; "
           "*output identity alone*: only sum_c o_ic = sum_k p_ik vbar_k (Flash-ABFT's single "
           "check), on the same runs.", "",
           "| stage | what | runs | critical | detected by the checker | by the output identity alone | flagged, harmless |",
           "|---|---|---:|---:|---:|---:|---:|"]
    tot = dict(runs=0, critical=0, detected=0, output_only=0, flagged_harmless=0)
    for stage, row in s["table"].items():
        for key in tot:
            tot[key] += row[key]
        crit = row["critical"]
        det = f"{row['detected']} ({_interval(row['detected'], crit)} %)" if crit else "-"
        only = f"{row['output_only']} ({_interval(row['output_only'], crit)} %)" if crit else "-"
        out.append(f"| {stage} | {STAGES[stage]} | {row['runs']} | {crit} | {det} | {only} | "
                   f"{row['flagged_harmless']} |")
    c = tot["critical"]
    out.append(f"| all | | {tot['runs']} | {c} | {tot['detected']} ({_interval(tot['detected'], c)} %) | "
               f"{tot['output_only']} ({_interval(tot['output_only'], c)} %) | "
               f"{tot['flagged_harmless']} |")
    return "\n".join(out) + "\n"


def _campaign(stem):
    d = _load(FAULTS / f"{stem}.json")
    return (d["summary"] if d else None), _rows(stem)


def campaigns_section():
    found = [(label, *_campaign(stem)) for label, stem in CAMPAIGNS]
    found = [f for f in found if f[1]]
    if not found:
        return "(not measured yet: `python -m scripts.faults protected`)\n"
    outcomes = ("masked", "latent", "detected-corrected", "detected-recomputed",
                "detected-masked", "detected-uncorrected", "sdc-tolerable", "sdc-critical",
                "hang", "error")
    out = ["Rates in %, 95 % Wilson intervals. Faults anywhere in the cluster (cores, "
           "instruction memory, scratchpad, interconnect, both accelerators and, when present, "
           "the checker), one bit flipped in one cycle of the run (the attention head, or the GEMM "
           "job with its ARM and VERIFY), drawn uniformly over bits and cycles "
           "(docs/fault_injection.md).", "",
           "| campaign | commit | runs | seed | golden cycles | bits | " + " | ".join(outcomes)
           + " |",
           "|---|---|---:|---:|---:|---:|" + "---:|" * len(outcomes)]
    for label, s, _ in found:
        cells = [_interval(s["outcomes"][o]["count"], s["runs"]) for o in outcomes]
        src = s.get("source") or {}
        commit = ((src.get("commit") or "")[:7] + (" (modified)" if src.get("modified") else "")
                  or "not recorded")
        out.append(f"| {label} (`{s['name']}`) | {commit} | {s['runs']:,} | {s['seed']} | "
                   f"{s['golden']['cycles']:,} | {s['bits']:,} | " + " | ".join(cells) + " |")
    out += ["", "Critical SDCs: runs whose output (O, Z) moved by more than "
            f"{TOLERANCE_ULP} ulp. Detected: the checker's first verdict failed on them; left: "
            "not flagged (a silent critical SDC).", "",
            "| campaign | critical outputs | detected | left (silent) | rate left | corrected in place | recomputed | reported uncorrectable |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, s, rows in found:
        if rows is None:
            continue
        crit = [r for r in rows if (_ulp(r) or 0) > TOLERANCE_ULP
                and r["outcome"] in ("sdc-critical", "detected-uncorrected")]
        det = sum(1 for r in crit if r["outcome"] == "detected-uncorrected")
        left = sum(1 for r in rows if r["outcome"] == "sdc-critical")
        corrected = s["outcomes"]["detected-corrected"]["count"]
        recomputed = s["outcomes"]["detected-recomputed"]["count"]
        uncorr = s["outcomes"]["detected-uncorrected"]["count"]
        if "detect and correct" in label or "recompute" in label:
            # repaired runs were flagged before their repair: their output before it is not
            # known, so the detection rate is the detect-only campaign's
            out.append(f"| {label} | {len(crit)} left wrong | - | {left} | "
                       f"{_interval(left, s['runs'])} | {corrected} | {recomputed} | {uncorr} |")
            continue
        out.append(f"| {label} | {len(crit)} | "
                   + (f"{det} ({_interval(det, len(crit))} %)" if crit else "0")
                   + f" | {left} | {_interval(left, s['runs'])} | {corrected} | {recomputed} | "
                   f"{uncorr} |")
    return "\n".join(out) + "\n"


def _synth_row(rows, name):
    return next((r for r in rows if r.get("component") == name and r.get("target") == "ecp5"),
                None)


def cost_section():
    out = []
    c = _load(DATA / "cost.json")
    if c:
        out += ["Cycles of the demo head (`python -m scripts.abft cost`, attention.c pipelined "
                "where the cluster has two cores):", "",
                "| configuration | head | without | with the checker | overhead | checker's own (ARM, VERIFY) |",
                "|---|---|---:|---:|---:|---:|"]
        for config, row in c["summary"].items():
            out.append(f"| {config} | {' x '.join(map(str, row['shape'][:2]))} | "
                       f"{row['plain']['total']:,} | {row['abft']['total']:,} | "
                       f"{100 * row['overhead']:+.2f} % | {row['abft']['stages'].get('abft', 0):,} |")
        out.append("")
        perop = [(config, row) for config, row in c["summary"].items() if "perop" in row]
        if perop:
            out += ["Per-operation protection (attention.c `PEROP=1`, sim/perop.py; serial "
                    "tiles, against the plain serial head; the cores' comparisons dominate):",
                    "", "| configuration | head | serial, plain | per-operation | overhead | "
                    "scale | qk | softmax | pv |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
            for config, row in perop:
                st = row["perop"]["stages"]
                out.append(f"| {config} | {' x '.join(map(str, row['shape'][:2]))} | "
                           f"{row['serial']['total']:,} | {row['perop']['total']:,} | "
                           f"{100 * row['perop_overhead']:+.1f} % | "
                           + " | ".join(f"{st.get(k, 0):,}" for k in ("scale", "qk", "softmax",
                                                                       "pv")) + " |")
            out.append("")
    g = _load(DATA / "gemm_cost.json")
    if g:
        out += ["Cycles of the demo GEMM job (`python -m scripts.abft gemm-cost`, "
                "gemm_abft.c; the checker's GEMM mode):", "",
                "| configuration | job (M x N x K) | without | with the checker | overhead | "
                "checker's own (ARM_GEMM, VERIFY) | overhead with them |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for key, row in g["summary"].items():
            out.append(f"| {row.get('config', key)} | {' x '.join(map(str, row['shape']))} "
                       f"{row['op']} | "
                       f"{row['plain']['job']:,} | {row['abft']['job']:,} | "
                       f"{100 * row['overhead_job']:+.2f} % | {row['abft']['checker']:,} | "
                       f"{100 * row['overhead_total']:+.2f} % |")
        out.append("")
    synth = _load(ROOT / "docs" / "synth.json")
    rows = synth.get("rows", synth) if isinstance(synth, dict) else synth
    if isinstance(rows, list):
        base, prot = _synth_row(rows, "cluster"), _synth_row(rows, "cluster_abft")
        if base and prot:
            out += ["Area and Fmax (`make synth` rows `cluster` and `cluster_abft`, ECP5-85F, "
                    "docs/synth.md):", "",
                    "| | LUTs | FFs | DSPs | BRAMs | Fmax (MHz) |", "|---|---:|---:|---:|---:|---:|"]
            for label, r in (("cluster", base), ("cluster_abft", prot)):
                out.append(f"| {label} | {r['luts']:,} | {r['ffs']:,} | {r['dsps']} | "
                           f"{r['brams']} | {r.get('fmax_best_mhz') or '-'} |")
            cells = []
            for key in ("luts", "ffs", "dsps", "brams"):
                cells.append(f"{100 * (prot[key] / base[key] - 1):+.1f} %")
            fb, fp = base.get("fmax_best_mhz"), prot.get("fmax_best_mhz")
            cells.append(f"{fp - fb:+.1f}" if fb and fp else "-")
            out.append("| overhead | " + " | ".join(cells) + " |")
            out.append("")
    unit = _load(DATA / "unit_area.json")
    if unit and isinstance(rows, list):
        out += ["The checker alone (`python -m scripts.abft area`: Yosys synth_ecp5 cells of "
                "`AbftUnit` as each configuration's cluster builds it) against that "
                "configuration's cluster row. Its cost hardly depends on the cluster, so the "
                "share falls as the cluster grows:", "",
                "| configuration | checker LUTs | FFs | DSPs | BRAMs | LUT RAM cells | cluster LUTs | share LUTs | FFs | DSPs | BRAMs |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for config, u in unit["summary"].items():
            r = _synth_row(rows, u["row"])
            if not r:
                continue
            shares = [f"{100 * u[k] / r[k]:.1f} %" for k in ("luts", "ffs", "dsps", "brams")]
            out.append(f"| {config} | {u['luts']:,} | {u['ffs']:,} | {u['dsps']} | "
                       f"{u['brams']} | {u['lutram']} | {r['luts']:,} | " + " | ".join(shares)
                       + " |")
        out.append("")
        brk = unit.get("breakdown")
        base = _synth_row(rows, "cluster")
        if brk and base:
            whole = unit["summary"][brk["config"]]
            budget = {k: 0.053 * base[k] for k in ("luts", "ffs")}
            out += [f"Where the {brk['config']} checker's cells go (the same command: the checker "
                    "synthesised again without each part, its inputs tied to 0, and its "
                    "register file alone), against the 5.3 % budget of the cluster row "
                    f"({budget['luts']:,.0f} LUTs, {budget['ffs']:,.0f} FFs):", "",
                    "| part | LUTs | FFs | share of the checker's LUTs |", "|---|---:|---:|---:|"]
            rest = dict(whole)
            for name, part in brk["parts"].items():
                out.append(f"| {name.replace('_', ' ')}: {part['doc']} | {part['luts']:,} | "
                           f"{part['ffs']:,} | {100 * part['luts'] / whole['luts']:.0f} % |")
                for k in ("luts", "ffs"):
                    rest[k] -= part[k]
            out.append(f"| the rest: term datapath (fp32 to BF16, products, fixed point), row "
                       f"sums, evaluator, report, scrub, descriptor, ARM and GEMM control | "
                       f"{rest['luts']:,} | {rest['ffs']:,} | "
                       f"{100 * rest['luts'] / whole['luts']:.0f} % |")
            out.append(f"| the whole checker | {whole['luts']:,} | {whole['ffs']:,} | 100 % |")
            out.append(f"| over the budget | {whole['luts'] - budget['luts']:+,.0f} | "
                       f"{whole['ffs'] - budget['ffs']:+,.0f} | |")
            out.append("")
    return "\n".join(out) or "(not measured yet)\n"


def plot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    found = [(label, _campaign(stem)[0]) for label, stem in CAMPAIGNS]
    found = [(label, s) for label, s in found if s]
    if not found:
        return
    groups = (("silent critical SDC", ("sdc-critical",)), ("hang", ("hang",)),
              ("error", ("error",)),
              ("detected", ("detected-corrected", "detected-recomputed", "detected-masked",
                            "detected-uncorrected")))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(found)
    for i, (label, s) in enumerate(found):
        vals, errs = [], []
        for _, keys in groups:
            k = sum(s["outcomes"][o]["count"] for o in keys)
            p, lo, hi = wilson(k, s["runs"])
            vals.append(100 * p)
            errs.append([100 * (p - lo), 100 * (hi - p)])
        xs = [j + i * width for j in range(len(groups))]
        ax.bar(xs, vals, width, yerr=list(zip(*errs)), capsize=3, label=label)
    ax.set_xticks([j + width * (len(found) - 1) / 2 for j in range(len(groups))])
    ax.set_xticklabels([g for g, _ in groups])
    ax.set_ylabel("% of runs (95 % interval)")
    ax.set_title("Attention head (tiny cluster): single-bit faults anywhere")
    ax.legend()
    fig.tight_layout()
    fig.savefig(DATA / "campaigns.png", dpi=120)
    plt.close(fig)


def render():
    text = PAGE.read_text()
    for name, fn in (("abft false positives", false_positives_section),
                     ("abft model campaign", model_section),
                     ("abft campaigns", campaigns_section),
                     ("abft cost", cost_section)):
        text = splice(text, name, fn())
    PAGE.write_text(text)
    plot()
    print(f"wrote {PAGE.relative_to(ROOT)}")
