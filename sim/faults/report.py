"""Campaign results as tables, files and plots.

:func:`summarize` turns a campaign's rows into outcome rates with 95 % Wilson intervals, overall,
per target class and per component, and ranks the targets by the runs that ended in a critical
SDC or a hang. :func:`write` stores a campaign as ``<name>.json`` (summary, fault map and every
row) and ``<name>.csv`` (one row per run) and draws its plots; :func:`markdown` renders the
summaries of several campaigns for docs/fault_injection.md.
"""

import csv
import gzip
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from hw.faults import CLASSES

from .outcomes import FAILURES, OUTCOMES, TOLERANCE_ULP
from .stats import rule_of_three, wilson

__all__ = ["summarize", "write", "load", "markdown", "plot", "CSV_FIELDS"]

CSV_FIELDS = ("run", "target", "name", "cls", "component", "word", "bit", "cycle", "kind",
              "outcome", "max_abs", "max_ulp", "cycles")

TOP = 20


def _rates(counter, n):
    out = {}
    for outcome in OUTCOMES:
        k = counter.get(outcome, 0)
        rate, lo, hi = wilson(k, n)
        out[outcome] = dict(count=k, rate=rate, low=lo, high=hi)
    return out


def summarize(campaign):
    """Dict: ``runs``, ``outcomes`` ({outcome: count, rate, low, high}), ``failures`` (critical
    SDC + hang, with interval and, when none was seen, the 3/n bound), ``by_class`` and
    ``by_component`` ({key: {runs, bits, outcomes}}), ``top`` (targets by failures),
    ``sdc_ulp`` (max ulp of every SDC run), ``runs_per_second``."""
    rows = campaign["rows"]
    n = len(rows)
    if n == 0:
        raise ValueError("the campaign has no runs")
    overall = Counter(r["outcome"] for r in rows)
    fail = sum(overall.get(o, 0) for o in FAILURES)
    rate, lo, hi = wilson(fail, n)
    bits = defaultdict(int)
    for t in campaign["fault_map"]:
        bits[("cls", t["class"])] += t["bits"]
        bits[("component", t["component"])] += t["bits"]

    def grouped(key):
        groups = defaultdict(Counter)
        for r in rows:
            groups[r[key]][r["outcome"]] += 1
        name = "cls" if key == "cls" else "component"
        order = sorted(groups, key=lambda g: (CLASSES.index(g) if key == "cls" and g in CLASSES
                                              else 99, g))
        return {g: dict(runs=sum(groups[g].values()), bits=bits[(name, g)],
                        outcomes=_rates(groups[g], sum(groups[g].values())))
                for g in order}

    per_target = defaultdict(Counter)
    for r in rows:
        per_target[r["target"]][r["outcome"]] += 1
    top = []
    for tid, counts in per_target.items():
        failures = sum(counts.get(o, 0) for o in FAILURES)
        if failures:
            t = campaign["fault_map"][tid]
            runs = sum(counts.values())
            top.append(dict(target=tid, name=t["name"], cls=t["class"], bits=t["bits"],
                            runs=runs, failures=failures, share=failures / runs,
                            sdc_critical=counts.get("sdc-critical", 0),
                            hang=counts.get("hang", 0)))
    top.sort(key=lambda x: (-x["failures"], -x["share"], x["target"]))
    sdc = [r["max_ulp"] for r in rows if r["outcome"].startswith("sdc")]
    return dict(
        name=campaign["name"], target=campaign["target"], seed=campaign["seed"], runs=n,
        golden=campaign["golden"], workers=campaign["workers"],
        seconds=campaign["seconds"], runs_per_second=campaign["runs_per_second"],
        targets=len(campaign["fault_map"]), bits=sum(t["bits"] for t in campaign["fault_map"]),
        outcomes=_rates(overall, n),
        failures=dict(count=fail, rate=rate, low=lo, high=hi,
                      bound=rule_of_three(n) if fail == 0 else None),
        by_class=grouped("cls"), by_component=grouped("component"), top=top[:TOP],
        sdc_ulp=sdc)


def write(campaign, out, *, compact=False, source=None):
    """Write ``<out>/<name>.json`` (summary, fault map, rows) and ``<out>/<name>.csv`` (one
    row per run) and the plot; returns the summary. ``compact`` (the committed baseline): the
    rows only in the CSV, gzip-compressed (``<name>.csv.gz``). ``source``: what the campaign
    ran on (e.g. the commit), kept in the summary."""
    data = campaign.to_dict() if hasattr(campaign, "to_dict") else campaign
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(data)
    if source is not None:
        summary["source"] = source
    record = dict(summary=summary, **data)
    if compact:
        record["rows"] = f"{data['name']}.csv.gz"
    (out / f"{data['name']}.json").write_text(json.dumps(
        record, indent=None, separators=(",", ":")) + "\n")
    path = out / f"{data['name']}.csv{'.gz' if compact else ''}"
    with (gzip.open(path, "wt", newline="") if compact else open(path, "w", newline="")) as f:
        w = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(data["rows"])
    plot([summary], out / f"{data['name']}.png")
    return summary


def load(path):
    """A campaign written by :func:`write` (dict with ``summary``)."""
    return json.loads(Path(path).read_text())


def _pct(x):
    return f"{100 * x:.2f}"


def _interval(r):
    return f"{_pct(r['rate'])} ({_pct(r['low'])}-{_pct(r['high'])})"


def _present(summaries):
    return [o for o in OUTCOMES if any(s["outcomes"][o]["count"] for s in summaries)]


def markdown(summaries):
    """Markdown tables of campaign summaries: the outcome rates of each campaign, then per
    campaign its classes, components and most vulnerable targets."""
    outcomes = _present(summaries)
    lines = ["| campaign | runs | seed | runs/s | " + " | ".join(outcomes) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(outcomes)]
    for s in summaries:
        lines.append(f"| {s['name']} | {s['runs']:,} | {s['seed']} | "
                     f"{s['runs_per_second']:.1f} | "
                     + " | ".join(_interval(s["outcomes"][o]) for o in outcomes) + " |")
    lines += ["", "Rates in %, 95 % Wilson intervals in parentheses. Failures (critical SDC and "
              "hangs):", ""]
    for s in summaries:
        f = s["failures"]
        bound = f" (none seen: below {_pct(f['bound'])} % at 95 %)" if f["bound"] else ""
        lines.append(f"- {s['name']}: {f['count']:,} of {s['runs']:,} runs, {_interval(f)} %"
                     f"{bound}; golden run {s['golden']['cycles']:,} cycles, {s['targets']:,} "
                     f"targets, {s['bits']:,} bits.")
    for s in summaries:
        lines += ["", f"#### {s['name']}", ""]
        for title, key in (("class", "by_class"), ("component", "by_component")):
            groups = s[key]
            present = [o for o in outcomes if any(g["outcomes"][o]["count"]
                                                  for g in groups.values())]
            lines += [f"| {title} | bits | runs | " + " | ".join(present) + " |",
                      "|---|---:|---:|" + "---:|" * len(present)]
            for g, v in groups.items():
                lines.append(f"| {g or '(top)'} | {v['bits']:,} | {v['runs']:,} | "
                             + " | ".join(_interval(v["outcomes"][o]) for o in present) + " |")
            lines.append("")
        lines += [f"The {min(TOP, len(s['top']))} targets with the most failures (critical "
                  "SDC or hang):", "",
                  "| target | class | bits | runs | critical SDC | hang | share |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for t in s["top"]:
            lines.append(f"| `{t['name']}` | {t['cls']} | {t['bits']:,} | {t['runs']} | "
                         f"{t['sdc_critical']} | {t['hang']} | {100 * t['share']:.0f} % |")
    return "\n".join(lines)


def plot(summaries, path):
    """Outcome shares per target class (one panel per campaign) and the distribution of the
    SDCs' output error in BF16 ulps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"masked": "#9ecae1", "latent": "#c6dbef", "sdc-tolerable": "#fdd0a2",
               "sdc-critical": "#e6550d", "hang": "#756bb1", "error": "#636363",
               "detected-corrected": "#31a354", "detected-recomputed": "#74c476",
               "detected-masked": "#a1d99b", "detected-uncorrected": "#de2d26"}
    n = len(summaries)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n + 0.8, 7.2), squeeze=False)
    for i, s in enumerate(summaries):
        ax = axes[0][i]
        groups = s["by_class"]
        names = list(groups)
        bottom = [0.0] * len(names)
        for o in OUTCOMES:
            vals = [100 * groups[g]["outcomes"][o]["rate"] for g in names]
            if any(vals):
                ax.bar(names, vals, bottom=bottom, label=o, color=colours[o])
                bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(f"{s['name']} ({s['runs']:,} runs)", fontsize=9)
        ax.set_ylabel("% of the class's runs")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax = axes[1][i]
        ulps = [u for u in s["sdc_ulp"] if u is not None]
        finite = [u for u in ulps if math.isfinite(u) and u > 0]
        if finite:
            hi = max(finite)
            edges = [2 ** k for k in range(0, max(1, math.ceil(math.log2(hi))) + 2)]
            ax.hist(finite, bins=edges, color="#e6550d")
            ax.set_xscale("log", base=2)
        ax.axvline(TOLERANCE_ULP + 0.5, color="k", lw=0.8, ls="--")
        inf = len(ulps) - len(finite)
        ax.set_title(f"SDC max error (BF16 ulp); {inf} NaN/inf", fontsize=9)
        ax.set_xlabel("max ulp distance from the golden output")
        ax.set_ylabel("SDC runs")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)
