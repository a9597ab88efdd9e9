"""Fault-injection campaigns (docs/fault_injection.md).

    python -m scripts.faults campaign --target tensor --runs 10000 --seed 1
    python -m scripts.faults campaign --target attention --config tiny --runs 500 \\
        --scheduler tcp://10.0.0.1:8786
    python -m scripts.faults baseline            # `make faults`: the four baseline campaigns
    python -m scripts.faults baseline --only tensor softmax
    python -m scripts.faults protected           # the head under the Flash-ABFT checker
    python -m scripts.faults render              # docs/fault_injection.md from docs/faults/

``campaign`` writes ``<out>/<name>.json`` / ``.csv`` / ``.png`` (default out: build/faults) and
prints the outcome table; ``baseline`` runs :data:`BASELINE` (targets, runs and seeds) into
docs/faults/ and renders the page's results section.
"""

import argparse
import sys
from pathlib import Path

from flows.docs import splice
from sim.faults import TARGETS, run_campaign, target
from sim.faults.campaign import campaign_name
from sim.faults.report import load, markdown, plot, write

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "faults"
PAGE = ROOT / "docs" / "fault_injection.md"

#: The baseline campaigns (no protection): name -> (target kind, its arguments, campaign
#: options, runs, seed). "attention_logic" draws from the cluster's registers only (the
#: memories hold 95 % of its bits, so the whole-cluster campaign puts few faults in logic).
LOGIC = ("control", "datapath", "accumulator", "checksum")
BASELINE = {
    "tensor": ("tensor", dict(config="default", m=32, n=32, k=32), {}, 10_000, 1),
    "softmax": ("softmax", dict(config="default", n=256, rows=4), {}, 10_000, 2),
    "lut_softmax_b": ("lut_softmax", dict(config="default", method="b", n=256, rows=4), {},
                      10_000, 3),
    "attention": ("attention", dict(config="tiny"), {}, 10_000, 4),
    "attention_logic": ("attention", dict(config="tiny"), dict(classes=LOGIC), 10_000, 5),
}

#: The attention head under the Flash-ABFT checker (docs/abft.md): detection only, and with the
#: firmware's repairs; compared with BASELINE's "attention" (the same head, no checker). Then
#: a plain GEMM job, unprotected and under the checker's GEMM mode.
PROTECTED = {
    "attention_abft_detect": ("attention", dict(config="tiny", abft="detect"), {}, 10_000, 6),
    "attention_abft_correct": ("attention", dict(config="tiny", abft="correct"), {}, 10_000, 7),
    # The same with the consumer's check of O against the report (sim.abft.consumer_verdict):
    # 14,000 runs give about 380 critical outputs, enough to show 99 % detection at 95 %.
    "attention_abft_detect_consumer": ("attention", dict(config="tiny", abft="detect",
                                                         consumer=True), {}, 14_000, 8),
    "attention_abft_correct_consumer": ("attention", dict(config="tiny", abft="correct",
                                                          consumer=True), {}, 10_000, 9),
    # One tensor-unit job (sim.gemm_abft.GEMM_DEMO) without the checker, and under its GEMM
    # mode with the consumer's check of Z (sim.abft.blocks_verdict).
    "gemm": ("gemm", dict(config="tiny"), {}, 10_000, 10),
    "gemm_abft_detect_consumer": ("gemm", dict(config="tiny", abft="detect", consumer=True), {},
                                  10_000, 11),
    "gemm_abft_correct_consumer": ("gemm", dict(config="tiny", abft="correct", consumer=True),
                                   {}, 10_000, 12),
    # The same head under classic per-operation protection (sim.perop: checksum and sum jobs
    # per tensor job compared by the cores, the softmax twice): the comparison EFTA makes.
    "attention_perop": ("attention", dict(config="tiny", perop=True), {}, 10_000, 13),
}


def _print(summary):
    print(f"{summary['name']}: {summary['runs']:,} runs in {summary['seconds']:.0f} s "
          f"({summary['runs_per_second']:.1f} runs/s, {summary['workers']} workers)")
    for outcome, r in summary["outcomes"].items():
        if r["count"]:
            print(f"  {outcome:<22} {r['count']:>7,}  {100 * r['rate']:6.2f} %  "
                  f"[{100 * r['low']:.2f}, {100 * r['high']:.2f}]")


def _source():
    """The commit the campaign runs on, and whether the work tree differed from it."""
    import subprocess

    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    return dict(commit=git("rev-parse", "HEAD") or None,
                modified=bool(git("status", "--porcelain", "--untracked-files=no")))


def _run(kind, kwargs, options, runs, seed, args, out, compact=False):
    spec = target(kind, **kwargs)
    source = _source()
    campaign = run_campaign(spec, runs, seed, workers=args.workers, scheduler=args.scheduler,
                            **options)
    summary = write(campaign, out, compact=compact, source=source)
    _print(summary)
    return summary


def _path(name):
    kind, kw, options, _, _ = {**BASELINE, **PROTECTED}[name]
    return DOCS / f"{campaign_name(target(kind, **kw).name, options.get('classes'))}.json"


def render():
    """docs/fault_injection.md's results section and docs/faults/baseline.png from the
    committed campaigns."""
    summaries = [load(path)["summary"] for path in map(_path, BASELINE) if path.exists()]
    if not summaries:
        raise SystemExit("no baseline campaign in docs/faults/: run `make faults` first")
    plot(summaries, DOCS / "baseline.png")
    PAGE.write_text(splice(PAGE.read_text(), "fault campaigns", markdown(summaries)))
    return summaries


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m scripts.faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("campaign", help="one campaign")
    c.add_argument("--target", required=True, choices=sorted(TARGETS))
    c.add_argument("--config", default=None, help="configuration (default: the target's)")
    c.add_argument("--select", default=None,
                   help="comma-separated module paths that get taps (default: all)")
    c.add_argument("--classes", default=None,
                   help="comma-separated target classes to draw faults from (default: all)")
    c.add_argument("--abft", default="", choices=["", "detect", "correct"],
                   help="attention target: the cluster with the Flash-ABFT checker, the "
                        "firmware detecting or also correcting (docs/abft.md)")
    c.add_argument("--perop", action="store_true",
                   help="attention target: per-operation protection instead (sim.perop)")
    c.add_argument("--runs", type=int, default=1000)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--out", default=str(ROOT / "build" / "faults"))
    b = sub.add_parser("baseline", help="the baseline campaigns into docs/faults/")
    b.add_argument("--only", nargs="*", choices=sorted(BASELINE), default=None)
    b.add_argument("--runs", type=int, default=None, help="runs per campaign (default: "
                   "BASELINE's)")
    for p in (c, b):
        p.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default: all cores; 0: no Dask)")
        p.add_argument("--scheduler", default=None,
                       help="address of a Dask scheduler (tcp://host:port) instead")
    pr = sub.add_parser("protected", help="the Flash-ABFT campaigns (PROTECTED) into docs/faults/")
    pr.add_argument("--only", nargs="*", choices=sorted(PROTECTED), default=None)
    pr.add_argument("--runs", type=int, default=None)
    for p in (pr,):
        p.add_argument("--workers", type=int, default=None)
        p.add_argument("--scheduler", default=None)
    sub.add_parser("render", help="re-render docs/fault_injection.md from docs/faults/")
    args = ap.parse_args(argv)

    if args.cmd == "campaign":
        kwargs = {}
        if args.config:
            kwargs["config"] = args.config
        if args.select is not None:
            kwargs["select"] = tuple(s.strip() for s in args.select.split(","))
        if args.abft:
            kwargs["abft"] = args.abft
        if args.perop:
            kwargs["perop"] = True
        options = {}
        if args.classes:
            options["classes"] = tuple(s.strip() for s in args.classes.split(","))
        _run(args.target, kwargs, options, args.runs, args.seed, args, Path(args.out))
    elif args.cmd == "protected":
        for name, (kind, kw, options, runs, seed) in PROTECTED.items():
            if args.only and name not in args.only:
                continue
            _run(kind, kw, options, args.runs or runs, seed, args, DOCS, compact=True)
    elif args.cmd == "baseline":
        for name, (kind, kw, options, runs, seed) in BASELINE.items():
            if args.only and name not in args.only:
                continue
            _run(kind, kw, options, args.runs or runs, seed, args, DOCS, compact=True)
        render()
        print(f"wrote {PAGE.relative_to(ROOT)} and docs/faults/")
    else:
        render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
