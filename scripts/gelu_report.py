"""GELU accuracy, cost and throughput report of both units: writes docs/gelu.md and docs/gelu_error.png.

    .venv/bin/python -m scripts.gelu_report            # accuracy + Verilator benchmark
    .venv/bin/python -m scripts.gelu_report --no-sim   # accuracy only; the throughput
                                                        # section of the existing docs/gelu.md
                                                        # (last recorded run) is kept

Errors are |G(x) - GELU(x)|, GELU(x) = x * (1 + erf(x / sqrt 2)) / 2 in float64, over every
finite BF16 x in [-8, 8] and over every finite BF16 x; the "floor" row is GELU correctly
rounded to BF16 (the best any BF16 unit can do; :func:`sim.golden.gelu.gelu_correctly_rounded`,
one rounding from exact arithmetic), which the table unit is, input for input. Relative errors |G - GELU| / |GELU| are over
BF16 x with 2^-8 <= |x| <= 1 ("near 0"); phi(0) = P(0) / 2^W is the unit's Phi at x = 0.
The negative side's table (:func:`tail_table`) takes every negative BF16 x by range against
the exact GELU of :func:`sim.golden.gelu.gelu_exact` (decimal arithmetic; float64 erf cancels
to nothing in the tail), with the unit before its tail formula (``tail=None``) beside it.
"""

import argparse
import functools
import json
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from hw.config import get_config
from hw.softex import gelu_coeffs
from hw.softex.gelu import TAIL_C, TAIL_X
from sim.golden.expp import bf16_to_float, float_to_bf16, ulp_of
from hw.softex.gelu_table import GeluTable
from hw.softex.gelu_table_data import E_LO, INDEX_BITS, WORDS
from sim.golden.gelu import (TAIL, ACC_WIDTH_RANGE, gelu, gelu_correctly_rounded, gelu_exact,
                             gelu_phi_fixed)
from sim.golden.gelu_table import gelu_table
from sim.regressions import GELU_REGRESSIONS, TEST_CONFIG, run_regression

ROOT = Path(__file__).resolve().parents[1]
ALL = np.arange(1 << 16, dtype=np.uint16)
XF = bf16_to_float(ALL)
FINITE = np.isfinite(XF)
RANGE = FINITE & (np.abs(XF) <= 8)
NEAR0 = FINITE & (np.abs(XF) >= 2.0 ** -8) & (np.abs(XF) <= 1)
DOC = ROOT / "docs" / "gelu.md"
def engine_line():
    """The GELU jobs' cycles per element inside the SoftEx engine, from docs/softmax_bench.md
    (``python -m scripts.bench_softmax``)."""
    bench = ROOT / "docs" / "softmax_bench.md"
    per = {}
    if bench.exists() and "## GELU jobs" in bench.read_text():
        for line in bench.read_text().split("## GELU jobs", 1)[1].splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 5 and cells[0].isdigit():
                per[int(cells[0])] = cells[2]
    if 1024 not in per or 16384 not in per:
        return "(docs/softmax_bench.md has no GELU rows: run `python -m scripts.bench_softmax`)"
    return ("Inside the SoftEx engine (`docs/softmax_bench.md`, "
            f"L = {get_config(TEST_CONFIG).softex.lanes} port lanes, GELU unit with L/2 lanes) "
            f"GELU jobs run at {per[1024]} cycles per element at n = 1024 and {per[16384]} at "
            "n = 16384 (roofline 0.25).")


def phi0(k, w=14):
    """phi(0) = P(x = +0) / 2^W (every expp term is exactly 1 at x = 0)."""
    na, b = gelu_coeffs.COEFFS[k]
    return int(gelu_phi_fixed(np.array([0]), na, b, w)[0]) / 2 ** w


def phi0_widths(k):
    return [w for w in range(ACC_WIDTH_RANGE[0], ACC_WIDTH_RANGE[1] + 1) if phi0(k, w) == 0.5]


def recorded_sim_text(method):
    """The Verilator line of ``method``'s unit in the existing docs/gelu.md throughput section
    (for --no-sim)."""
    if DOC.exists():
        text = DOC.read_text()
        if "## Throughput" in text:
            for line in text.split("## Throughput", 1)[1].splitlines():
                if line.startswith(f"Verilator run `gelu_{method}_"):
                    return line
    return f"(not run: --no-sim, and no recorded run of the {method} unit in docs/gelu.md)"


def sim_text(method):
    """Run ``method``'s full-throughput regression under Verilator; its line of the report."""
    reg = [r for r in GELU_REGRESSIONS if r.params["gap"] == 0 and r.params["method"] == method][0]
    r = run_regression(reg, raise_on_failure=True)
    lanes = reg.params["lanes"]
    what = ("table" if method == "table"
            else f"expp unit, K = {reg.params['terms']}, W = {reg.params['acc_width']}")
    return (f"Verilator run `{reg.name}` ({what}, {lanes} lanes, latency "
            f"{reg.component().latency}, no gaps or stalls): {r['cases']:,} elements in "
            f"{r['cycles']:,} cycles = **{r['cycles'] / r['cases']:.4f} cycles per "
            f"element** (1/lanes = {1 / lanes:.4f} plus pipeline fill), "
            f"{r['mismatches']} mismatches.")


def synth_rows():
    """The ECP5 rows of docs/synth.json (``make synth``) of the two GELU units, by component
    name (missing rows are left out)."""
    path = ROOT / "docs" / "synth.json"
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())["rows"]
    return {r["component"]: r for r in rows
            if r["component"] in ("gelu_x4", "gelu_expp_x4") and r["target"] == "ecp5"}


def cost_table():
    """The synthesis table of the two units (markdown lines)."""
    rows = synth_rows()
    labels = [("gelu_x4", "table unit, 4 lanes (default)"),
              ("gelu_expp_x4", "expp unit, 4 lanes (K = 5)")]
    out = ["| unit (configuration `large`: the GELU of the 8-lane SoftEx) | latency | LUT4 | FF | "
           "DSP | block RAM | Fmax (MHz) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, label in labels:
        r = rows.get(name)
        if r is None:
            out.append(f"| {label} | not yet synthesised (`make synth`) | | | | | |")
            continue
        out.append(f"| {label} (`{name}`) | {r['latency']} | {r['luts']:,} | {r['ffs']:,} | "
                   f"{r['dsps']} | {r['brams']} | {r['fmax_best_mhz']:.1f} |")
    return out


def exact(v):
    return np.array([x * 0.5 * (1 + math.erf(x / math.sqrt(2))) for x in v])


NEG = np.isfinite(XF) & (XF < 0)
#: The tail's cost, measured once with Yosys (synth_ecp5 of ``SynthHarness(Gelu(1, latency=6))``,
#: K = 5) before and after it was added (a synthesis figure, not recomputed here).
TAIL_COST = ("The tail formula costs one lane (K = 5, latency 6, Yosys synth_ecp5 in the "
             "synthesis harness) 2,943 LUT4 + 914 CCU2C + 473 FF against 2,990 + 862 + 427 "
             "without it: LUT4 + 2 CCU2C 4,771 vs 4,714 (+1.2 %), +46 FF (its 16-bit result "
             "carried over three cut points), the same 17 MULT18X18D.")
SMALLEST_NORMAL = 2.0 ** -126
X_TAIL = float(bf16_to_float(np.uint16(TAIL_X)))


def _neg_ranges(ref):
    """The ranges of the negative-side table: (key, label, mask over ALL), masks a partition of
    the finite negative BF16 x. ``ref`` is the exact GELU of every pattern."""
    nz = np.zeros(1 << 16, dtype=bool)
    nz[NEG] = float_to_bf16(ref[NEG]) & 0x7FFF != 0
    normal = NEG & (np.abs(ref) >= SMALLEST_NORMAL)
    x_n = float(XF[normal].min())                 # the last x whose GELU is a normal number
    x = XF
    return [
        ("sub", "(-2^-125, 0): x or GELU subnormal", NEG & (x > -2 * SMALLEST_NORMAL)),
        ("near0", "[-1, -2^-125]", NEG & (x >= -1) & (x <= -2 * SMALLEST_NORMAL)),
        ("m2", "[-2, -1)", NEG & (x >= -2) & (x < -1)),
        ("fixed", f"({X_TAIL}, -2)", NEG & (x > X_TAIL) & (x < -2)),
        ("tail4", f"[-4, {X_TAIL}]", NEG & (x >= -4) & (x <= X_TAIL)),
        ("tail8", "[-8, -4)", NEG & (x >= -8) & (x < -4)),
        ("deep", f"[{x_n:g}, -8): GELU normal", NEG & (x >= x_n) & (x < -8)),
        ("subgelu", "GELU subnormal", NEG & (x < x_n) & nz),
        ("zero", "abs(GELU) < 2^-134 (BF16 0)", NEG & (x < x_n) & ~nz),
    ]


@functools.cache
def _exact_negative():
    """gelu_exact of every pattern, 0 outside the finite negative x (computed once)."""
    ref = np.zeros(1 << 16)
    ref[NEG] = gelu_exact(ALL[NEG])
    return ref


def tail_table(expp_mode="accurate", tail=TAIL, terms=None):
    """The negative side's errors by range of x: every finite negative BF16 x against the
    exact GELU (:func:`sim.golden.gelu.gelu_exact`), acc width 14.

    Parameters
    ----------
    expp_mode : str
    tail : tuple or None
        The tail constants (``None``: the unit before its tail formula).
    terms : int, optional
        K (default: the default K).

    Returns
    -------
    list of dict
        One per range, in order: ``name``, ``label``, ``n`` (inputs), ``gelu_lo``, ``gelu_hi``
        (the range of abs(GELU)), ``normal`` (every exact GELU a normal BF16 number),
        ``max_abs``, ``max_rel``, ``mean_rel``, ``max_ulp`` (in ulps of the exact value, the
        BF16 spacing of its binade, 2^-133 below the normal range), ``zeros`` (+-0 outputs
        where the exact GELU rounds to a non-zero BF16 number), ``zeros_abs`` (the largest
        abs(GELU) among those) and ``floor_rel`` (the max relative error of GELU correctly
        rounded to BF16).
    """
    ref = _exact_negative()
    g = np.zeros(1 << 16)
    g[NEG] = bf16_to_float(gelu(ALL[NEG], terms=terms, expp_mode=expp_mode, tail=tail))
    floor = np.zeros(1 << 16)
    floor[NEG] = bf16_to_float(gelu_correctly_rounded(ALL[NEG]))
    rows = []
    for key, label, mask in _neg_ranges(ref):
        r, gm = ref[mask], g[mask]
        a = np.abs(gm - r)
        with np.errstate(invalid="ignore", divide="ignore"):     # GELU = 0 beyond the cutoff
            rel = np.where(r != 0, a / np.abs(r), np.where(a == 0, 0.0, np.inf))
            frel = np.where(r != 0, np.abs(floor[mask] - r) / np.abs(r), 0.0)
        lost = (gm == 0) & (float_to_bf16(r) & 0x7FFF != 0)
        rows.append(dict(
            name=key, label=label, n=int(mask.sum()), gelu_lo=float(np.abs(r).min()),
            gelu_hi=float(np.abs(r).max()), normal=bool(np.all(np.abs(r) >= SMALLEST_NORMAL)),
            max_abs=float(a.max()), max_rel=float(rel.max()), mean_rel=float(rel.mean()),
            max_ulp=float((a / ulp_of(np.abs(r))).max()),
            zeros=int(np.sum(lost)), zeros_abs=float(np.abs(r[lost]).max(initial=0.0)),
            floor_rel=float(frel.max())))
    return rows


def last_normal_and_first_zero():
    """(the most negative x whose exact GELU is a normal BF16 number, the least negative x
    below TAIL_X where the unit returns -0), default K, accurate expp."""
    ref = _exact_negative()
    x_normal = float(XF[NEG & (np.abs(ref) >= SMALLEST_NORMAL)].min())
    tail = NEG & (XF <= X_TAIL)
    g = bf16_to_float(gelu(ALL[tail]))
    return x_normal, float(XF[tail][g == 0].max())


#: Bounds the tests hold tail_table to, both expp modes: key -> (max relative error or None
#: where the exact GELU is subnormal and BF16 keeps few bits, max error in ulp).
TAIL_BOUNDS = {"sub": (None, 0.5), "near0": (0.015, 3.0), "m2": (0.015, 3.5),
               "fixed": (0.08, 20.0), "tail4": (0.07, 14.0), "tail8": (0.08, 19.0),
               "deep": (0.25, 60.0), "subgelu": (None, 34.0), "zero": (None, 0.5)}


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
    floor_bits = gelu_correctly_rounded(ALL)
    table_bits = gelu_table(ALL)
    table_mismatches = int(np.sum(table_bits != floor_bits))
    twice = int(np.sum(float_to_bf16(exact(XF[FINITE])) != floor_bits[FINITE]))
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

    x_normal, x_zero = last_normal_and_first_zero()
    print("negative side against the exact GELU ...", flush=True)
    neg = {mode: tail_table(mode) for mode in ("accurate", "softex")}
    neg_before = tail_table("accurate", tail=None)

    sims = {m: recorded_sim_text(m) for m in ("table", "expp")}
    if not args.no_sim:
        print("Verilator full-throughput runs ...", flush=True)
        sims = {m: sim_text(m) for m in ("table", "expp")}

    # plot
    matplotlib.use("Agg")
    order = np.argsort(XF[RANGE])
    xs = XF[RANGE][order]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for k in sorted(gelu_coeffs.COEFFS):
        d = bf16_to_float(gelu(ALL[RANGE], terms=k)) - ref_rng
        ax.plot(xs, d[order], lw=0.6, label=f"K={k}")
    ax.plot(xs, (bf16_to_float(floor_bits[RANGE]) - ref_rng)[order], lw=0.6, color="k",
            alpha=0.4, label="table unit (GELU rounded to BF16)")
    ax.set_xlabel("x")
    ax.set_ylabel("G(x) - GELU(x)")
    ax.set_title("SoftEx GELU error (all BF16 x in [-8, 8]; expp unit: W = 14, accurate expp)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "gelu_error.png", dpi=100)

    e_hi = E_LO + (1 << INDEX_BITS)
    L = ["# GELU (SoftEx)", "",
         "Generated by `.venv/bin/python -m scripts.gelu_report` (the table by "
         "`.venv/bin/python -m scripts.gelu_table`, the expp unit's coefficients by "
         "`.venv/bin/python -m scripts.gelu_fit`).", "",
         "The SoftEx engine has one of two GELU units (configuration field "
         "`softex.gelu_method`, engine argument `gelu_method`):", "",
         "- **`table` (the default)**: GELU correctly rounded to BF16 for every input, from a "
         "ROM. RTL `hw/softex/gelu_table.py`, golden model `sim/golden/gelu_table.py`, ROM "
         "`hw/softex/gelu_table_data.py` (generated from exact arithmetic), tests "
         "`tests/softex/test_gelu_table.py`.",
         "- **`expp`**: x Phi(x) with Phi from a sum of K expp terms, SoftEx's own "
         "exponential (the approach of the SoftEx paper). RTL `hw/softex/gelu.py`, golden "
         "model `sim/golden/gelu.py`, tests `tests/softex/test_gelu_*.py`.", "",
         "Both take the engine's GELU jobs (COMMAND.OP = GELU) at the same rate, and the "
         "firmware, drivers and register map do not change with the choice.", "",
         "## Cost (ECP5-85F, `make synth`)", "",
         *cost_table(), "",
         "From docs/synth.json (harness subtracted; a block RAM is a DP16KD; the engines with "
         "each unit: docs/synth.md). The table unit has no multiplier and no exponential: its "
         "logic is the ROM address, the two rules below and a multiplexer per lane.", "",
         "## The table unit (default)", "",
         f"x = (s, e, m): sign, biased exponent, 7 fraction bits. Binades E_LO = {E_LO} to "
         f"{e_hi - 1} (|x| in [2^{E_LO - 127}, 2^{e_hi - 127})) read the ROM: "
         f"{len(WORDS):,} words of 15 bits (the magnitude; the sign is x's), addressed by "
         f"(s, e - E_LO, m), {len(WORDS) * 15:,} bits; two lanes share one ROM through its "
         "two read ports. Below E_LO, G = x / 2 rounded as x / 2 + x^2 / sqrt(2 pi) is: the "
         "exponent minus one for normal x / 2, and for subnormal results a shift right with "
         "the tie (a one shifted out) broken upwards for x > 0 and downwards in magnitude for "
         "x < 0 (the x^2 term is positive). Above, G = x for x > 0 (+inf included) and -0 for "
         "x < 0 (-inf included); NaN gives 0x7FC0. E_LO and the ROM's 2^"
         f"{INDEX_BITS} binades are chosen by the generator: the lowest binade where the "
         "x / 2 rule fails, and the fewest binades that reach those where the other rule "
         "holds for good.", "",
         f"**Accuracy: 0.5 ulp, the floor.** All 65,536 inputs against GELU rounded once to "
         f"BF16 from exact arithmetic (`sim.golden.gelu.gelu_correctly_rounded`: decimal "
         f"erfc to 60 digits, rounded once, refusing any case within the decimal's error of a "
         f"rounding boundary): {table_mismatches} differences. The same rounding through "
         f"float64 (x (1 + erf(x / sqrt 2)) / 2, then to BF16) differs in {twice} inputs (the "
         "double rounding and float64's erf at the smallest and the most negative x), which is "
         "why the reference is exact.", "",
         f"One cut point, the ROM read: at latency >= 1 its read port is synchronous (block "
         f"RAM on ECP5) and further stages go to the output; default latency "
         f"{GeluTable.DEFAULT_LATENCY}; latency 0 reads asynchronously (a LUT ROM). One beat "
         "per cycle.", "",
         "## The expp unit (`gelu_method = \"expp\"`)", "",
         "### Structure", "",
         "GELU(x) = x Phi(x). The tail T(t) = 1 - Phi(t) = erfc(t/sqrt 2)/2 (t >= 0) is fitted as "
         "sum_k b_k exp(-a_k t^2) with b_k > 0, and Phi(-t) = 1 - Phi(t) gives the negative side. "
         "Per element: u = bf16(x*x); y_k = bf16(NA_k * u) (NA_k = -a_k); e_k = expp(y_k) "
         "(accurate mode by default); p_k = bf16(B_k * e_k); q_k = p_k in unsigned Q0.W (RNE, "
         "saturating); S = sum q_k saturated to W bits; P = 2^W - S for x >= +0, S for x <= -0 "
         "(Phi in Q1.W); phi = bf16(P / 2^W); G = bf16(x * phi). The same expp serves all K "
         "terms; the argument is x^2, so the K terms are even in x and the symmetry costs only "
         "the final subtract-by-sign.", "",
         f"**Negative tail.** For finite x <= {X_TAIL} (BF16 0x{TAIL_X:04X}) Phi(x) < 2^-8, "
         "which the Q1.W sum holds to a few bits only, and below 2^-(W+1) it rounds to 0 (from "
         "x ~ -3.97 at W = 14, so the unit returned -0 down to where GELU underflows). There "
         "the unit uses the asymptotic form GELU(x) = -exp(-x^2/2) / sqrt(2 pi) * (1 - 1/x^2 + "
         "3/x^4 - ...) with the bracket (0.91 .. 0.99 over the tail) taken as a constant: "
         f"G = -bf16(C * expp(-u/2)), C = {bf16_to_float(np.uint16(TAIL_C)):.9g} (BF16 "
         f"0x{TAIL_C:04X}; {bf16_to_float(np.uint16(TAIL_C)) * math.sqrt(2 * math.pi):.3f} / "
         "sqrt(2 pi)). -u/2 is exact (a product by -0.5), so the error left is the rounding of "
         "u = bf16(x^2) (the expp argument is BF16: half an ulp of u is up to 0.25 at u >= 128, "
         "a factor exp(0.25) in the result) plus expp's and the bracket's few per cent. "
         "Threshold and C minimise the largest relative error over x in [-8, -2] in both expp "
         "modes (`.venv/bin/python -m scripts.gelu_fit --tail`). The tail reuses the first "
         "term's expp (the terms are unused there): its input is multiplexed between y_1 and "
         "-u/2, and the output between x * phi and -C e_1.", "",
         "Cost per lane: 2 BF16 multipliers (x^2, x * phi), 2K + 2 BF16 products with a "
         "constant operand (2 for the tail), K expp, K float-to-fixed converters, a K-input "
         "W-bit adder, one (W+1)-bit fixed-to-float, two 16-bit multiplexers (tail). 15 cut "
         "points: one after each step (x^2, the argument products, expp, the coefficient "
         "products, the sum, the conversion) and the inner operators' own "
         "(`hw.pipeline.Pipeline.nested`: 2 per multiplier, 3 in expp, 1 per converter; the "
         "constant products stay combinational, see `hw/softex/gelu.py`); default latency 15 "
         "(a register on each); one beat per cycle.", "",
         "The constant products are `hw.fp.FPMulConst`: the same rounding as `FPMul`, bit for "
         "bit, but the 8 x 8-bit significand product is a shift-add network over the constant's "
         "canonical signed digits (`hw.fp.constmul`; every fitted coefficient has at most 4 "
         "non-zero digits, so at most 3 adders) instead of a multiplier. Yosys maps every `$mul` "
         "to a DSP block, constant or not: on ECP5 one lane at K = 5 took 27 MULT18X18D before "
         "and 17 after (2 multipliers + 3 per expp), with fewer LUTs (4,767 vs 5,011 LUT4 + 2 x "
         "CCU2C), which is what lets the 8-lane SoftEx fit the ECP5-85F's 156 DSPs: it takes "
         "143, 68 of them for GELU (docs/softmax.md, Synthesis). " + TAIL_COST, "",
         "Special values: NaN -> 0x7FC0; +inf -> +inf; -inf -> -0 (the limit; x * phi would "
         "be NaN); +-0 -> +-0; subnormal x: x^2 underflows to 0, so G = bf16(x * phi(0)); large "
         f"x > 0: phi rounds to exactly 1.0, G = x; x <= {x_zero:g}: exp(-x^2/2) underflows "
         "in expp (it flushes results below the normal range), G = -0.", "",
         "### Error per K (W = 14, accurate expp)", "",
         "| K | max abs err, x in [-8, 8] | mean abs err, [-8, 8] | max abs err, all finite | "
         "mean abs err, all finite | max rel err, 2^-8 <= abs(x) <= 1 | mean rel err, "
         "2^-8 <= abs(x) <= 1 | phi(0) | phi(0) = 0.5 exactly at W |",
         "|---|---|---|---|---|---|---|---|---|"]
    for k, mx, mn, mxa, mna, rmx, rmn, p0, ws in rows:
        L.append(f"| {k}{' (default)' if k == k0 else ''} | {mx:.3e} | {mn:.3e} | {mxa:.3e} | "
                 f"{mna:.3e} | {rmx:.3e} | {rmn:.3e} | {p0:g} | {', '.join(map(str, ws))} |")
    tb = (*errors(table_bits, RANGE, ref_rng), *errors(table_bits, FINITE, ref_all),
          *rel_errors(table_bits, NEAR0, ref_near))
    L.append(f"| the table unit | {tb[0]:.3e} | {tb[1]:.3e} | {tb[2]:.3e} | "
             f"{tb[3]:.3e} | {tb[4]:.3e} | {tb[5]:.3e} | 0.5 | - |")
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
          f"### Error vs accumulator width (K = {k0}, accurate expp, x in [-8, 8])", "",
          "| W | max abs err | mean abs err | phi(0) |", "|---|---|---|---|"]
    for w, mx, mn, p0 in wrows:
        L.append(f"| {w}{' (default)' if w == 14 else ''} | {mx:.3e} | {mn:.3e} | {p0:g} |")
    L += ["", "The per-term products B_k * e_k are rounded to BF16 before the fixed-point "
          "conversion, and expp itself is accurate to ~0.1 %, so beyond W ~ 11 bits the "
          "accumulator is no longer the limit; W = 14 (the SoftEx width) is kept as the default "
          "with margin (errors at W = 11..15 differ by rounding noise only)."]
    L += ["", "### Negative side: error by range (K = 5, W = 14)", "",
          "Every finite negative BF16 input against the exact GELU (`sim.golden.gelu.gelu_exact`: "
          "decimal arithmetic to 80 digits, rounded once to float64; GELU = x (1 + erf(x/sqrt 2))"
          " / 2 in float64 is 0 below x ~ -8.3 and loses its relative accuracy well before). ulp ="
          " the BF16 spacing of the exact value's binade (2^-133 below the normal range); "
          "relative errors are |G - GELU| / |GELU| (\"-\" where GELU is subnormal or rounds to "
          "0, and BF16 holds few or no bits of it); \"-0 outputs\" counts +-0 results where the "
          "exact GELU rounds to a non-zero BF16 number. \"before\": the unit without the tail "
          "formula (every x through the Q1.W sum; `gelu(..., tail=None)`). \"floor\": GELU "
          "correctly rounded to BF16. Accurate expp, and the softex mode's max relative error.",
          "",
          "| x | inputs | abs(GELU) | max abs err | max rel err | mean rel err | max err (ulp) | "
          "-0 outputs | max rel err, softex expp | before: max abs err | before: max rel err | "
          "before: max ulp | before: -0 outputs | floor: max rel err |",
          "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r, rs, rb in zip(neg["accurate"], neg["softex"], neg_before):
        def rel(v, row=r):
            return f"{v:.4f}" if row["normal"] else "-"
        L.append(f"| {r['label']} | {r['n']:,} | {r['gelu_lo']:.1e} .. {r['gelu_hi']:.1e} | "
                 f"{r['max_abs']:.2e} | {rel(r['max_rel'])} | {rel(r['mean_rel'])} | "
                 f"{r['max_ulp']:.1f} | {r['zeros']} | {rel(rs['max_rel'])} | "
                 f"{rb['max_abs']:.2e} | {rel(rb['max_rel'])} | {rb['max_ulp']:.1f} | "
                 f"{rb['zeros']} | {rel(r['floor_rel'])} |")
    x_normal, x_zero = last_normal_and_first_zero()
    by = {r["name"]: r for r in neg["accurate"]}
    bs = {r["name"]: r for r in neg["softex"]}
    mid = max(max(by[k]["max_rel"], bs[k]["max_rel"]) for k in ("tail4", "tail8"))
    deep = max(by["deep"]["max_rel"], bs["deep"]["max_rel"])
    L += ["", "**What users get on the negative side.** Down to x = -2 the relative error is "
          f"within {max(by['m2']['max_rel'], by['near0']['max_rel']):.1%} (a few ulp). From -2 to "
          f"the tail threshold ({X_TAIL}) the Q1.W sum limits it to "
          f"{max(by['fixed']['max_rel'], bs['fixed']['max_rel']):.1%}. The tail formula keeps "
          f"every result with a normal exact GELU non-zero and of the right size: within "
          f"{mid:.1%} down to x = -8 (|GELU| >= 5e-15) and {deep:.0%} below (the BF16 rounding "
          "of x^2 in the exponent); absolute errors are at most "
          f"{max(by['tail4']['max_abs'], by['tail8']['max_abs']):.1e} on [-8, "
          f"{X_TAIL}]. Where the exact GELU is subnormal (x < {x_normal:g}) the unit "
          f"returns -0 (x <= {x_zero:g}) or a subnormal within "
          f"{by['subgelu']['max_ulp']:.0f} ulp of 2^-133 (expp flushes its subnormal results); "
          "below that every BF16 unit returns -0. The unit before the tail formula returned -0 "
          f"for {sum(r['zeros'] for r in neg_before if r['normal'])} inputs whose GELU is a "
          f"normal number (up to {max(r['max_ulp'] for r in neg_before):.0f} ulp; those "
          f"results were off by up to {max(r['zeros_abs'] for r in neg_before):.1e} absolute). "
          "For a network the tail is negligible either way (|GELU| < 1.3e-4 below x = -4); the "
          "formula matters where results are inspected relatively, e.g. in log space or after a "
          "large rescale. The tests hold these ranges to the bounds `TAIL_BOUNDS` of "
          "`scripts/gelu_report.py` (`tests/softex/test_gelu_golden.py`)."]
    L += ["", "## Throughput", "", sims["table"], "", sims["expp"], "",
          "Per element either unit costs 1/lanes cycles at full throughput (global-stall "
          "pipeline, one beat per cycle).", "", engine_line(), "", "![GELU error](gelu_error.png)",
          ""]
    DOC.write_text("\n".join(L))
    print("wrote docs/gelu.md, docs/gelu_error.png")


if __name__ == "__main__":
    main()
