"""all-MiniLM-L6-v2 in numpy (sim.models.minilm) against the reference implementation
(sentence-transformers 6.3.0 on PyTorch 2.13.0, run once in a side environment:
tests/data/minilm_reference.npz holds its token ids, sentence-0 hidden states and embeddings
of 24 sentences), and the accelerator's numerics (sim.models.numerics) per operation against
the blocks' golden models and on whole sentences."""

import math
from pathlib import Path

import numpy as np
import pytest

from sim.attention import softex_tile
from sim.golden.gelu import gelu_correctly_rounded, gelu_job
from sim.golden.gemm import gemm
from sim.golden.softmax import bf16_to_float, float_to_bf16, softmax_jobs
from sim.models.minilm import FloatNumerics, MiniLM, erf
from sim.models.numerics import AcceleratorNumerics, chunked_softmax

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "minilm_reference.npz"


@pytest.fixture(scope="module")
def model():
    return MiniLM()


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def test_erf_is_math_erf_within_2_ulp():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 2, 100_000), rng.uniform(-7, 7, 100_000),
                        np.linspace(-8, 8, 40_001), np.arange(-1536, 1537) / 256,
                        (np.arange(-1536, 1536) + 0.5) / 256,
                        [0.0, -0.0, 5e-324, -5e-324, 1e-300, 5.999, 6.0, 6.001, 1e300]])
    want = np.array([math.erf(v) for v in x])
    ulp = np.spacing(np.abs(want))
    assert np.max(np.abs(erf(x) - want) / ulp) <= 2
    assert np.array_equal(np.signbit(erf(x)), np.signbit(want))
    special = erf(np.array([np.inf, -np.inf, np.nan]))
    assert special[0] == 1 and special[1] == -1 and np.isnan(special[2])
    x32 = x[np.abs(x) < 1e30].astype(np.float32)
    want32 = np.array([math.erf(v) for v in x32.astype(np.float64)]).astype(np.float32)
    got32 = erf(x32)
    assert got32.dtype == np.float32
    assert np.max(np.abs(got32.astype(np.float64) - want32) / np.spacing(np.abs(want32))) <= 2


def _sentences(reference):
    return [str(s) for s in reference["sentences"]]


def test_tokens(model, reference):
    ids = np.split(reference["token_ids"], np.cumsum(reference["token_counts"])[:-1])
    for text, want in zip(_sentences(reference), ids):
        assert np.array_equal(model.tokens(text), want), text


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embeddings_match_the_reference(model, reference, dtype):
    numerics = FloatNumerics(dtype)
    states = model.hidden_states(model.tokens(_sentences(reference)[0]), numerics)
    for i, h in enumerate(states):
        assert np.abs(h - reference[f"hidden_{i}"]).max() <= 1e-5, f"layer {i}"
    embeddings = model.embed(_sentences(reference), numerics)
    assert np.abs(embeddings - reference["embeddings"]).max() <= 1e-5
    raw = model.embed(_sentences(reference), numerics, normalize=False)
    assert np.abs(raw - reference["pooled"]).max() <= 1e-5


def _bf16_values(rng, shape, scale=1.0):
    return bf16_to_float(float_to_bf16(rng.normal(0, scale, shape).ravel())).reshape(shape)


def test_accelerator_operations_are_the_golden_models():
    rng = np.random.default_rng(1)
    a, b = _bf16_values(rng, (2, 7, 32)), _bf16_values(rng, (2, 32, 9))
    for acc in ("fp32", "bf16"):
        got = AcceleratorNumerics(acc=acc).matmul(a, b)
        for h in range(2):
            want = gemm(float_to_bf16(a[h].ravel()).reshape(7, 32),
                        float_to_bf16(b[h].ravel()).reshape(32, 9), acc=acc)
            assert np.array_equal(got[h], bf16_to_float(want))
    s = _bf16_values(rng, (3, 40), 4.0)
    bits = np.asarray(float_to_bf16(s.ravel()), np.uint16).reshape(s.shape)
    assert np.array_equal(AcceleratorNumerics(lanes=8).softmax(s),
                          bf16_to_float(softmax_jobs(bits, lanes=8)["y"]))
    # chunks through the slots: what the attention firmware's model gives for equal chunks
    assert np.array_equal(chunked_softmax(bits, chunk=8, lanes=4),
                          softex_tile(bits, [(0,) * 5] * 3, bk=8, lanes=4))
    x = _bf16_values(rng, (5, 6), 3.0)
    xb = np.asarray(float_to_bf16(x.ravel()), np.uint16)
    assert np.array_equal(AcceleratorNumerics(gelu_terms=4).gelu(x), bf16_to_float(
        gelu_job(xb, method="expp", terms=4)).reshape(x.shape))
    # the default unit: the table, GELU correctly rounded
    assert np.array_equal(AcceleratorNumerics().gelu(x),
                          bf16_to_float(gelu_correctly_rounded(xb)).reshape(x.shape))


def test_default_numerics_keep_the_embeddings(model, reference):
    texts = _sentences(reference)[:6]
    got = model.embed(texts, AcceleratorNumerics())
    cosines = np.sum(got * reference["embeddings"][:6], axis=1)
    assert cosines.min() >= 0.999, cosines
