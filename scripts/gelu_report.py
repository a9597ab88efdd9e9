"""GELU accuracy and throughput report: writes docs/gelu.md and docs/gelu_error.png.

    .venv/bin/python -m scripts.gelu_report            # accuracy + Verilator benchmark
    .venv/bin/python -m scripts.gelu_report --no-sim   # accuracy only; the throughput
                                                        # section of the existing docs/gelu.md
                                                        # (last recorded run) is kept

Errors are |G(x) - GELU(x)|, GELU(x) = x * (1 + erf(x / sqrt 2)) / 2 in float64, over every
finite BF16 x in [-8, 8] and over every finite BF16 x; the "floor" row is GELU correctly
rounded to BF16 (the best any BF16 unit can do). Relative errors |G - GELU| / |GELU| are over
BF16 x with 2^-8 <= |x| <= 1 ("near 0"); phi(0) = P(0) / 2^W is the unit's Phi at x = 0.
"""

import argparse
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from hw.config import get_config
from hw.softex import gelu_coeffs
from sim.golden.expp import bf16_to_float, float_to_bf16
from sim.golden.gelu import ACC_WIDTH_RANGE, gelu, gelu_phi_fixed
from sim.regressions import GELU_REGRESSIONS, TEST_CONFIG, run_regression

ROOT = Path(__file__).resolve().parents[1]
ALL = np.arange(1 << 16, dtype=np.uint16)
XF = bf16_to_float(ALL)
FINITE = np.isfinite(XF)
RANGE = FINITE & (np.abs(XF) <= 8)
NEAR0 = FINITE & (np.abs(XF) >= 2.0 ** -8) & (np.abs(XF) <= 1)
DOC = ROOT / "docs" / "gelu.md"
ENGINE_LINE = ("Inside the SoftEx engine (`docs/softmax_bench.md`, "
               f"L = {get_config(TEST_CONFIG).softex.lanes} port lanes, GELU unit with "
               "L/2 lanes) GELU jobs run at 0.2627 cycles per element at n = 1024 and 0.2508 at "
               "n = 16384 (roofline 0.25).")


def phi0(k, w=14):
    """phi(0) = P(x = +0) / 2^W (every expp term is exactly 1 at x = 0)."""
    na, b = gelu_coeffs.COEFFS[k]
    return int(gelu_phi_fixed(np.array([0]), na, b, w)[0]) / 2 ** w


def phi0_widths(k):
    return [w for w in range(ACC_WIDTH_RANGE[0], ACC_WIDTH_RANGE[1] + 1) if phi0(k, w) == 0.5]


def recorded_sim_text():
    """The Verilator line of the existing docs/gelu.md throughput section (for --no-sim)."""
    if DOC.exists():
        text = DOC.read_text()
        if "## Throughput" in text:
            for line in text.split("## Throughput", 1)[1].splitlines():
                if line.startswith("Verilator run"):
                    return line
    return "(not run: --no-sim, and no recorded run in docs/gelu.md)"


def exact(v):
    return np.array([x * 0.5 * (1 + math.erf(x / math.sqrt(2))) for x in v])


def errors(g_bits, mask, ref):
    d = np.abs(bf16_to_float(g_bits[mask]) - ref)
    return float(d.max()), float(d.mean())


def rel_errors(g_bits, mask, ref):
    d = np.abs(bf16_to_float(g_bits[mask]) - ref) / np.abs(ref)
    return float(d.max()), float(d.mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-sim", action="store_true", help="skip the Verilator benchmark run")
    args = ap.parse_args(argv)
    ref_all = exact(XF[FINITE])
    ref_rng = exact(XF[RANGE])
    ref_near = exact(XF[NEAR0])
    floor = float_to_bf16(exact(XF[FINITE]))
    floor_bits = np.zeros(1 << 16, dtype=np.uint16)
    floor_bits[FINITE] = floor
    rows = []
    print("accuracy per K ...", flush=True)
    for k in sorted(gelu_coeffs.COEFFS):
        g = gelu(ALL, terms=k)
        rows.append((k, *errors(g, RANGE, ref_rng), *errors(g, FINITE, ref_all),
                     *rel_errors(g, NEAR0, ref_near), phi0(k), phi0_widths(k)))
        print(f"  K={k}: max {rows[-1][1]:.3e} mean {rows[-1][2]:.3e} rel max {rows[-1][5]:.3e} "
              f"rel mean {rows[-1][6]:.3e} phi(0) {rows[-1][7]}", flush=True)
    fl = (*errors(floor_bits, RANGE, ref_rng), *errors(floor_bits, FINITE, ref_all),
          *rel_errors(floor_bits, NEAR0, ref_near))
    k0 = gelu_coeffs.DEFAULT_TERMS
    print("accuracy per acc width ...", flush=True)
    wrows = []
    for w in range(ACC_WIDTH_RANGE[0], ACC_WIDTH_RANGE[1] + 1):
        wrows.append((w, *errors(gelu(ALL, terms=k0, acc_width=w), RANGE, ref_rng), phi0(k0, w)))

    sim_text = recorded_sim_text()
    if not args.no_sim:
        print("Verilator full-throughput run ...", flush=True)
        reg = [r for r in GELU_REGRESSIONS if r.params["gap"] == 0][0]
        r = run_regression(reg, raise_on_failure=True)
        lanes = reg.params["lanes"]
        sim_text = (f"Verilator run `{reg.name}` (K = {k0}, W = 14, {lanes} lanes, latency "
                    f"{reg.component().latency}, no gaps or stalls): {r['cases']:,} elements in "
                    f"{r['cycles']:,} cycles = **{r['cycles'] / r['cases']:.4f} cycles per "
                    f"element** (1/lanes = {1 / lanes:.4f} plus pipeline fill), "
                    f"{r['mismatches']} mismatches.")

    # plot
    matplotlib.use("Agg")
    order = np.argsort(XF[RANGE])
    xs = XF[RANGE][order]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for k in sorted(gelu_coeffs.COEFFS):
        d = bf16_to_float(gelu(ALL[RANGE], terms=k)) - ref_rng
        ax.plot(xs, d[order], lw=0.6, label=f"K={k}")
    ax.plot(xs, (bf16_to_float(floor_bits[RANGE]) - ref_rng)[order], lw=0.6, color="k",
            alpha=0.4, label="BF16-rounded GELU")
    ax.set_xlabel("x")
    ax.set_ylabel("G(x) - GELU(x)")
    ax.set_title("SoftEx GELU error (all BF16 x in [-8, 8], W = 14, accurate expp)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "gelu_error.png", dpi=100)

    L = ["# GELU (SoftEx)", "",
         "Generated by `.venv/bin/python -m scripts.gelu_report` (coefficients by "
         "`.venv/bin/python -m scripts.gelu_fit`). RTL `hw/softex/gelu.py`, golden model "
         "`sim/golden/gelu.py` (bit-exact specification), tests `tests/softex/test_gelu_*.py`.", "",
         "## Structure", "",
         "GELU(x) = x Phi(x). The tail T(t) = 1 - Phi(t) = erfc(t/sqrt 2)/2 (t >= 0) is fitted as "
         "sum_k b_k exp(-a_k t^2) with b_k > 0, and Phi(-t) = 1 - Phi(t) gives the negative side. "
         "Per element: u = bf16(x*x); y_k = bf16(NA_k * u) (NA_k = -a_k); e_k = expp(y_k) "
         "(accurate mode by default); p_k = bf16(B_k * e_k); q_k = p_k in unsigned Q0.W (RNE, "
         "saturating); S = sum q_k saturated to W bits; P = 2^W - S for x >= +0, S for x <= -0 "
         "(Phi in Q1.W); phi = bf16(P / 2^W); G = bf16(x * phi). The same expp serves all K "
         "terms; the argument is x^2, so the K terms are even in x and the symmetry costs only "
         "the final subtract-by-sign.", "",
         "Cost per lane: 2 + 2K BF16 multipliers (2K of them with a constant operand), K expp, "
         "K float-to-fixed converters, a K-input W-bit adder, one (W+1)-bit fixed-to-float. "
         "Six cut points; default latency 6; one beat per cycle.", "",
         "Special values: NaN -> 0x7FC0; +inf -> +inf; -inf -> -0 (the limit; x * phi would "
         "be NaN); +-0 -> +-0; subnormal x: x^2 underflows to 0, so G = bf16(x * phi(0)); large "
         "|x|: phi rounds to exactly 1.0 (x > 0, G = x) or 0 (x < 0, G = -0).", "",
         "## Error per K (W = 14, accurate expp)", "",
         "| K | max abs err, x in [-8, 8] | mean abs err, [-8, 8] | max abs err, all finite | "
         "mean abs err, all finite | max rel err, 2^-8 <= abs(x) <= 1 | mean rel err, "
         "2^-8 <= abs(x) <= 1 | phi(0) | phi(0) = 0.5 exactly at W |",
         "|---|---|---|---|---|---|---|---|---|"]
    for k, mx, mn, mxa, mna, rmx, rmn, p0, ws in rows:
        L.append(f"| {k}{' (default)' if k == k0 else ''} | {mx:.3e} | {mn:.3e} | {mxa:.3e} | "
                 f"{mna:.3e} | {rmx:.3e} | {rmn:.3e} | {p0:g} | {', '.join(map(str, ws))} |")
    L.append(f"| BF16-rounded exact GELU (floor) | {fl[0]:.3e} | {fl[1]:.3e} | {fl[2]:.3e} | "
             f"{fl[3]:.3e} | {fl[4]:.3e} | {fl[5]:.3e} | 0.5 | - |")
    mean = {r[0]: r[2] for r in rows}
    others = ", ".join(f"K = {k} {mean[k] / mean[k0]:.2f}x" for k in sorted(mean) if k != k0)
    L += ["", "The maximum error is set by the BF16 rounding of phi and of the result (it sits "
          "near |x| ~ 2..4 for every K and is close to the floor row), so it hardly depends on "
          "K; the mean error shows the fit quality. **Default K = "
          f"{k0}**: the smallest K whose mean error is within 25 % of the best K's (mean error "
          f"relative to K = {k0}: {others}).", "",
          "phi(0) = 0.5 exactly: at x = 0 every expp term is exactly 1, so S = sum_k "
          "round(B_k 2^W) and phi(0) = 1 - S / 2^W. The fit keeps sum b_k = 1/2 and the BF16 "
          "B_k are multiples of 2^-15 with sum_k round(B_k 2^W) = 2^(W-1) at W = 14 and 15, so "
          "G(x) = x/2 exactly for small x (and subnormal x) at the default W; the last column "
          "lists the widths where the rounded terms still sum to 2^(W-1). The relative error "
          "near 0 is structural: the terms are even in x, so the fitted Phi(x) - 1/2 grows like "
          "x^2 instead of x/sqrt(2 pi); the polish of `scripts/gelu_fit.py` adds the max and mean "
          "relative error on 2^-8 <= |x| <= 1 to its objective (steeper last terms help).", "",
          f"## Error vs accumulator width (K = {k0}, accurate expp, x in [-8, 8])", "",
          "| W | max abs err | mean abs err | phi(0) |", "|---|---|---|---|"]
    for w, mx, mn, p0 in wrows:
        L.append(f"| {w}{' (default)' if w == 14 else ''} | {mx:.3e} | {mn:.3e} | {p0:g} |")
    L += ["", "The per-term products B_k * e_k are rounded to BF16 before the fixed-point "
          "conversion, and expp itself is accurate to ~0.1 %, so beyond W ~ 11 bits the "
          "accumulator is no longer the limit; W = 14 (the SoftEx width) is kept as the default "
          "with margin (errors at W = 11..15 differ by rounding noise only)."]
    L += ["", "## Throughput", "", sim_text, "",
          "Per element the unit costs 1/lanes cycles at full throughput (global-stall pipeline, "
          "one beat per cycle).", "", ENGINE_LINE, "", "![GELU error](gelu_error.png)", ""]
    DOC.write_text("\n".join(L))
    print("wrote docs/gelu.md, docs/gelu_error.png")


if __name__ == "__main__":
    main()
