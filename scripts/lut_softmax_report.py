"""Accuracy of the LUT softmax methods against exact and expp softmax; writes the measured part
of ``docs/lut_softmax.md`` (between the RESULTS markers) and ``docs/lut_softmax.png``.

    python -m scripts.lut_softmax_report

Every method produces unsigned Q0.8 codes (the 8-bit output) on the same BF16 rows (seeded,
independent of the optimiser's rows): "exact" = round(256 p) saturated to 255 with p the float64
softmax of the BF16 row (the best any 8-bit output can do), "expp" = the SoftEx engine's golden
model (``sim.golden.softmax.softmax_row`` with unsigned Q0.8 output), "A" / "B" = the LUT golden
models with the tables of ``hw/softex/lut_tables.py``. Metrics per row
(``scripts.lut_softmax_tables.metrics``), averaged over the rows of a class (max abs: the maximum
over the class).
"""

import pathlib
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from rich.progress import track

from hw.softex import lut_tables as T
from scripts.lut_softmax_tables import CLASSES, metrics, rows
from sim.golden import lut_softmax as L
from sim.golden.softmax import reference, softmax_row

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "lut_softmax.md"
PNG = ROOT / "docs" / "lut_softmax.png"
SEED = 7
BEGIN, END = "<!-- RESULTS BEGIN (scripts/lut_softmax_report.py) -->", "<!-- RESULTS END -->"

METHODS = {
    "exact (rounded to Q0.8)": lambda x, p: np.minimum(np.floor(p * 256 + 0.5), 255),
    "expp softmax (SoftEx)": lambda x, p: softmax_row(x, out_cast=(0, 0)),
    "LUT method A": lambda x, p: L.method_a(x, T.METHOD_A)["y8"],
    "LUT method B": lambda x, p: L.method_b(x, T.METHOD_B)["y8"],
}


def evaluate(seed=SEED, per_class=100, long_rows=16, progress=True):
    """{class: {method: dict(mean, max, kl, top1, l1)}}."""
    rs = rows(seed, per_class, long_rows)
    res = {}
    for cls in CLASSES:
        acc = {m: [] for m in METHODS}
        it = track(rs[cls], description=f"{cls:7s}") if progress else rs[cls]
        for x in it:
            p = reference(x)
            for name, f in METHODS.items():
                acc[name].append(metrics(np.asarray(f(x, p), np.int64), p))
        res[cls] = {m: {"mean": np.mean([r["mean"] for r in v]),
                        "max": np.max([r["max"] for r in v]),
                        "kl": np.mean([r["kl"] for r in v]),
                        "l1": np.mean([r["l1"] for r in v]),
                        "top1": np.mean([r["top1"] for r in v]), "rows": len(v)}
                    for m, v in acc.items()}
    return res


def table(res):
    lines = ["| rows | method | mean abs err | max abs err | L1 (row) | KL | top-1 |",
             "|---|---|---|---|---|---|---|"]
    for cls in CLASSES:
        for m, r in res[cls].items():
            lines.append(f"| {cls} ({r['rows']}) | {m} | {r['mean']:.2e} | {r['max']:.4f} | "
                         f"{r['l1']:.4f} | {r['kl']:.4f} | {100 * r['top1']:.1f} % |")
    return "\n".join(lines)


def plot(res):
    matplotlib.use("Agg")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    w = 0.2
    xs = np.arange(len(CLASSES))
    for i, m in enumerate(METHODS):
        for ax, key, scale in zip(axes, ("mean", "max", "kl"), (256, 256, 1)):
            ax.bar(xs + (i - 1.5) * w, [res[c][m][key] * scale for c in CLASSES], w, label=m)
    for ax, t in zip(axes, ("mean abs error (LSB of Q0.8)", "max abs error (LSB of Q0.8)",
                            "KL(p || q)")):
        ax.set_xticks(xs, CLASSES)
        ax.set_title(t)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"LUT softmax ({T.TOTAL_BYTES} table bytes) vs exact and expp softmax, "
                 "8-bit outputs")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)


def main(argv=None):
    res = evaluate()
    tab = table(res)
    print(tab)
    block = (f"{BEGIN}\n\nTables: method A {T.A_LUT1_BYTES} + {T.A_LUT2_BYTES} = {T.A_BYTES} bytes, "
             f"method B {T.B_REXP_BYTES} + {T.B_COMP_BYTES} = {T.B_BYTES} bytes, total "
             f"{T.TOTAL_BYTES} bytes. Rows: seed {SEED} (`scripts.lut_softmax_tables.rows`).\n\n"
             f"{tab}\n\n![accuracy](lut_softmax.png)\n\n{END}")
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no results markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + block + tail)
    plot(res)
    print(f"wrote {DOC} and {PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
