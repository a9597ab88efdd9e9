"""`make sim`: run every block regression under Verilator/cocotb and print a report.

The regressions are the ones listed in ``sim.regressions.REGRESSIONS`` (the same list the
pytest suite runs): each component's emitted Verilog is built once (cached in build/sim/),
driven with random stalls, and compared bit for bit with its golden model. The report is
printed and written to build/sim/report.md; the exit code is non-zero if anything failed.
"""

import argparse
import sys
import time

from rich.console import Console
from rich.table import Table

from hw.config import get_config
from sim.regressions import REGRESSIONS, by_name, run_regression
from sim.toolchain import BUILD


def _fmt(v, spec="{:,}"):
    return "-" if v is None else spec.format(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default", help="configuration name (tiny, default, paper)")
    ap.add_argument("names", nargs="*", help="only these regressions (default: all)")
    args = ap.parse_args(argv)
    config = get_config(args.config)  # validates the name; the regressions use its block defaults
    regs = [by_name(n) for n in args.names] if args.names else REGRESSIONS

    console = Console()
    console.print(f"[bold]make sim[/]: {len(regs)} block regressions, configuration "
                  f"[cyan]{config.name}[/], Verilator + cocotb against the golden models")
    results = []
    t0 = time.perf_counter()
    with console.status("") as status:
        for i, reg in enumerate(regs, 1):
            status.update(f"[{i}/{len(regs)}] {reg.name}: building / simulating ...")
            r = run_regression(reg)
            results.append(r)
            mark = "[green]PASS[/]" if r["passed"] else "[red]FAIL[/]"
            console.print(f"  {mark} {r['name']:<26} {_fmt(r['cases']):>10} cases  "
                          f"{_fmt(r['mismatches'])} mismatches  {r['seconds']:.0f} s")

    table = Table(title="Block regressions (bit-exact, random valid/ready stalls)")
    for col, justify in [("regression", "left"), ("cases", "right"), ("mismatches", "right"),
                         ("cycles", "right"), ("cases/s", "right"), ("result", "center")]:
        table.add_column(col, justify=justify)
    lines = ["| regression | cases | mismatches | cycles | result |", "|---|---:|---:|---:|---|"]
    for r in results:
        rate = (r["cases"] / r["sim_seconds"]) if r["cases"] and r.get("sim_seconds") else None
        ok = "PASS" if r["passed"] else "FAIL"
        table.add_row(r["name"], _fmt(r["cases"]), _fmt(r["mismatches"]), _fmt(r["cycles"]),
                      _fmt(rate, "{:,.0f}"), f"[green]{ok}[/]" if r["passed"] else f"[red]{ok}[/]")
        lines.append(f"| {r['name']} | {_fmt(r['cases'])} | {_fmt(r['mismatches'])} | "
                     f"{_fmt(r['cycles'])} | {ok} |")
    console.print(table)
    for r in results:
        if not r["passed"]:
            console.print(f"[red]{r['name']} failed[/]: " + (r["first_mismatches"][:3] or
                          [(r["error"] or "").splitlines()[0] if r["error"] else ""]).__repr__())
            console.print(f"  log: {r['run_dir']}/sim.log")
    total_cases = sum(r["cases"] or 0 for r in results)
    failed = [r for r in results if not r["passed"]]
    summary = (f"{len(results) - len(failed)} passed, {len(failed)} failed: {total_cases:,} cases, "
               f"{sum(r['mismatches'] or 0 for r in results):,} mismatches, "
               f"{time.perf_counter() - t0:.0f} s")
    console.print(("[green]" if not failed else "[red]") + summary + "[/]")
    report = BUILD / "sim" / "report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# make sim report\n\n" + "\n".join(lines) + f"\n\n{summary}\n")
    console.print(f"report: {report.relative_to(BUILD.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
