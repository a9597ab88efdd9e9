"""Where a design's routing congestion is: nextpnr's router2 heatmaps as a picture and tables.

    python -m scripts.congestion --component cluster_lut_b_2x4x3 --iterations 8

Synthesises the ``make synth`` item (Yosys; the netlist of build/synth/ is reused when
unchanged), places it as ``make synth`` does (ECP5-85F, the item's placer and block RAM
constraints), then runs router2
with ``--router2-heatmap`` and stops it after ``--iterations`` rip-up-and-reroute iterations:
a design that never finishes routing still shows where it fails. Writes
``docs/congestion_<item>.png`` (over-used wires per tile) and ``docs/congestion_<item>.md``
(the hot region, the wire types and the design blocks with the most over-used wires).
"""

import argparse
import collections
import re
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from .synth import (ROOT, SynthError, item_for, nextpnr_command, plan, pnr_netlist, prepare,
                    synthesise, tool_path)

__all__ = ["read_matrix", "read_table", "block_of", "summarise", "main"]


def read_matrix(path):
    """router2's ``congestion_by_coordinate`` CSV: one row per chip X, one value per Y."""
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip().rstrip(",")
        if line:
            rows.append([int(v) for v in line.split(",")])
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: not a complete congestion matrix")
    return rows


def read_table(path):
    """A ``congestion_by_net`` CSV (``net,over-use``: the nets' wires beyond one net each) or
    ``by_wiretype`` CSV (a header, then per wire type the number of wires carrying 0, 1, 2,
    ... nets): ``[(name, [int, ...]), ...]``."""
    table = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("type,"):
            continue
        name, _, rest = line.rpartition(",") if line.count(",") == 1 else line.partition(",")
        values = [int(v) for v in rest.strip(",").split(",") if v.strip()]
        table.append((name, values))
    return table


def block_of(net, depth=3):
    """The design block a Yosys/nextpnr net name belongs to: its first ``depth`` hierarchy
    levels, without the names of the cells Yosys derived it from and with indices folded
    (``dut.cluster.spm.bank4.0.0_DIA1_LUT4_Z`` -> ``dut.cluster.spm``)."""
    name = re.sub(r"\[\d+\]$", "", net)
    name = re.sub(r"_(TRELLIS|LUT4|PFUMX|CCU2C|L6MUX|DP16KD|MULT18X18D)\w*", "", name)
    name = re.sub(r"\$.*", "", name)
    parts = [re.sub(r"\d+", "#", p) for p in name.split(".")[:depth]]
    return ".".join(p for p in parts if p) or net


def summarise(matrix, by_net, by_type, *, top=12):
    """Markdown lines: totals, the hottest tiles, wire types and blocks by over-use."""
    cells = [(v, x, y) for x, row in enumerate(matrix) for y, v in enumerate(row)]
    total = sum(v for v, _, _ in cells)
    hot = sorted(cells, reverse=True)[:top]
    lines = [f"Over-use in total (nets on over-used wires): {total:,} on "
             f"{sum(1 for v, _, _ in cells if v):,} tiles; hottest tiles (x, y: nets): "
             + ", ".join(f"{x}, {y}: {v}" for v, x, y in hot) + ".", ""]
    lines += ["| wire type | wires | used | over-used (two or more nets) |",
              "|---|---:|---:|---:|"]
    for name, values in sorted(by_type, key=lambda t: -sum(t[1][2:]))[:top]:
        if sum(values[2:]):
            lines.append(f"| {name} | {sum(values):,} | {sum(values[1:]):,} | "
                         f"{sum(values[2:]):,} |")
    blocks = collections.Counter()
    nets = collections.Counter()
    for name, values in by_net:
        if values:
            blocks[block_of(name)] += values[0]
            nets[block_of(name, depth=99)] += values[0]
    lines += ["", "| design block | over-use on its nets |", "|---|---:|"]
    lines += [f"| `{b}` | {n:,} |" for b, n in blocks.most_common(top)]
    lines += ["", "| net (indices folded) | over-use |", "|---|---:|"]
    lines += [f"| `{b}` | {n:,} |" for b, n in nets.most_common(top)]
    return lines


def _plot(matrix, path, title):
    matplotlib.use("Agg")
    data = np.array(matrix, dtype=float).T
    fig, ax = plt.subplots(figsize=(8, 6))
    im = ax.imshow(data, origin="lower", cmap="inferno", interpolation="nearest")
    ax.set_xlabel("tile X")
    ax.set_ylabel("tile Y")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="nets on over-used wires")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _iterations_written(heat):
    return max([int(m.group(1)) for f in heat.glob("h_congestion_by_coordinate_*.csv")
                if (m := re.search(r"_(\d+)\.csv$", f.name))], default=0)


def route_until(unit, iterations, *, poll=5.0, log=print):
    """Place ``unit`` and run router2 with heatmaps until iteration ``iterations`` is complete
    (or routing has finished); returns the heatmap prefix and that iteration."""
    work = unit.out / "congestion"
    heat = work / "heat"
    heat.mkdir(parents=True, exist_ok=True)
    for f in heat.glob("*.csv"):
        f.unlink()
    args = [tool_path(unit.target.nextpnr), *nextpnr_command(
        unit, unit.seeds[0], router="router2", extra=("--router2-heatmap", "heat/h"))]
    start = time.monotonic()
    proc = subprocess.Popen(args, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        # An iteration's CSVs are complete once the next iteration's appear.
        while proc.poll() is None and _iterations_written(heat) <= iterations:
            time.sleep(poll)
        stopped = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if stopped:
        last = iterations
    elif proc.returncode == 0:
        last = _iterations_written(heat)
    else:
        raise SynthError(f"nextpnr failed in {work}: {proc.stderr.read()[-2000:]}")
    if last < 1:
        raise SynthError(f"nextpnr wrote no router2 heatmap in {work}")
    log(f"router2 iteration {last} after {(time.monotonic() - start) / 60:.1f} min"
        + ("" if stopped else " (routing finished)"))
    return heat / "h", last


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.congestion", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--component", default="cluster_lut_b_2x4x3",
                        help="a make synth item (default: cluster_lut_b_2x4x3)")
    parser.add_argument("--iterations", type=int, default=8,
                        help="router2 iterations to run (default: 8)")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    if args.iterations < 1:
        print("error: iterations must be at least 1", file=sys.stderr)
        return 2
    try:
        item = item_for(args.component)
        unit = plan([item], harness=False, targets=("ecp5",))[0]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _, text, script = prepare(unit)
    print(f"Yosys ({unit.out}) ...", flush=True)
    pnr_netlist(unit, synthesise(unit, text, script)[0])
    print("nextpnr: placement, then router2 with heatmaps ...", flush=True)
    prefix, it = route_until(unit, args.iterations)
    matrix = read_matrix(f"{prefix}_congestion_by_coordinate_{it}.csv")
    by_net = read_table(f"{prefix}_congestion_by_net_{it}.csv")
    by_type = read_table(f"{prefix}_congestion_by_wiretype_{it}.csv")
    docs = Path(args.docs)
    png = docs / f"congestion_{item.label}.png"
    _plot(matrix, png, f"{item.label}: routing over-use per tile, router2 iteration {it}")
    lines = [f"# Routing congestion of `{item.label}`", "",
             "Generated by `python -m scripts.congestion --component "
             f"{item.label} --iterations {args.iterations}`; do not edit. ECP5-85F, "
             f"placer options `{' '.join(unit.nextpnr_args) or 'default'}`"
             + (", block RAMs fixed to evenly spaced sites (`flows.synth.placement`)"
                if unit.spread_brams else "") + ", router2 "
             f"iteration {it} (over-use after that many rip-up-and-reroute passes).", "",
             f"![routing over-use per tile]({png.name})", "",
             *summarise(matrix, by_net, by_type), ""]
    (docs / f"congestion_{item.label}.md").write_text("\n".join(lines))
    print(f"wrote {png} and {png.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
