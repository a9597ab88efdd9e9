"""The report of a `make synth` run: rows with the harness subtracted, the rows of earlier runs
kept, and ``synth.json`` / ``synth.md`` written."""

import json
import os
from pathlib import Path

from hw.catalog import components

from .items import item_for
from .targets import TARGETS
from .tools import tool_versions

__all__ = ["summarise", "row_order", "earlier_rows", "describe", "write_report"]

# What the report says made it (synth.json's `generated_by`, synth.md's first line).
_GENERATOR = "flows/synth/"

_TABLE_HEAD = [
    "| component | latency | target | LUTs | FFs | DSPs | BRAMs | Fmax best (MHz) | "
    "Fmax median (MHz) | critical path | harness LUTs / FFs | seeds | "
    "Yosys + nextpnr (min) |",
    "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|",
]


def summarise(results):
    """The rows of the report: component numbers with the harness subtracted.

    Parameters
    ----------
    results : list of dict
        Unit results (:func:`~flows.synth.runs.run_unit`), the harness runs among them.

    Returns
    -------
    list of dict
        One row per non-harness result, in :func:`row_order`.
    """
    rows = [_row(r, _harness_for(results, r["target"], r["component"]))
            for r in results if r["latency"] != "harness"]
    return sorted(rows, key=row_order)


def _harness_for(results, target, component):
    for r in results:
        if r["target"] == target and r["component"] == component and r["latency"] == "harness":
            return r
    return None


def _row(r, h):
    """The row of the result ``r``, with the harness run ``h`` (or None) subtracted."""
    return {
        "component": r["component"], "latency": r["latency"], "target": r["target"],
        "device": r["device"], "clock_target_mhz": r["clock_target_mhz"],
        "luts": r["luts"] - (h["luts"] if h else 0),
        "ffs": r["ffs"] - (h["ffs"] if h else 0),
        "dsps": r["dsps"] - (h["dsps"] if h else 0),
        "brams": r["brams"] - (h["brams"] if h else 0),
        "fmax_best_mhz": r["fmax_best_mhz"], "fmax_median_mhz": r["fmax_median_mhz"],
        "seeds": [int(s) for s in r["seeds"]],
        "fmax_seeds_mhz": {s: v["fmax_mhz"] for s, v in r["seeds"].items()},
        "critical_path": r["critical_path"],
        "total_with_harness": {k: r[k] for k in ("luts", "ffs", "dsps", "brams")},
        "harness": None if h is None else {
            "luts": h["luts"], "ffs": h["ffs"], "fmax_best_mhz": h["fmax_best_mhz"],
            "in_bits": h["harness"]["in_bits"], "out_bits": h["harness"]["out_bits"]},
        "utilisation": r["utilisation"],
        "runtime_s": round(r["yosys_s"] + r["nextpnr_s"], 1),
        "does_not_fit": r.get("does_not_fit", ""),
    }


def row_order(row):
    """Sort key of the report's rows: by target, then component, then latency (the configured
    one first)."""
    order = {t: i for i, t in enumerate(TARGETS)}
    return (order.get(row["target"], 99), row["component"],
            -1 if row["latency"] is None else row["latency"])


def earlier_rows(path, rows, results):
    """What an earlier report has that this run did not synthesise.

    So that ``--component X`` replaces X's rows on the targets it ran (every latency) and keeps
    the others.

    Parameters
    ----------
    path : path
        The earlier ``synth.json`` (missing: nothing kept).
    rows, results : list of dict
        This run's rows and results.

    Returns
    -------
    kept : list of dict
        The earlier rows, marked ``earlier_run``.
    harness : list of dict
        The earlier harness runs.
    """
    path = Path(path)
    if not path.exists():
        return [], []
    old = json.loads(path.read_text())
    # a component synthesised again on a target replaces all its rows there, also those of
    # latencies its sweep no longer has (they came from older code)
    new = {(r["component"], r["target"]) for r in [*rows, *results]}
    kept = [dict(r, earlier_run=True) for r in old.get("rows", [])
            if (r["component"], r["target"]) not in new]
    harness = [h for h in old.get("harness_runs", []) if (h["component"], h["target"]) not in new]
    return kept, harness


def describe(label, config="default"):
    """What the row ``label`` synthesises, from the catalogue and :data:`SYNTH_LIST`.

    Returns
    -------
    str
        The component's description, then a variant's configuration and constructor overrides
        and whether its block RAMs are spread; "-" for a name no catalogue has.
    """
    item = item_for(label)
    try:
        spec = components(item.config or config)[item.component]
    except (ValueError, KeyError):
        return "-"
    text = spec.description
    if item.config is not None:
        text += f" (configuration `{item.config}`)"
    if item.params:
        text += "; overridden: " + ", ".join(f"`{k}={v}`" for k, v in item.params)
    if item.spread_brams:
        text += "; block RAMs fixed to evenly spaced sites (`flows.synth.placement`)"
    return text


def write_report(rows, results, failures, *, docs, seeds, jobs, elapsed, config,
                 load=(0.0, 0.0), kept_harness=(), kept=0):
    """Write ``synth.json`` and ``synth.md``.

    Parameters
    ----------
    rows : list of dict
        The rows (:func:`summarise`, with the kept ones of :func:`earlier_rows`).
    results : list of dict
        This run's unit results.
    failures : dict
        Unit label -> error text.
    docs : path
        The folder they go to (created).
    seeds : sequence of int
        The run's default nextpnr seeds.
    jobs : int
        Parallel tool runs.
    elapsed : float
        The run's wall time in seconds.
    config : str
        The run's configuration.
    load : tuple of float
        Load average at the start and the end.
    kept_harness : sequence of dict
        Harness runs kept from an earlier report.
    kept : int
        How many rows come from an earlier report.
    """
    docs = Path(docs)
    docs.mkdir(parents=True, exist_ok=True)
    harness_runs = list(kept_harness) + [r for r in results if r["latency"] == "harness"]
    data = {
        "generated_by": f"make synth ({_GENERATOR})",
        "config": config,
        "seeds": list(seeds),
        "targets": {t.name: {"device": t.device, "yosys": t.synth, "nextpnr": t.nextpnr,
                             "nextpnr_args": list(t.nextpnr_args),
                             "clock_target_mhz": t.freq_mhz} for t in TARGETS.values()},
        "tools": tool_versions(),
        "runtime_s": round(elapsed, 1), "jobs": jobs, "cpus": os.cpu_count(),
        "load_average": list(load),
        "rows": rows,
        "harness_runs": harness_runs,
        "failures": failures,
    }
    (docs / "synth.json").write_text(json.dumps(data, indent=1) + "\n")
    lines = [
        "# Synthesis results",
        "",
        f"Generated by `make synth` (`{_GENERATOR}`); do not edit. Raw numbers, per-seed "
        "Fmax and utilisation: [synth.json](synth.json); logs: `build/synth/`.",
        "",
        *_TABLE_HEAD,
        *map(_table_line, rows),
        *_failure_lines(failures),
        *_component_lines(rows, config),
        *_method_lines(results, harness_runs, seeds=seeds, jobs=jobs, elapsed=elapsed,
                       load=load, kept=kept),
    ]
    (docs / "synth.md").write_text("\n".join(lines))


def _fmt(v):
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def _table_line(r):
    """The synth.md table line of the row ``r``."""
    h = r["harness"]
    path = " -> ".join(r["critical_path"]) if r["critical_path"] else "-"
    timing = (f"does not fit the device ({r['does_not_fit']}) | - | - | "
              if r.get("does_not_fit") else
              f"{_fmt(r['fmax_best_mhz'])} | {_fmt(r['fmax_median_mhz'])} | {path} | ")
    latency = "-" if r["latency"] is None else r["latency"]
    harness = "-" if h is None else f"{h['luts']} / {h['ffs']}"
    seeds = ", ".join(map(str, r.get("seeds", r.get("fmax_seeds_mhz", {}))))
    return (f"| {r['component']} | {latency} | {r['target']} | {r['luts']} | {r['ffs']} | "
            f"{r['dsps']} | {r['brams']} | {timing}{harness} | {seeds} | "
            f"{r['runtime_s'] / 60:.1f} |")


def _failure_lines(failures):
    return [f"| {label} | failed: {err.splitlines()[-1][:80]} |||||||||||"
            for label, err in sorted(failures.items())]


def _component_lines(rows, config):
    """What each row's component is (:func:`describe`)."""
    labels = list(dict.fromkeys(r["component"] for r in rows))
    return ["", "The components (`hw.catalog`, configuration "
            f"`{config}` unless a row names another; variants from `SYNTH_LIST`):", "",
            *(f"- `{label}`: {describe(label, config)}" for label in labels)]


def _method_lines(results, harness_runs, *, seeds, jobs, elapsed, load, kept):
    """"How these numbers are made": targets, seeds, harness, counts, latency, runtime."""
    computed = [r for r in results if not r.get("cached")]
    all_tool_s = sum(r["yosys_s"] + r["nextpnr_s"] for r in results)
    harness_fmax = "; ".join(f"{r['target']} {r['component']}: {_fmt(r['fmax_best_mhz'])} MHz"
                             for r in harness_runs)
    devices = "; ".join(f"{t.name}: {t.device}, `{t.synth}`, {t.nextpnr} at {t.freq_mhz:g} MHz"
                        for t in TARGETS.values())
    return [
        "",
        "How these numbers are made:",
        "",
        f"- Targets: {devices}. The clock constraint only steers placement; Fmax is what "
        "nextpnr achieved (`--report`), over the register-to-register paths of the clock.",
        "- Each row is placed and routed with the nextpnr seeds of its `seeds` column (default "
        f"{', '.join(map(str, seeds))}; the large blocks, ECP5 only, one seed): best and median "
        "Fmax are over those seeds (per-seed values in synth.json). The last column is the "
        "tool wall time of the row (Yosys once plus nextpnr for every seed) when it executed, "
        "on a shared machine (`nice`d, other jobs running).",
        "- Every component is synthesised inside `hw.synth_harness.SynthHarness`: its inputs "
        "come from a serial-in shift register, its outputs go to a capture register and a "
        "MISR that drives one pin, so nothing can be optimised away and timing is measured "
        "from register to register (4 pins: clk, rst, sin, sout).",
        "- LUTs, FFs, DSPs and BRAMs are Yosys cell counts (`stat -json`; ECP5 LUTs = LUT4 + 2 x "
        "CCU2C) **of the component alone**: the harness, synthesised around a logic-free "
        "component with the same port widths, is subtracted and shown in the last column "
        "(inputs + 2 x outputs flip-flops, about one XOR LUT per output bit).",
        "- Latency is the component's `latency` parameter (register stages; 0 = combinational, "
        "then the harness registers bound the path). Critical path: start and end register of "
        "the slowest path in the best run, named after the pipeline stage registers "
        "(`align`, `sum`, `normal`, `out`); `harness in` is the shift register in front of "
        "the component's inputs (the register any design has there), `harness out` the "
        "capture register, `?` a register Yosys renamed.",
        f"- The harness alone (around the logic-free stand-in) reaches {harness_fmax or '-'} "
        "(best seed): the ceiling of this measurement method.",
        f"- Runtime of the `make synth` that wrote this file: {elapsed / 60:.1f} min wall clock, "
        f"{jobs} parallel job(s) on {os.cpu_count()} core(s), load average {load[0]:.1f} at the "
        f"start and {load[1]:.1f} at the end; {len(computed)} of {len(results)} synthesis runs "
        f"executed, {len(results) - len(computed)} reused unchanged from build/synth/. Tool wall "
        f"time of all {len(results)} runs when they executed: {all_tool_s / 60:.1f} min "
        "(Yosys and nextpnr run as WebAssembly, YoWASP)."
        + (f" {kept} row(s) come from earlier runs (`--component` updates its own rows and "
           "keeps the others; synth.json marks them `earlier_run`)." if kept else ""),
        "",
    ]
