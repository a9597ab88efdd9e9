"""The campaign engine: a golden run, then ``runs`` faulty runs, each with one fault, every run
classified (:mod:`sim.faults.outcomes`), on a Dask cluster.

Faults are drawn here, before anything runs, from one seed (numpy's PCG64): a bit uniformly
among all the tapped bits (every register bit and every memory bit counts once, so a target is
chosen in proportion to its size), then a cycle uniformly in the golden run's job window; the
first k faults are the same for any campaign length. Each
run is a fresh model, and the simulation is deterministic, so a campaign's rows depend on the
seed only, not on how many workers ran it or in which order (tests/faults/test_campaign.py).

Runs go to Dask (``dask.distributed``) in chunks: a :class:`~distributed.LocalCluster` with one
single-threaded worker process per core by default, or the cluster of a scheduler address
(``scheduler="tcp://host:8786"``; the workers need this project installed and the build folder
shared). ``workers=0`` runs in this process, without Dask.
"""

import logging
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from hw.faults import CLASSES

from .outcomes import classify_run, hang_limit
from .targets import Fault

__all__ = ["draw_faults", "Campaign", "campaign_name", "run_campaign", "run_chunk"]

#: Runs per Dask task: large enough that scheduling costs little, small enough for an even
#: spread and a live progress bar.
CHUNK = 50


def draw_faults(fault_map, window, runs, seed, *, kind=1, classes=None):
    """``runs`` :class:`Fault` s (single-bit flips by default): bits uniform over the fault
    map's bits (only those of targets of ``classes``, if given), cycles uniform in ``window`` =
    (first, end)."""
    if classes is not None:
        unknown = set(classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"classes must be among {', '.join(CLASSES)}; got {sorted(unknown)}")
    if runs < 0:
        raise ValueError(f"runs must be >= 0, got {runs}")
    first, end = window
    if end <= first:
        raise ValueError(f"window {window} is empty")
    bits = np.array([t["bits"] if classes is None or t["class"] in classes else 0
                     for t in fault_map], dtype=np.int64)
    if bits.sum() == 0:
        raise ValueError(f"no target of the classes {classes}")
    # One row of two uniform numbers per run (bit, cycle): the first k faults of a campaign
    # are the same whatever its length.
    u = np.random.default_rng(seed).random((runs, 2))
    ends = np.cumsum(bits)
    picks = np.minimum((u[:, 0] * ends[-1]).astype(np.int64), ends[-1] - 1)
    ids = np.searchsorted(ends, picks, side="right")
    offsets = picks - (ends[ids] - bits[ids])
    widths = np.array([t["width"] for t in fault_map], dtype=np.int64)[ids]
    cycles = first + np.minimum((u[:, 1] * (end - first)).astype(np.int64), end - first - 1)
    return [Fault(i, int(t), int(o // w), int(o % w), int(c), kind)
            for i, (t, o, w, c) in enumerate(zip(ids, offsets, widths, cycles))]


def run_chunk(prepared, golden, limit, faults):
    """Rows of ``faults`` run on ``prepared`` (a worker's task)."""
    rows = []
    for fault in faults:
        t0 = time.perf_counter()
        record = prepared.execute(fault, limit)
        seconds = time.perf_counter() - t0
        outcome, abs_err, ulp = classify_run(golden, record)
        target = prepared.fault_map[fault.target]
        rows.append(dict(
            run=fault.index, target=fault.target, name=target["name"], cls=target["class"],
            component=target["component"], word=fault.word, bit=fault.bit, cycle=fault.cycle,
            kind=fault.kind, outcome=outcome,
            max_abs=None if abs_err is None else float(abs_err),
            max_ulp=None if ulp is None else float(ulp),
            cycles=record["cycles"], seconds=seconds))
    return rows


@dataclass
class Campaign:
    """One campaign's results: ``target`` (its description), ``seed``, ``runs``, ``golden``
    (cycles, window, cause), ``fault_map``, ``rows`` (one dict per run, in run order),
    ``seconds`` (faulty runs, wall clock), ``workers``, ``build_seconds``."""
    name: str
    target: dict
    seed: int
    runs: int
    golden: dict
    fault_map: list
    rows: list = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0
    build_seconds: float = 0.0

    @property
    def runs_per_second(self):
        return self.runs / self.seconds if self.seconds else None

    def to_dict(self):
        return dict(name=self.name, target=self.target, seed=self.seed, runs=self.runs,
                    golden=self.golden, fault_map=self.fault_map, rows=self.rows,
                    seconds=self.seconds, workers=self.workers,
                    build_seconds=self.build_seconds, runs_per_second=self.runs_per_second)


def _client(scheduler, workers):
    from dask.distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_campaign(target, runs, seed, *, workers=None, scheduler=None, chunk=CHUNK,
                 progress=True, prepared=None, classes=None):
    """Build ``target`` (a :mod:`sim.faults.targets` description), run its golden run and
    ``runs`` faulty runs with faults drawn from ``seed``; returns a :class:`Campaign`.

    ``workers``: local worker processes (default: the machine's cores; 0 runs here, without
    Dask); ``scheduler``: the address of a running Dask scheduler instead. ``progress``: a
    progress bar (rich). ``prepared``: an already built target (tests reuse one).
    ``classes``: draw faults only in targets of these classes (:data:`hw.faults.CLASSES`)."""
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    t0 = time.perf_counter()
    prepared = prepared or target.prepare()
    build_seconds = time.perf_counter() - t0
    golden = prepared.golden()
    limit = hang_limit(golden["cycles"]) + getattr(target, "repair_cycles",
                                                   lambda cycles: 0)(golden["cycles"])
    faults = draw_faults(prepared.fault_map, golden["window"], runs, seed, classes=classes)
    summary = dict(cycles=golden["cycles"], window=list(golden["window"]),
                   cause=golden["cause"], hang_limit=limit)
    name = campaign_name(prepared.name, classes)
    campaign = Campaign(name, dict(target.describe(), classes=classes), seed, runs, summary,
                        prepared.fault_map, build_seconds=build_seconds)
    chunks = [faults[i:i + chunk] for i in range(0, len(faults), chunk)]
    bar = _Progress(runs, f"{prepared.name}: {runs} runs", progress)
    rows = []
    t1 = time.perf_counter()
    with bar:
        if workers == 0 and not scheduler:
            campaign.workers = 0
            for c in chunks:
                part = run_chunk(prepared, golden, limit, c)
                rows.extend(part)
                bar.advance(len(part))
        else:
            from dask.distributed import as_completed
            client, cluster = _client(scheduler, workers or os.cpu_count() or 1)
            try:
                campaign.workers = len(client.scheduler_info()["workers"])
                shared = client.scatter([prepared, golden], broadcast=True)
                futures = client.map(run_chunk, [shared[0]] * len(chunks),
                                     [shared[1]] * len(chunks), [limit] * len(chunks), chunks,
                                     pure=False)
                for future in as_completed(futures):
                    part = future.result()
                    rows.extend(part)
                    bar.advance(len(part))
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    campaign.seconds = time.perf_counter() - t1
    campaign.rows = sorted(rows, key=lambda r: r["run"])
    return campaign


def campaign_name(target_name, classes=None):
    """The name of a campaign on the target ``target_name`` drawing from ``classes``: the
    target's name, then ``_logic`` for every class but memory, else the classes joined."""
    if not classes:
        return target_name
    if set(classes) == set(CLASSES) - {"memory"}:
        return target_name + "_logic"
    return target_name + "_" + "_".join(classes)


class _Progress:
    """A rich progress bar on a terminal; elsewhere (a log) a line per tenth of the runs."""

    def __init__(self, total, label, enabled):
        self.total, self.label, self.enabled = total, label, enabled
        self._bar = None
        self._done = self._shown = 0
        self._t0 = time.perf_counter()

    def __enter__(self):
        if self.enabled and sys.stdout.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn())
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, n):
        self._done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
        elif self.enabled and self._done * 10 // self.total > self._shown:
            self._shown = self._done * 10 // self.total
            rate = self._done / (time.perf_counter() - self._t0)
            print(f"{self.label}: {self._done:,} done, {rate:.1f} runs/s", flush=True)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
