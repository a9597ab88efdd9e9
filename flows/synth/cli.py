"""The command line of `make synth`: ``python -m scripts.synth`` / ``python -m flows synth``
(see :mod:`flows.synth`)."""

import argparse
import os
import sys
import time
from pathlib import Path

from ..toolchain import BUILD, ROOT
from .items import DEFAULT_SEEDS, SYNTH_LIST, item_for
from .runs import run
from .summary import earlier_rows, row_order, summarise, write_report
from .targets import TARGETS
from .units import plan

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(prog="python -m scripts.synth",
                                     description="Yosys + nextpnr report (make synth)")
    parser.add_argument("--config", default="default", help="configuration (default: default)")
    parser.add_argument("--component", nargs="+", metavar="NAME",
                        help="catalogue components to synthesise (default: "
                             + ", ".join(i.label for i in SYNTH_LIST) + ")")
    parser.add_argument("--latency", nargs="+", type=int, metavar="L",
                        help="latency sweep for every component (default: per component)")
    parser.add_argument("--target", nargs="+", choices=list(TARGETS),
                        help="targets for every component (default: per component, "
                             "else all: " + ", ".join(TARGETS) + ")")
    parser.add_argument("--seeds", nargs="+", type=int,
                        help="nextpnr seeds for every component (default: per component, "
                             "else " + " ".join(map(str, DEFAULT_SEEDS)) + ")")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="parallel tool runs (default: 2)")
    parser.add_argument("--out", default=str(BUILD / "synth"))
    parser.add_argument("--docs", default=str(ROOT / "docs"),
                        help="where synth.md / synth.json go (default: docs/)")
    parser.add_argument("--force", action="store_true", help="rerun unchanged units")
    parser.add_argument("--no-harness", action="store_true",
                        help="do not synthesise the harness alone (no subtraction)")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    parser.add_argument("--no-merge", action="store_true",
                        help="with --component: write only this run's rows (default: the rows "
                             "of other components already in synth.json are kept)")
    return parser


def main(argv=None):
    """Run `make synth` with the command line ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every unit ran (or ``--list``), 1 when a unit failed, 2 on invalid arguments.
    """
    args = _parser().parse_args(argv)
    try:
        items = [item_for(c) for c in args.component] if args.component else None
        units = plan(items, config=args.config, targets=args.target, seeds=args.seeds,
                     out=args.out, latencies=args.latency, harness=not args.no_harness)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for u in units:
            print(f"{u.label:<32} seeds {','.join(map(str, u.seeds))}  -> {u.out}")
        return 0
    return _run_and_report(units, args)


def _run_and_report(units, args):
    """Run ``units``, write synth.json / synth.md (keeping other components' rows after
    ``--component``) and report failures; the exit status."""
    start, load_start = time.monotonic(), os.getloadavg()[0]
    results, failures = run(units, jobs=args.jobs, force=args.force)
    elapsed = time.monotonic() - start
    rows = summarise(results)
    kept_rows, kept_harness = [], []
    if args.component and not args.no_merge:
        kept_rows, kept_harness = earlier_rows(Path(args.docs) / "synth.json", rows, results)
    write_report(sorted(kept_rows + rows, key=row_order), results, failures, docs=args.docs,
                 seeds=args.seeds or DEFAULT_SEEDS, jobs=args.jobs,
                 elapsed=elapsed, config=args.config,
                 load=(round(load_start, 1), round(os.getloadavg()[0], 1)),
                 kept_harness=kept_harness, kept=len(kept_rows))
    for label, err in failures.items():
        print(f"FAILED {label}: {err}", file=sys.stderr)
    print(f"wrote {Path(args.docs) / 'synth.md'} and synth.json ({len(results)} runs, "
          f"{elapsed / 60:.1f} min)")
    return 1 if failures else 0
