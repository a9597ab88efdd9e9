"""Accuracy of the tensor unit's accumulation (scripts/tensor_accuracy.py, docs/tensor.md): the
exact reference is exact, the golden model's errors at small K are where the table says (bf16
accumulation grows as sqrt(K), fp32 accumulation is the output rounding alone), and the table's
small-K rows are what the script computes now. Seconds."""

import math
from fractions import Fraction

import numpy as np
import pytest

from flows import docs
from scripts import tensor_accuracy as ta
from sim.golden.expp import bf16_to_float, float_to_bf16


def test_reference_is_exact():
    """exact_product equals the exact rational dot products rounded once to float64 (Fraction
    -> float rounds to nearest), output for output; a plain float64 sum does not."""
    x, w = ta.inputs(64, m=8, n=8, seed=7)
    ref = ta.exact_product(x, w)
    xf, wf = bf16_to_float(x), bf16_to_float(w)
    exact = np.array([[float(sum(Fraction(a) * Fraction(b) for a, b in zip(xf[i], wf[:, j])))
                       for j in range(8)] for i in range(8)])
    assert np.array_equal(ref, exact)
    # every BF16 x BF16 product is exact in float64
    prods = xf[:, :, None] * wf[None, :, :]
    assert all(Fraction(float(p)) == Fraction(float(a)) * Fraction(float(b))
               for p, a, b in zip(prods[0, :, 0], xf[0], wf[:, 0]))
    # where float64 summation in order is not exact, exact_product still is
    big = float_to_bf16(np.array([[2.0 ** 60, 1.5, -(2.0 ** 60), 0.25]]))
    ones = float_to_bf16(np.ones((4, 1)))
    assert sum(float(v) for v in bf16_to_float(big[0])) == 0.25           # 1.5 lost
    assert ta.exact_product(big, ones)[0, 0] == 1.75


@pytest.fixture(scope="module")
def small():
    """measure() at K = 16, 64 and 256 on 16 x 16 outputs."""
    return {k: ta.measure(k, m=16, n=16) for k in (16, 64, 256)}


def test_bf16_error_grows_as_sqrt_k(small):
    """bf16 accumulation: rms error |Z - S| / rms(S) about 1.2e-3 sqrt(K) (0.5 % at K = 16,
    1.8 % at K = 256 in docs/tensor.md), well above the output rounding (floor), and a 16-fold
    K gives about 4 times the error."""
    for k, r in small.items():
        per_sqrt_k = r["bf16_rms"] / math.sqrt(k)
        assert 0.6e-3 <= per_sqrt_k <= 2.0e-3, (k, r["bf16_rms"])
        assert r["bf16_rms"] > 2 * r["floor_rms"]
        assert r["bf16_max"] <= 0.2
    ratio = small[256]["bf16_rms"] / small[16]["bf16_rms"]
    assert 2.5 <= ratio <= 6.5


def test_fp32_error_is_output_rounding(small):
    """fp32 accumulation: the result is the exact product rounded once to BF16 for (nearly)
    every output, so its error is the floor's (<= half an ulp: 2^-8 of the output, at most
    ~1 % of rms(S) here) and does not grow with K."""
    for k, r in small.items():
        assert r["fp32_floor"] >= 0.99, k
        assert r["fp32_rms"] == pytest.approx(r["floor_rms"], rel=0.05)
        assert 0.0005 <= r["fp32_rms"] <= 0.003 and r["fp32_max"] <= 0.02


def test_doc_rows_current():
    """docs/tensor.md's generated table holds the rows the script computes now for K = 16 and
    64 (the large K take the script's half minute: python -m scripts.tensor_accuracy --check)."""
    text = docs.section(ta.DOC.read_text(), ta.SECTION)
    rows = [ta.measure(k) for k in (16, 64)]
    want = ta.table(rows).splitlines()
    assert want[0] in text                                      # the inputs sentence
    for line in want[-2:]:
        assert line in text.splitlines(), line
    assert [ln.split("|")[1].strip() for ln in text.splitlines() if ln.startswith("| ")][1:] \
        == [str(k) for k in ta.KS]
