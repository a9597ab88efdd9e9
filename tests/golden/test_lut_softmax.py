"""Golden models of the LUT softmax methods (sim/golden/lut_softmax.py): an independent scalar
re-implementation on Python integers and fractions, edge semantics, the table budget, the
generated tables module against its generator, accuracy bounds."""

import fractions
import pathlib

import numpy as np
import pytest

from hw.softex import lut_tables as T
from scripts import lut_softmax_tables as gen
from sim.golden import lut_softmax as L
from sim.golden.softmax import float_to_bf16, reference

NEG_INF, POS_INF, NAN = 0xFF80, 0x7F80, 0x7FC0


# --------------------------------------------------------------------------------------------
# Independent scalar model (docs/lut_softmax.md written again, element by element)
# --------------------------------------------------------------------------------------------

def s_value(b):
    """Exact value of a finite BF16 pattern as a Fraction."""
    s, e, f = b >> 15, (b >> 7) & 0xFF, b & 0x7F
    mag = fractions.Fraction(f, 1 << 7) * fractions.Fraction(2) ** -126 if e == 0 else \
        fractions.Fraction(128 + f, 128) * fractions.Fraction(2) ** (e - 127)
    return -mag if s else mag


def s_fixed(b, F):
    v = s_value(b) * (1 << F)
    fl = v.numerator // v.denominator
    rem = v - fl
    r = fl + (1 if rem > fractions.Fraction(1, 2) or (rem == fractions.Fraction(1, 2) and fl % 2)
              else 0)
    lim = 1 << (12 + F)
    return max(-lim, min(lim - 1, r))


def s_int8_value(q, int_bits, signed):
    q &= 0xFF
    if signed and q >= 128:
        q -= 256
    return fractions.Fraction(q) * fractions.Fraction(2) ** -(8 - int(signed) - int_bits)


def s_bits_of(v):
    """BF16 pattern of an exactly representable non-negative or negative Fraction (8 bits)."""
    return int(float_to_bf16(np.float64(float(v))))


def s_shr(v, s):
    return (v + (1 << (s - 1))) >> s if s > 0 else v << -s


def s_lead(t, c):
    p = t.bit_length() - 1
    k = (t >> (p - c)) if p >= c else (t << (c - p))
    return p, k % (1 << c)


def s_row(x, method, t):
    """Q0.8 outputs, nan, masked of the scalar model."""
    x = [int(v) for v in x]
    if any((v & 0x7F80) == 0x7F80 and (v & 0x7F) for v in x) or POS_INF in x:
        return [0] * len(x), True, False
    if all(v == NEG_INF for v in x):
        return [0] * len(x), False, True
    F = t["frac_bits"]
    X = [None if v == NEG_INF else s_fixed(v, F) for v in x]
    M = max(v for v in X if v is not None)
    tab = t["lut1"] if method == "a" else t["rexp"]
    vals = []
    for v in X:
        z = None if v is None else M - v
        vals.append(tab[z] if z is not None and z < len(tab) else 0)
    total = sum(vals)
    if method == "a":
        p, k = s_lead(total, t["row_bits"])
        y = [0 if e == 0 else min(255, s_shr(t["lut2"][k][e - 1] * 256, p + t["lut2_frac"]))
             for e in vals]
    else:
        p, k = s_lead(total, t["comp_bits"])
        y = [min(255, s_shr(u * t["comp"][k], p + t["comp_width"] - 8)) for u in vals]
    return y, False, False


# --------------------------------------------------------------------------------------------

def random_rows(seed, count):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.integers(1, 80))
        x = float_to_bf16(rng.normal(0, rng.choice([0.3, 1, 3, 10, 100]), n))
        if i % 4 == 1:
            x[rng.random(n) < 0.4] = NEG_INF
        if i % 7 == 3:   # raw random finite patterns (subnormals, huge values that saturate)
            r = rng.integers(0, 1 << 16, n).astype(np.uint16)
            r[(r & 0x7F80) == 0x7F80] &= 0xBFFF
            x = r
        out.append(x)
    return out


CORNER_ROWS = [
    [0x3F80], [NEG_INF], [NEG_INF, NEG_INF, NEG_INF], [0x0000, 0x8000, 0x0001, 0x8001],
    [0x4000] * 17, [0x7F7F, 0xFF7F, 0x0000], [0x4580, 0x4580, 0x4500],  # 4096 saturates
    [0x3F80, NEG_INF, 0xC000], [0x42C8, 0x0000], [0xC2C8, 0xC2C6, NEG_INF],
    [0x3F80, NAN, 0x0000], [0x3F80, 0xFFC1], [POS_INF, 0x3F80], [0xFF80, POS_INF],
]


@pytest.mark.parametrize("method,fn,tabs", [("a", L.method_a, T.METHOD_A),
                                            ("b", L.method_b, T.METHOD_B)])
def test_golden_matches_scalar_model(method, fn, tabs):
    for x in random_rows(11, 400) + [np.array(r, np.uint16) for r in CORNER_ROWS]:
        ref, nan, masked = s_row(x, method, tabs)
        got = fn(np.asarray(x, np.uint16), tabs)
        assert got["nan"] == nan and got["masked"] == masked, list(x)
        assert list(got["y8"]) == ref, list(x)


@pytest.mark.parametrize("method,fn,tabs", [("a", L.method_a, T.METHOD_A),
                                            ("b", L.method_b, T.METHOD_B)])
def test_int8_input_matches_scalar_model(method, fn, tabs):
    rng = np.random.default_rng(5)
    for ib in range(16):
        for signed in (0, 1):
            q = rng.integers(0, 256, int(rng.integers(1, 40)))
            xb = [s_bits_of(s_int8_value(int(v), ib, signed)) for v in q]
            ref, _, _ = s_row(xb, method, tabs)
            got = fn(q.astype(np.uint8), tabs, in_cast=(ib, signed))
            assert list(got["y8"]) == ref


def test_other_parameter_sets_match_scalar_model():
    rows_ = random_rows(3, 60)
    for pa in [dict(frac_bits=2, e_bits=3, row_bits=0, entry_bytes=1),
               dict(frac_bits=5, e_bits=6, row_bits=4, entry_bytes=2)]:
        t = gen.build_a(**pa)
        for x in rows_:
            assert list(L.method_a(x, t)["y8"]) == s_row(x, "a", t)[0]
    for pb in [dict(frac_bits=2, u_bits=8, comp_bits=2, comp_width=16),
               dict(frac_bits=6, u_bits=16, comp_bits=8, comp_width=8)]:
        t = gen.build_b(**pb)
        for x in rows_:
            assert list(L.method_b(x, t)["y8"]) == s_row(x, "b", t)[0]


# --------------------------------------------------------------------------------------------
# Edge semantics and output formats
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn,tabs", [(L.method_a, T.METHOD_A), (L.method_b, T.METHOD_B)])
def test_edge_semantics(fn, tabs):
    x = np.array([0x3F80, NEG_INF, 0x4000, NEG_INF], np.uint16)
    r = fn(x, tabs)
    assert r["y8"][1] == 0 and r["y8"][3] == 0 and not r["masked"] and not r["nan"]
    assert r["y8"][2] > r["y8"][0] > 0
    r = fn(np.full(5, NEG_INF, np.uint16), tabs, out="bf16")
    assert r["masked"] and not r["nan"] and list(r["y"]) == [0] * 5
    for bad in (NAN, 0xFFC1, 0x7F81, POS_INF):
        x = np.array([0x3F80, bad, NEG_INF], np.uint16)
        r = fn(x, tabs, out="bf16")
        assert r["nan"] and list(r["y"]) == [NAN] * 3
        assert list(fn(x, tabs)["y"]) == [0] * 3
        assert list(fn(x, tabs, out_cast=(0, 0))["y"]) == [0] * 3
    # one element: 1.0 saturates to 255; all equal: equal outputs
    assert list(fn(np.array([0xC2C8], np.uint16), tabs)["y8"]) == [255]
    r = fn(np.full(8, 0x4040, np.uint16), tabs)["y8"]
    assert len(set(r.tolist())) == 1 and abs(int(r[0]) - 32) <= 2
    # bf16 output is the exact value of the code; Q0.8 out_cast is the code itself
    x = float_to_bf16(np.random.default_rng(1).normal(0, 2, 50))
    r = fn(x, tabs, out="bf16")
    v = (r["y"].astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(v * 256, r["y8"].astype(np.float32))
    assert np.array_equal(fn(x, tabs, out_cast=(0, 0))["y"], r["y8"])
    with pytest.raises(ValueError, match="out must be"):
        fn(x, tabs, out="fp32")
    with pytest.raises(ValueError, match="non-empty"):
        fn(np.zeros(0, np.uint16), tabs)


def test_int8_rows_equal_bf16_rows():
    q = np.arange(256).astype(np.uint8)
    for cast in ((0, 0), (3, 1), (7, 1), (12, 0)):
        xb = L.fp.int_to_float(q, 8, cast[0], cast[1])
        for fn, t in ((L.method_a, T.METHOD_A), (L.method_b, T.METHOD_B)):
            assert np.array_equal(fn(q, t, in_cast=cast)["y8"], fn(xb, t)["y8"])


# --------------------------------------------------------------------------------------------
# Tables: budget, layout, reproduction
# --------------------------------------------------------------------------------------------

def test_table_bytes_within_budget():
    a1, a2 = L.table_bytes_a(T.METHOD_A)
    b1, b2 = L.table_bytes_b(T.METHOD_B)
    assert (a1, a2, b1, b2) == (T.A_LUT1_BYTES, T.A_LUT2_BYTES, T.B_REXP_BYTES, T.B_COMP_BYTES)
    assert T.A_BYTES == a1 + a2 and T.B_BYTES == b1 + b2
    assert T.TOTAL_BYTES == a1 + a2 + b1 + b2 <= 700
    assert a1 == len(T.A_LUT1) * ((T.A_E_BITS + 7) // 8)
    assert a2 == (1 << T.A_ROW_BITS) * ((1 << T.A_E_BITS) - 1) * ((T.A_E_BITS + T.A_LUT2_FRAC + 7) // 8)


def test_table_layout():
    assert T.A_LUT1[0] == (1 << T.A_E_BITS) - 1 and T.A_LUT1[-1] > 0
    assert all(0 <= v < 1 << T.A_E_BITS for v in T.A_LUT1)
    assert list(T.A_LUT1) == sorted(T.A_LUT1, reverse=True)
    assert len(T.A_LUT2) == 1 << T.A_ROW_BITS
    for row in T.A_LUT2:
        assert len(row) == (1 << T.A_E_BITS) - 1
        assert all(0 < v < 1 << (T.A_E_BITS + T.A_LUT2_FRAC) for v in row)
        assert list(row) == sorted(row)
    assert T.B_REXP[0] == (1 << T.B_U_BITS) - 1 and T.B_REXP[-1] > 0
    assert list(T.B_REXP) == sorted(T.B_REXP, reverse=True)
    assert len(T.B_COMP) == 1 << T.B_COMP_BITS
    assert all(0 < v < 1 << T.B_COMP_WIDTH for v in T.B_COMP)


def test_emission_reproduces_tables_module():
    text = gen.emit(T.PARAMS_A, T.PARAMS_B)
    assert text == pathlib.Path(T.__file__).read_text()


@pytest.mark.slow
def test_search_reproduces_parameters():
    pa, pb, _ = gen.search(progress=False)
    assert (pa, pb) == (T.PARAMS_A, T.PARAMS_B)


# --------------------------------------------------------------------------------------------
# Accuracy (measured with the seeded rows of the optimiser; docs/lut_softmax.md)
# --------------------------------------------------------------------------------------------

def test_accuracy_bounds():
    rs = gen.rows(99, per_class=30, long_rows=4)
    for fn, t, max_err, mean_err in ((L.method_a, T.METHOD_A, 0.25, 2.5e-3),
                                     (L.method_b, T.METHOD_B, 0.12, 1.5e-3)):
        top, errs, mx = [], [], 0.0
        for cls in gen.CLASSES:
            for x in rs[cls]:
                p = reference(x)
                m = gen.metrics(fn(x, t)["y8"], p)
                top.append(m["top1"])
                errs.append(m["mean"])
                mx = max(mx, m["max"])
        assert np.mean(top) >= 0.97
        assert np.mean(errs) <= mean_err
        assert mx <= max_err
