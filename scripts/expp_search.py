"""Constant search for the ``accurate`` mode of expp; writes ``hw/softex/expp_constants.py``.

    python -m scripts.expp_search                # search, verify, write the constants module
    python -m scripts.expp_search --dry-run      # search and verify only
    python -m scripts.expp_search --explore      # also tabulate other structures (K, G, ...)

Where the error of SoftEx's expp comes from (printed as step 1 of the run): stage 1 rounds
x/ln2 to Q8.7, so the fraction f that feeds 2^f has only 7 bits. A 7-bit f is off by up to
2^-8, i.e. 2^f is off by up to 2^-8 * ln 2 = 0.27 % relative, before the correction polynomial
adds its own error; no choice of stage-2 constants can undo it (step 1 prints the mean error of
stage 1's Q8.7 alone with an exact 2^f; docs/expp.md has the figures). The product P = (128 + m) * 23637 already holds the
exact |x|/ln2 (to the precision of A) with 14 more fraction bits, so the accurate mode keeps K
of them (rounded, half up) and evaluates 2^f - 1 on the K-bit fraction; with an exact 2^f this
costs almost nothing over the correctly rounded floor from K = 11 on. The remaining design
freedom is a per-segment quadratic

    2^f - 1 ~= ( C_j + (ALPHA_j * ((t * (t + GAMMA_j)) >> Q1)) >> Q ) * 2^-(7+G),
    j = top SEG_BITS bits of f, t = the other K - SEG_BITS bits,

the factored form SoftEx uses (one variable multiplier t * (t + GAMMA_j) plus a constant
multiplier by a small ALPHA_j), now with a constant term C_j (the "one more correction term"),
G guard bits and the round-to-nearest offset 2^(G-1) folded into C_j (so the final rounding
costs no adder: the mantissa is v >> G, a carry out of it increments the exponent). The product
is truncated by Q1 bits before the ALPHA multiplication (as SoftEx, every step truncates), which
narrows the constant multiplier; Q = ALPHA_BITS + 2 (Q1 the rest of the total shift) keeps
that truncation below a quarter unit of v (1/32 ulp with G = 3); the search absorbs its bias
in C.

The search (deterministic; no randomness at all):

1. A = 23637, KA = 14 (SoftEx's own stage-1 product is reused unchanged).
2. For each segment j independently (an input's result depends on its segment's constants
   only): least-squares quadratic of 2^f - 1 on the segment -> real (a, b, c); then for every
   ALPHA near a * 2^(7+G-2K+Q1+Q) (at most ALPHA_BITS bits), every GAMMA near b/a * 2^K and every
   C near c * 2^(7+G) + 2^(G-1), the exact integer datapath is evaluated on every negative
   BF16 input that lands in the segment, and the triple with the smallest mean relative error
   over x ~ U[-10, 0] rounded to BF16 is kept, subject to a maximum error of MAX_ULP ulps over
   all of the segment's negative inputs that do not flush. The mean uses the exact probability
   of each BF16 value under U[-10, 0] (``uniform_weights``), so there is no sampling noise.
3. The chosen set is checked with the golden model ``sim.golden.expp`` over all 65,536 inputs
   (mean error, max ulp error, monotonicity over all negative inputs) and written out.

The error reference is float64 ``exp`` of the BF16 input (error ~1e-16, negligible); ulps are
those of the exact result's binade (``sim.golden.expp.ulp_error``).
"""

import argparse
import math
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np

from sim.golden import expp as golden

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "hw" / "softex" / "expp_constants.py"

# Targets of the accurate mode (the issue): mean relative error over x ~ U[-10, 0] rounded to
# BF16, max error in ulps over all negative inputs that do not flush, monotone.
TARGET_MEAN = 0.150e-2
TARGET_ULP = 1.0


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

class Setup:
    """Everything about the inputs that does not depend on the stage-2 constants."""

    def __init__(self, *, k, ka=14, a=golden.SOFTEX_A):
        self.k, self.ka, self.a = k, ka, a
        x = golden.ALL_INPUTS.astype(np.int64)
        s, e, m = x >> 15, (x >> 7) & 0xFF, x & 0x7F
        p = (128 + m) * a
        sh1 = np.clip(133 + ka - k - e, 0, 8 + a.bit_length())
        y = ((p >> sh1) + 1) >> 1
        # Negative inputs that reach stage 2 with a non-zero fraction (y == 0, |x| < 2^-11,
        # gives exactly 1.0 whenever C_0 < 2^G, which the search imposes).
        neg = (s == 1) & (e <= golden.E_LIMIT) & (y > 0)
        z = -y
        self.n = (z >> k)[neg]
        self.f = (z & ((1 << k) - 1))[neg]
        self.x = x[neg]
        self.exact = golden.exp_exact(self.x)
        self.ulp = golden.ulp_of(self.exact)
        self.weight = golden.uniform_weights(-10.0, 0.0)[self.x]
        # The ulp check covers the inputs whose exact result is a normal number.
        self.live = self.exact >= 2.0**-126


def eval_segment(setup, sel, t, alpha, gamma, cs, g, q1, q):
    """Mean-error contribution and max ulp error of the inputs ``sel`` of one segment for one
    (alpha, gamma) and a vector of candidate constants ``cs``. Returns two arrays over cs."""
    qv = (alpha * ((t * (t + gamma)) >> q1)) >> q              # (n,)
    v = cs[:, None] + qv[None, :]                              # (nc, n)
    mant8 = v >> g
    n = setup.n[sel][None, :] + (mant8 >> 7)
    val = np.ldexp(1.0 + (mant8 & 0x7F) / 128.0, n)
    val = np.where(n + 127 <= 0, 0.0, val)
    err = np.abs(val - setup.exact[sel][None, :])
    mean = (err / setup.exact[sel][None, :]) @ setup.weight[sel]
    live = setup.live[sel]
    ulp = (err[:, live] / setup.ulp[sel][live][None, :]).max(axis=1, initial=0.0)
    return mean, ulp


def fit_segment(j, seg_bits, a=None):
    """Least-squares quadratic a*tau^2 + b*tau + c of 2^f - 1 on segment j, tau = f - j/S
    (with ``a`` given, only b and c are fitted)."""
    s = 1 << seg_bits
    tau = np.linspace(0.0, 1.0 / s, 4097)
    target = np.exp2(j / s + tau) - 1.0
    if a is None:
        return tuple(np.polyfit(tau, target, 2))
    b, c = np.polyfit(tau, target - a * tau**2, 1)
    return a, b, c


def choose_q(k, g, seg_bits, alpha_bits):
    """Largest total shift Q1 + Q such that every segment's least-squares ALPHA fits in
    ALPHA_BITS bits."""
    a_max = max(fit_segment(j, seg_bits)[0] for j in range(1 << seg_bits))
    q = 0
    while round(a_max * 2.0 ** (7 + g - 2 * k + q + 1)) < (1 << alpha_bits):
        q += 1
    return q


def search(*, k, seg_bits, g, alpha_bits, max_ulp, q1_margin=2, alpha_span=3, gamma_span=48,
           c_span=12, verbose=True):
    setup = Setup(k=k)
    q_total = choose_q(k, g, seg_bits, alpha_bits)           # Q1 + Q
    q1 = max(0, q_total - alpha_bits - q1_margin)
    q = q_total - q1
    tb = k - seg_bits
    seg = setup.f >> tb
    t_all = setup.f & ((1 << tb) - 1)
    scale_a = 2.0 ** (7 + g - 2 * k + q_total)
    result = {"ALPHA": [], "GAMMA": [], "C": []}
    for j in range(1 << seg_bits):
        sel = seg == j
        t = t_all[sel]
        a0 = round(fit_segment(j, seg_bits)[0] * scale_a)
        best = (math.inf, None)
        t0 = time.time()
        alphas = range(max(1, a0 - alpha_span), min((1 << alpha_bits) - 1, a0 + alpha_span) + 1)
        for alpha in alphas:
            aq = alpha / scale_a
            _, b, c = fit_segment(j, seg_bits, aq)
            g0 = round(b / aq * 2**k)
            c0 = round(c * 2 ** (7 + g)) + (1 << (g - 1))
            cs = np.arange(max(0, c0 - c_span), c0 + c_span + 1)
            if j == 0:
                cs = cs[cs < (1 << g)]           # f = 0 must give exactly 1.0
            for gamma in range(max(0, g0 - gamma_span), g0 + gamma_span + 1):
                mean, ulp = eval_segment(setup, sel, t, alpha, gamma, cs, g, q1, q)
                ok = ulp <= max_ulp
                if ok.any():
                    i = int(np.argmin(np.where(ok, mean, math.inf)))
                    if mean[i] < best[0] - 1e-15:
                        best = (mean[i], (alpha, gamma, int(cs[i])), ulp[i])
            if verbose and best[1] is not None:
                print(f"    segment {j}: alpha {alpha:3d} done, best so far alpha={best[1][0]} "
                      f"gamma={best[1][1]} C={best[1][2]} (mean contribution "
                      f"{100 * best[0]:.5f} %, max {best[2]:.3f} ulp)", flush=True)
        if best[1] is None:
            raise RuntimeError(f"segment {j}: no constants within {max_ulp} ulp")
        if verbose:
            print(f"  segment {j} of {1 << seg_bits}: ALPHA={best[1][0]} GAMMA={best[1][1]} "
                  f"C={best[1][2]} ({time.time() - t0:.1f} s)", flush=True)
        for name, val in zip(("ALPHA", "GAMMA", "C"), best[1]):
            result[name].append(val)
    return types.SimpleNamespace(KA=setup.ka, A=setup.a, K=k, SEG_BITS=seg_bits, G=g, Q1=q1, Q=q,
                                 ALPHA=tuple(result["ALPHA"]), GAMMA=tuple(result["GAMMA"]),
                                 C=tuple(result["C"]))


# --------------------------------------------------------------------------------------------
# Verification with the golden model
# --------------------------------------------------------------------------------------------

def measure(out):
    """Accuracy of a full output table (65,536 results): mean/max rel error on U[-10, 0]
    (exact weights), max ulp over negative non-flushing inputs, monotone over all negatives."""
    x = golden.ALL_INPUTS
    ex = golden.exp_exact(x)
    w = golden.uniform_weights(-10.0, 0.0)
    val = golden.bf16_to_float(out)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(val - ex) / ex
    mean = float(np.sum(w[w > 0] * rel[w > 0]))
    max_rel = float(rel[w > 0].max())
    neg = (x >= 0x8000) & (x < 0xFF80)                         # -0 ... largest finite negative
    live = neg & (ex >= 2.0**-126)
    ulp = golden.ulp_error(out, x)
    neg_seq = out[0x8000:0xFF81].astype(np.int64)               # -0, ..., -max, -inf
    monotone = bool(np.all(np.diff(neg_seq) <= 0))
    flushed_live = int(np.sum(live & (out == 0)))
    return {"mean": mean, "max_rel": max_rel, "max_ulp": float(ulp[live].max()),
            "monotone": monotone, "flushed_normal": flushed_live}


def error_budget():
    """Step 1: where the error comes from (exact 2^f after a K-bit stage 1)."""
    print("Step 1 - error budget over x ~ U[-10, 0] (mean rel. error; max ulp over negatives):")
    rows = [("correctly rounded BF16 exp (floor)", golden.exp_correctly_rounded(golden.ALL_INPUTS)),
            ("plain Schraudolph (SoftEx stage 1)", golden.expp_stage1(golden.ALL_INPUTS)),
            ("SoftEx expp", golden.expp(golden.ALL_INPUTS, "softex"))]
    for k in (7, 8, 10, 11, 12, 13):
        rows.append((f"stage 1 with {k:2d} fraction bits + exact 2^f", ideal_stage2(k)))
    for name, out in rows:
        r = measure(out)
        print(f"  {name:46s} {100 * r['mean']:.4f} %   {r['max_ulp']:.3f} ulp")


def ideal_stage2(k):
    """Outputs with stage 1 keeping k fraction bits (rounded) and 2^f computed exactly and
    rounded to nearest: isolates the error of stage 1."""
    x = golden.ALL_INPUTS.astype(np.int64)
    s, e, m = x >> 15, (x >> 7) & 0xFF, x & 0x7F
    p = (128 + m) * golden.SOFTEX_A
    sh1 = np.clip(133 + 14 - k - e, 0, 23)
    y = ((p >> sh1) + 1) >> 1
    z = np.where(s == 0, y, -y)
    n, f = z >> k, z & ((1 << k) - 1)
    mant8 = np.floor((np.exp2(f / 2.0**k) - 1.0) * 128 + 0.5).astype(np.int64)
    ef = n + 127 + (mant8 >> 7)
    out = (ef << 7) | (mant8 & 0x7F)
    out = np.where(ef <= 0, 0, np.where(ef >= 255, 0x7F80, out))
    out = np.where(e > golden.E_LIMIT, np.where(s == 0, 0x7F80, 0), out)
    return np.where((e == 0xFF) & (m != 0), 0x7FC0, out).astype(np.uint16)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def cost_text(c):
    tb = c.K - c.SEG_BITS
    mw = ((1 << tb) - 1 + max(c.GAMMA)).bit_length()
    aw = max(c.ALPHA).bit_length()
    pw = 8 + c.A.bit_length()
    t_max = (1 << tb) - 1
    kept = ((t_max * (t_max + max(c.GAMMA))) >> c.Q1).bit_length()
    return (f"stage 1: the SoftEx product (128 + m) * {c.A} ({pw} bits), a {pw}-bit right shift "
            f"and "
            f"a {pw - (c.KA - c.K)}-bit half-up increment (keeps {c.K} fraction bits); "
            f"stage 2: one {tb} x {mw} bit multiplier t * (t + GAMMA_j) (top {kept} bits kept), "
            f"ALPHA_j ({aw} bits) as a constant shift-and-add multiplier selected by the segment, "
            f"one {8 + c.G}-bit adder for C_j, a {1 << c.SEG_BITS}-entry table of "
            f"(ALPHA, GAMMA, C) and the exponent increment on a mantissa carry")


def render(c, r, argv):
    cmd = "python -m scripts.expp_search" + "".join(" " + a for a in argv)
    lines = [
        '"""Accurate-mode constants of expp (hw/softex/expp.py, sim/golden/expp.py).',
        "",
        "GENERATED by scripts/expp_search.py -- do not edit by hand. Reproduce with:",
        "",
        f"    {cmd}",
        "",
        "Datapath (see docs/expp.md): Y = round((128 + m) * A / 2^(134 + KA - K - e)) is |x|/ln2",
        "with K fraction bits; Z = +-Y; n = Z >> K, f = Z mod 2^K, j = f >> (K - SEG_BITS),",
        "t = f mod 2^(K - SEG_BITS); v = C[j] + ((ALPHA[j] * ((t * (t + GAMMA[j])) >> Q1)) >> Q);",
        "mantissa = (v >> G) mod 128, exponent = n + 127 + ((v >> G) >> 7).",
        "",
        "Measured with the golden model over all 65,536 inputs:",
        f"  mean relative error, x ~ U[-10, 0] rounded to BF16: {100 * r['mean']:.4f} % "
        f"(target <= {100 * TARGET_MEAN:.3f} %;",
        "    correctly rounded BF16 exp: 0.1429 %)",
        f"  max relative error on U[-10, 0]: {100 * r['max_rel']:.4f} %",
        f"  max error over negative inputs that do not flush: {r['max_ulp']:.4f} ulp "
        "(ulp of the exact result's binade)",
        f"  monotone (non-increasing as x decreases) over all negative inputs: "
        f"{'yes' if r['monotone'] else 'NO'}",
        "",
        "Hardware:",
        *textwrap.wrap(cost_text(c), 92, initial_indent="  ", subsequent_indent="  "),
        '"""',
        "",
        f"KA = {c.KA}",
        f"A = {c.A}  # round(2^KA / ln 2)",
        f"K = {c.K}",
        f"SEG_BITS = {c.SEG_BITS}",
        f"G = {c.G}",
        f"Q1 = {c.Q1}",
        f"Q = {c.Q}",
        f"ALPHA = {tuple(c.ALPHA)!r}",
        f"GAMMA = {tuple(c.GAMMA)!r}",
        f"C = {tuple(c.C)!r}",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=11, help="fraction bits of x/ln2 kept by stage 1 (11)")
    ap.add_argument("--seg-bits", type=int, default=1, help="log2 of the number of segments (1)")
    ap.add_argument("--guard", type=int, default=3, help="guard bits below the mantissa (3)")
    ap.add_argument("--alpha-bits", type=int, default=4, help="bits of the ALPHA constants (4)")
    ap.add_argument("--q1-margin", type=int, default=2,
                    help="Q = ALPHA_BITS + margin, Q1 = the rest of the shift (2)")
    ap.add_argument("--max-ulp", type=float, default=0.6,
                    help="per-segment max ulp error allowed during the search (0.6)")
    ap.add_argument("--dry-run", action="store_true", help="do not write the constants module")
    ap.add_argument("--explore", action="store_true", help="also tabulate other structures")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    t0 = time.time()
    error_budget()
    print(f"Step 2 - search: K={args.k}, SEG_BITS={args.seg_bits}, G={args.guard}, "
          f"ALPHA_BITS={args.alpha_bits}", flush=True)
    c = search(k=args.k, seg_bits=args.seg_bits, g=args.guard, alpha_bits=args.alpha_bits,
               max_ulp=args.max_ulp, q1_margin=args.q1_margin)
    print("Step 3 - verification with the golden model over all 65,536 inputs", flush=True)
    golden.accurate_constants(c)
    r = measure(golden.expp(golden.ALL_INPUTS, "accurate", constants=c))
    print(f"  KA={c.KA} A={c.A} K={c.K} SEG_BITS={c.SEG_BITS} G={c.G} Q1={c.Q1} Q={c.Q} "
          f"ALPHA={c.ALPHA} GAMMA={c.GAMMA} C={c.C}")
    print(f"  mean {100 * r['mean']:.4f} % (target <= {100 * TARGET_MEAN:.3f} %), max rel "
          f"{100 * r['max_rel']:.4f} %, max {r['max_ulp']:.4f} ulp (target <= {TARGET_ULP}), "
          f"monotone {r['monotone']}, normal results flushed {r['flushed_normal']}")
    print(f"  cost: {cost_text(c)}")
    ok = (r["mean"] <= TARGET_MEAN and r["max_ulp"] <= TARGET_ULP and r["monotone"]
          and r["flushed_normal"] == 0)
    if args.explore:
        explore()
    if not ok:
        print("FAILED: the constants miss a target; nothing written", file=sys.stderr)
        return 1
    if not args.dry_run:
        args.out.write_text(render(c, r, argv))
        print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


def explore():
    print("Other structures (K, SEG_BITS, G, ALPHA_BITS): mean %, max ulp, monotone")
    for k, sb, g, ab in [(10, 1, 3, 4), (11, 1, 2, 4), (11, 1, 3, 3), (11, 1, 3, 4),
                         (11, 1, 4, 5), (12, 1, 4, 4), (12, 1, 4, 5), (12, 2, 4, 5)]:
        c = search(k=k, seg_bits=sb, g=g, alpha_bits=ab, max_ulp=1.0, verbose=False)
        r = measure(golden.expp(golden.ALL_INPUTS, "accurate", constants=c))
        print(f"  K={k:2d} SEG_BITS={sb} G={g} ALPHA_BITS={ab}: {100 * r['mean']:.5f} %  "
              f"{r['max_ulp']:.3f} ulp  monotone={r['monotone']}  ALPHA={c.ALPHA}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
