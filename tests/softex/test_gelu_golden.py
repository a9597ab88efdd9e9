"""Golden GELU model (sim/golden/gelu.py): an independent exact evaluation of the same
arithmetic (Python Fractions, one rounding per step, the negative tail's formula included), the
accuracy tables of docs/gelu.md (absolute error, relative error near 0, the negative tail's
error table against the exact reference), phi(0) = 0.5 exactly, special values and parameter
checks."""

import math
from fractions import Fraction

import numpy as np
import pytest

from hw.softex import gelu_coeffs
from hw.softex.gelu import TAIL_C, TAIL_X
from scripts.gelu_report import TAIL_BOUNDS, tail_table
from sim.golden.expp import bf16_to_float, expp, float_to_bf16
from sim.golden.gelu import GELU_EXACT_CUTOFF, gelu, gelu_exact, gelu_phi_fixed, gelu_tail

ALL = np.arange(1 << 16, dtype=np.uint16)
XF = bf16_to_float(ALL)


def rne_bf16(v):
    """Fraction -> BF16 bits, rounded once to nearest even (subnormals, overflow to inf)."""
    if v == 0:
        return 0x0000
    sign = 0x8000 if v < 0 else 0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    q = Fraction(2) ** (max(e, -126) - 7)
    n, r = divmod(a, q)
    n = int(n)
    if r * 2 > q or (r * 2 == q and n % 2):
        n += 1
    val = n * q
    if val >= Fraction(2) ** 128:
        return sign | 0x7F80
    return sign | int(float_to_bf16(float(val)))


def frac(bits):
    return Fraction(float(bf16_to_float(np.uint16(bits))))


def gelu_exact_steps(x, na, b, w, mode):
    """The documented operation order with exact rationals (finite x with x^2 finite)."""
    fx = frac(x)
    u = rne_bf16(fx * fx)
    if fx <= frac(TAIL_X):                   # the negative tail: -bf16(C * expp(-u/2))
        e = int(expp(rne_bf16(Fraction(-1, 2) * frac(u)), mode))
        return rne_bf16(frac(TAIL_C) * frac(e)) | 0x8000
    s = 0
    for a_k, b_k in zip(na, b):
        y = rne_bf16(frac(a_k) * frac(u))
        e = int(expp(y, mode))
        p = rne_bf16(frac(b_k) * frac(e))
        t = frac(p) * 2 ** w                 # round half even, saturate to W bits
        n, r = divmod(t, 1)
        n = int(n) + (1 if (r > Fraction(1, 2) or (r == Fraction(1, 2) and int(n) % 2)) else 0)
        s += min(n, (1 << w) - 1)
    s = min(s, (1 << w) - 1)
    pfix = s if x & 0x8000 else (1 << w) - s
    phi = rne_bf16(Fraction(pfix, 1 << w))
    prod = fx * frac(phi)                    # a zero product keeps the sign of x (phi >= +0)
    return rne_bf16(prod) if prod != 0 else (x & 0x8000)


@pytest.mark.parametrize("terms,w,mode", [(3, 14, "accurate"), (4, 10, "softex"),
                                          (5, 14, "accurate"), (6, 15, "accurate")])
def test_golden_matches_exact_steps(terms, w, mode):
    rng = np.random.default_rng(terms * 31 + w)
    finite = ALL[np.isfinite(XF) & (np.abs(XF) < 2.0 ** 60)]
    mid = ALL[np.isfinite(XF) & (np.abs(XF) <= 8)]
    tail = ALL[np.isfinite(XF) & (XF <= -2) & (XF >= -16)]
    xs = np.concatenate([rng.choice(finite, 300), rng.choice(mid, 500), rng.choice(tail, 200),
                         [0x0001, 0x8001, 0x3F80, 0xBF80, 0x0000, 0x8000, TAIL_X - 1, TAIL_X,
                          TAIL_X + 1, 0xC150, 0xC154, 0xDF00]]).astype(np.uint16)
    na, b = gelu_coeffs.COEFFS[terms]
    got = gelu(xs, terms=terms, acc_width=w, expp_mode=mode)
    for x, g in zip(xs, got):
        want = gelu_exact_steps(int(x), na, b, w, mode)
        assert int(g) == want, (hex(int(x)), hex(int(g)), hex(want))


def exact_gelu(v):
    return v * 0.5 * (1 + math.erf(v / math.sqrt(2)))


RANGE = np.isfinite(XF) & (np.abs(XF) <= 8)
G_EXACT = np.array([exact_gelu(v) for v in XF[RANGE]])


@pytest.mark.parametrize("terms", sorted(gelu_coeffs.COEFFS))
def test_accuracy_table(terms):
    """Max / mean |G - GELU| over BF16 x in [-8, 8] (W = 14, accurate expp): the fit's figures
    in the header of hw/softex/gelu_coeffs.py are those of the sum-of-exponentials path
    (tail=None); the unit's (with its tail formula, docs/gelu.md) are within 0.1 % of them."""
    mx, mean = gelu_coeffs.ERRORS[terms]
    d = np.abs(bf16_to_float(gelu(ALL[RANGE], terms=terms, tail=None)) - G_EXACT)
    assert d.max() == pytest.approx(mx, rel=1e-9) and d.mean() == pytest.approx(mean, rel=1e-9)
    g = bf16_to_float(gelu(ALL[RANGE], terms=terms))
    d = np.abs(g - G_EXACT)
    assert d.max() <= mx * 1.001 and d.mean() <= mean * 1.001
    assert d.max() < 0.011 and d.mean() < 1.1e-4      # every K: within the table's worst row
    # far range: x > 8 gives x (error below the BF16 rounding of GELU); x < -8 the tail
    # formula, <= 0 (its accuracy: test_tail_error_table)
    far = np.isfinite(XF) & (np.abs(XF) > 8)
    gf = bf16_to_float(gelu(ALL[far], terms=terms))
    assert np.all(np.where(XF[far] > 0, gf == XF[far], gf <= 0))


NEAR0 = np.isfinite(XF) & (np.abs(XF) >= 2.0 ** -8) & (np.abs(XF) <= 1)
G_NEAR0 = np.array([exact_gelu(v) for v in XF[NEAR0]])


@pytest.mark.parametrize("terms", sorted(gelu_coeffs.COEFFS))
def test_rel_error_table(terms):
    """Max / mean |G - GELU| / |GELU| over BF16 x with 2^-8 <= |x| <= 1 (W = 14, accurate
    expp) as in REL_ERRORS of hw/softex/gelu_coeffs.py and docs/gelu.md."""
    g = bf16_to_float(gelu(ALL[NEAR0], terms=terms))
    r = np.abs(g - G_NEAR0) / np.abs(G_NEAR0)
    mx, mean = gelu_coeffs.REL_ERRORS[terms]
    assert r.max() == pytest.approx(mx, rel=1e-6) and r.mean() == pytest.approx(mean, rel=1e-6)
    assert r.max() < 0.025 and r.mean() < 0.01


@pytest.mark.parametrize("terms", sorted(gelu_coeffs.COEFFS))
def test_phi0_exact(terms):
    """phi(0) = 0.5 exactly at W = 14 (and 15) for every K: at x = 0 every expp term is 1, so
    sum_k round(B_k 2^W) must be 2^(W-1); then G(x) = x/2 exactly for small normal x whose
    x^2 terms all round to expp = 1. PHI0 / PHI0_EXACT_WIDTHS agree with the golden model."""
    na, b = gelu_coeffs.COEFFS[terms]
    assert gelu_coeffs.PHI0[terms] == 0.5
    for w in range(8, 16):
        p = int(gelu_phi_fixed(np.array([0x0000]), na, b, w)[0])
        assert (p == 1 << (w - 1)) == (w in gelu_coeffs.PHI0_EXACT_WIDTHS[terms]), w
    assert {14, 15} <= set(gelu_coeffs.PHI0_EXACT_WIDTHS[terms])
    # B_k * 2^15 are integers summing to 2^14
    bs = [frac(v) * 2 ** 15 for v in b]
    assert all(v.denominator == 1 for v in bs) and sum(bs) == 2 ** 14
    xs = np.array([2.0 ** -126, 2.0 ** -100, 1.5 * 2.0 ** -60, 2.0 ** -20, 1.2345 * 2.0 ** -14,
                   2.0 ** -13, 1.9 * 2.0 ** -13])
    xb = float_to_bf16(np.concatenate([xs, -xs]))
    for w in (14, 15):
        g = bf16_to_float(gelu(xb, terms=terms, acc_width=w))
        assert np.array_equal(g, bf16_to_float(xb) / 2), (terms, w)
        assert np.all(gelu_phi_fixed(xb, na, b, w) == 1 << (w - 1))


def test_exact_reference():
    """gelu_exact (decimal arithmetic) against float64 x erfc(-x / sqrt 2) / 2, whose error is
    that of the rounded argument z = x / sqrt 2 (relative 2 z^2 2^-53) plus a few ulp: agreement
    to that bound over every finite BF16 x in [-GELU_EXACT_CUTOFF, 8] shows the decimal series
    right in the far tail, where 1 + erf(x / sqrt 2) in float64 is 0 (GELU(-13) ~ -8e-38)."""
    x = ALL[np.isfinite(XF) & (XF >= -GELU_EXACT_CUTOFF) & (XF <= 8) & (XF != 0)]
    xf = bf16_to_float(x)
    got = gelu_exact(x)
    f64 = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in xf])
    rel = np.abs(got - f64) / np.abs(f64)
    assert np.all(rel <= (2 * xf * xf + 8) * 2.0 ** -53)
    assert gelu_exact(0xC150) == pytest.approx(-7.952313719414843e-38, rel=1e-15)    # x = -13
    assert exact_gelu(-13.0) == 0.0                       # what float64 erf gives: nothing
    specials = gelu_exact(np.array([0x7FC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0xC200, 0x4200]))
    assert np.isnan(specials[0]) and specials[1] == np.inf and specials[2] == 0
    assert specials[3] == 0 and math.copysign(1, specials[4]) == -1
    assert specials[5] == 0 and specials[6] == 32.0       # beyond the cutoff: -0 and x


@pytest.mark.parametrize("mode", ["accurate", "softex"])
def test_tail_error_table(mode):
    """The negative-side error table of docs/gelu.md (scripts.gelu_report.tail_table: every
    negative BF16 x by range against the exact reference): each range within TAIL_BOUNDS (max
    relative error, max ulp), no -0 output where the exact GELU is a normal BF16 number, and
    the unit without the tail formula (tail=None) did fail there (so the table can tell)."""
    rows = {r["name"]: r for r in tail_table(expp_mode=mode)}
    assert set(rows) == set(TAIL_BOUNDS)
    for name, (max_rel, max_ulp) in TAIL_BOUNDS.items():
        r = rows[name]
        assert r["n"] > 0, name
        if max_rel is not None:
            assert r["max_rel"] <= max_rel, (name, r["max_rel"])
        assert r["max_ulp"] <= max_ulp, (name, r["max_ulp"])
        if r["normal"]:
            assert r["zeros"] == 0, name
    before = {r["name"]: r for r in tail_table(expp_mode=mode, tail=None)}
    assert sum(r["zeros"] for r in before.values() if r["normal"]) >= 200
    assert max(r["max_ulp"] for r in before.values()) >= 255


def test_tail_formula():
    """Inputs at and below TAIL_X take -bf16(TAIL_C * expp(-u/2)) and those above do not; the
    tail is monotone (G rises towards -0 as x falls) and ends in -0 only where exp(-x^2/2)
    underflows; -inf, NaN with the sign bit set and x^2 = inf keep their special results."""
    finite = ALL[np.isfinite(XF)]
    tail = finite[bf16_to_float(finite) <= float(frac(TAIL_X))]
    order = np.argsort(-bf16_to_float(tail))                  # -2.86 first, towards -inf
    for mode in ("accurate", "softex"):
        g = bf16_to_float(gelu(tail[order], expp_mode=mode))
        assert np.all(np.diff(g) >= 0) and np.all(g <= 0)
        zero = g == 0
        assert np.all(bf16_to_float(tail[order][zero]) < -13.2)
    below, above = gelu(np.array([TAIL_X, TAIL_X - 1], dtype=np.uint16))
    assert int(below) == int(gelu_tail(TAIL_X, "accurate")[()])
    assert int(above) != int(gelu_tail(TAIL_X - 1, "accurate")[()])
    assert gelu(np.array([0xFF80, 0xFFC1, 0xDF80, 0xFF7F], dtype=np.uint16)).tolist() == [
        0x8000, 0x7FC0, 0x8000, 0x8000]


def test_special_values():
    """NaN -> 0x7FC0; +inf -> +inf; -inf -> -0; +-0 -> +-0; subnormal x -> x * phi(0)
    (x^2 underflows to 0, expp(0) = 1, so phi = phi(0) = 0.5 exactly: G = bf16(x / 2))."""
    for terms in gelu_coeffs.COEFFS:
        g = gelu(np.array([0x7FC0, 0xFFC1, 0x7F81, 0x7F80, 0xFF80, 0x0000, 0x8000],
                          dtype=np.uint16), terms=terms)
        assert g.tolist() == [0x7FC0, 0x7FC0, 0x7FC0, 0x7F80, 0x8000, 0x0000, 0x8000]
        sub = ALL[(ALL & 0x7F80) == 0]
        gs = bf16_to_float(gelu(sub, terms=terms))
        xs = bf16_to_float(sub)
        assert np.all(np.abs(gs - 0.5 * xs) <= 2.0 ** -134)      # one rounding of x / 2
        assert int(gelu(0x3F80, terms=terms)) == gelu(np.array([0x3F80]), terms=terms)[0]


def test_monotone_positive_and_symmetry():
    """G(x) - G(-x) = x structure: for x >= 0 phi >= 0.5; the output is monotone in x on
    [0, 8] for the default K (no fitting wiggles larger than a BF16 step)."""
    pos = ALL[np.isfinite(XF) & (XF >= 0) & (XF <= 8)]
    order = np.argsort(bf16_to_float(pos))
    g = bf16_to_float(gelu(pos[order]))
    assert np.all(np.diff(g) >= 0)


@pytest.mark.parametrize("kw,name", [({"terms": 7}, "terms"), ({"acc_width": 16}, "acc_width"),
                                     ({"acc_width": 7}, "acc_width")])
def test_params(kw, name):
    with pytest.raises(ValueError, match=name):
        gelu(0x3F80, **kw)
