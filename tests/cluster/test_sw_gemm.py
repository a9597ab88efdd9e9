# amaranth: UnusedElaboratable=no
"""The software BF16 GEMM (firmware/lib/bf16_gemm.c, the tensor unit's baseline) bit for bit
against the tensor unit's golden model sim.golden.gemm.gemm (MATMUL, fp32 accumulation):

* on the host (the same C file built with the ziglang wheel, sim/sw_gemm.py): thousands of
  outputs of random, wide-range, tie-heavy and special operands, fast, no Verilator;
* on the plain 2-core cluster (firmware/apps/gemm_sw.c; no accelerator is involved, and that
  model is much faster to build and run than the accelerated cluster): random matrices of odd
  sizes on one and two cores, and a matrix of hand-made corner cases (signed zeros, subnormal
  bf16, overflow to inf, inf * 0, NaN, exact cancellation, ties to even, tiny products).

Cycle counts are printed (pytest -s) and kept in build/system_tests.json."""

import json
import re

import numpy as np
import pytest

from sim.golden.gemm import gemm
from sim.golden.softmax import float_to_bf16
from sim.sw_gemm import gemm_sw_elf, host_gemm

NAN, INF, NEG_INF = 0x7FC0, 0x7F80, 0xFF80


def _bf(v):
    return int(np.asarray(float_to_bf16(np.float64(v))).astype(np.uint16))


def _record(key, value):
    from flows.toolchain import BUILD
    path = BUILD / "system_tests.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old[key] = value
    path.write_text(json.dumps(old, indent=1))
    print(f"{key}: {value}")


# ---- corner cases: one dot product each, (x, w) bf16 patterns and the expected bf16 result ----

ONE, TWO, M_ONE = _bf(1.0), _bf(2.0), _bf(-1.0)
BIG = 0x7F7F                      # largest finite bf16 (~3.39e38)
SUB = 0x0001                      # smallest bf16 subnormal, 2^-133
PZ, NZ = 0x0000, 0x8000


def _p(*terms):
    return [(_bf(x) if isinstance(x, float) else x, _bf(w) if isinstance(w, float) else w)
            for x, w in terms]


CASES = [
    ("all -0 products stay -0", _p((NZ, ONE), (PZ, M_ONE)), 0x8000),
    ("+0 product makes +0", _p((PZ, ONE), (NZ, ONE)), 0x0000),
    ("-0 * -0 is +0", _p((NZ, NZ)), 0x0000),
    ("exact cancellation is +0", _p((1.5, 3.0), (-1.5, 3.0)), 0x0000),
    ("small term absorbed by the large one", _p((BIG, ONE), (0.75, 0.5), (BIG, M_ONE)), 0x0000),
    ("cancellation of the large term", _p((BIG, ONE), (BIG, M_ONE), (0.75, 0.5)), _bf(0.375)),
    ("subnormal bf16 times one", _p((SUB, ONE)), SUB),
    ("subnormal times subnormal underflows to -0", _p((SUB, 0x8001)), 0x8000),
    ("subnormal sums", _p((0x0003, ONE), (0x0005, TWO), (0x807F, ONE)), _bf(3.0 * 2.0 ** -133 + 10 * 2.0 ** -133 - 127 * 2.0 ** -133)),
    ("fp32 subnormal accumulator to min normal", _p((_bf(2.0 ** -75), _bf(2.0 ** -51)), (_bf(2.0 ** -60), _bf(2.0 ** -66))), _bf(2.0 ** -125)),
    ("overflow to +inf", _p((BIG, TWO)), INF),
    ("overflow to -inf", _p((BIG, ONE), (BIG, _bf(-2.0)), (BIG, M_ONE)), NEG_INF),
    ("inf * 0 is NaN", _p((ONE, ONE), (INF, PZ)), NAN),
    ("inf - inf is NaN", _p((INF, ONE), (NEG_INF, ONE)), NAN),
    ("inf plus finite stays inf", _p((NEG_INF, ONE), (BIG, BIG), (ONE, ONE)), NEG_INF),
    ("NaN input", _p((ONE, ONE), (0x7F81, PZ), (ONE, ONE)), NAN),
    ("negative NaN input is the canonical NaN", _p((0xFFC3, ONE)), NAN),
    # 1 + 2^-24 is a tie in fp32: to even (1.0), then -1 shows it.
    ("fp32 tie to even (down)", _p((ONE, ONE), (_bf(2.0 ** -24), ONE), (M_ONE, ONE)), 0x0000),
    # 1 + 3 * 2^-24 is a tie between 1 + 2^-23 (odd) and 1 + 2^-22 (even): up.
    ("fp32 tie to even (up)", _p((ONE, ONE), (_bf(1.5), _bf(2.0 ** -23)), (M_ONE, ONE)), _bf(2.0 ** -22)),
    # 2^-24 * (1 + 2^-7): just above the tie, by a product bit far below the fp32 LSB.
    ("fp32 sticky above the tie", _p((ONE, ONE), (_bf(1 + 2.0 ** -7), _bf(2.0 ** -24)), (M_ONE, ONE)), _bf(2.0 ** -23)),
    ("fp32 sticky below the tie (subtraction)", _p((ONE, ONE), (_bf(-(1 + 2.0 ** -7)), _bf(2.0 ** -25)), (M_ONE, ONE)), _bf(-(2.0 ** -24))),
    # A product far below the fp32 range changes nothing... except through the bf16 tie: none.
    ("tiny product onto 1.0", _p((ONE, ONE), (_bf(2.0 ** -100), _bf(2.0 ** -100))), ONE),
    ("tiny product onto -0", _p((_bf(-(2.0 ** -100)), _bf(2.0 ** -100))), 0x8000),
    # bf16 tie 1 + 2^-8: the fp32 accumulator decides (bits below the bf16 LSB).
    ("bf16 tie to even", _p((ONE, ONE), (_bf(2.0 ** -8), ONE)), ONE),
    ("bf16 tie broken by an fp32 bit", _p((ONE, ONE), (_bf(2.0 ** -8), ONE), (_bf(2.0 ** -23), ONE)), _bf(1 + 2.0 ** -7)),
    ("bf16 tie kept: the extra bit is lost in fp32", _p((ONE, ONE), (_bf(2.0 ** -8), ONE), (_bf(2.0 ** -30), ONE)), ONE),
    ("rounding carry to the next binade", _p((_bf(1.9921875), ONE), (_bf(2.0 ** -8), ONE)), TWO),
]
K = max(len(t) for _, t, _ in CASES)


def corner_matrices():
    """X (one row per case), W (one column per case), padded with -0 * 1 products (the FMA
    identity); the diagonal of X W is the cases' results, the rest mixes their terms."""
    pad = (NZ, ONE)
    rows = [t + [pad] * (K - len(t)) for _, t, _ in CASES]
    x = np.array([[a for a, _ in r] for r in rows], dtype=np.uint16)
    w = np.array([[b for _, b in r] for r in rows], dtype=np.uint16).T.copy()
    return x, w


def test_corner_cases_mean_what_they_say():
    x, w = corner_matrices()
    diag = np.diag(gemm(x, w))
    for (name, _, want), got in zip(CASES, diag):
        assert got == want, (name, hex(got), hex(want))


# ---- host: the C code against the golden model on many inputs ----------------------------

def _patterns(rng, shape, lo, hi, special=0.0):
    """Random finite bf16 patterns with exponent fields in [lo, hi], many tie-prone fractions,
    and a fraction ``special`` of zeros, infinities, NaN, subnormals and the largest value."""
    s = rng.integers(0, 2, shape) << 15
    e = rng.integers(lo, hi + 1, shape)
    f = rng.integers(0, 128, shape)
    f = np.where(rng.random(shape) < 0.3, f & rng.choice([0, 1, 64, 65], shape), f)
    v = (s | (e << 7) | f).astype(np.uint16)
    sp = rng.random(shape) < special
    v[sp] = rng.choice(np.array([0, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 1, 0x8001, 0x7F7F],
                                dtype=np.uint16), int(sp.sum()))
    return v


def test_host_build_matches_golden():
    rng = np.random.default_rng(7)
    x, w = corner_matrices()
    assert np.array_equal(host_gemm(x, w), gemm(x, w))
    for t in range(150):
        k = int(rng.integers(1, 7))
        c, width = int(rng.integers(0, 150)), int(rng.integers(0, 30))
        lo, hi = max(0, c - width), min(254, c + width)
        lo2 = int(np.clip(lo + rng.integers(-20, 20), 0, 254))
        hi2 = int(np.clip(hi + rng.integers(-20, 20), lo2, 254))
        x = _patterns(rng, (24, k), lo, hi, 0.02 if t % 3 == 0 else 0.0)
        w = _patterns(rng, (k, 24), lo2, hi2, 0.02 if t % 3 == 0 else 0.0)
        got, want = host_gemm(x, w), gemm(x, w)
        assert np.array_equal(got, want), (t, np.argwhere(got != want)[:4])
    # a + b * s - a: the last FMA exposes the fp32 rounding of a + b * s.
    n = 512
    ea = rng.integers(1, 254, n)
    d = rng.integers(-40, 40, n)

    def pat(e):
        e = np.clip(e, 0, 254)
        return ((rng.integers(0, 2, n) << 15) | (e << 7) | rng.integers(0, 128, n)).astype(np.uint16)
    a, b = pat(ea), pat(ea // 2 + 63 + d // 2)
    s = pat(ea - ea // 2 + 3 + d - d // 2 + rng.integers(0, 60, n))
    x = np.stack([a, b, a ^ 0x8000], axis=1)
    for j in range(0, n, 64):
        w = np.stack([np.full(64, ONE), s[j:j + 64], np.full(64, ONE)]).astype(np.uint16)
        got, want = host_gemm(x, w), gemm(x, w)
        assert np.array_equal(got, want), (j, np.argwhere(got != want)[:4])
    # uniform(-2, 2), long k
    x = np.asarray(float_to_bf16(rng.uniform(-2, 2, (16, 200))), dtype=np.uint16)
    w = np.asarray(float_to_bf16(rng.uniform(-2, 2, (200, 16))), dtype=np.uint16)
    assert np.array_equal(host_gemm(x, w), gemm(x, w))


# ---- the cores ---------------------------------------------------------------------------

def _run(x, w, cores):
    from sim.offload import run_program, stride_for

    from .test_cluster_verilator import CFG, _sim as plain_sim
    elf, zwords = gemm_sw_elf(x, w, cores)
    r = run_program(plain_sim(), CFG, elf, {"gz_sw": 2 * zwords}, max_cycles=20_000_000)
    assert r["exit_code"] == 0, r
    m, n = x.shape[0], w.shape[1]
    z = r.array("gz_sw").reshape(m, stride_for(n) // 2)[:, :n]
    out = re.search(r"software gemm m (\d+) n (\d+) k (\d+) cores (\d+) cycles (\d+)", r["output"])
    assert out and [int(v) for v in out.groups()[:4]] == [m, n, x.shape[1], cores or CFG["cores"]], r["output"]
    return z, int(out.group(5))


@pytest.mark.verilator
@pytest.mark.parametrize("m, n, k", [(5, 7, 9), pytest.param(8, 16, 16, marks=pytest.mark.slow)])
def test_sw_gemm_random_one_and_two_cores(m, n, k):
    from sim.offload import gemm_inputs

    from .test_cluster_verilator import CFG
    X, W, _ = gemm_inputs(m, n, k, seed=21)
    want = gemm(X, W)
    cycles = {}
    for cores in (1, CFG["cores"]):
        z, cycles[cores] = _run(X, W, cores)
        assert np.array_equal(z, want), (cores, np.argwhere(z != want)[:8])
        mac = m * n * k
        _record(f"software_gemm_{m}x{n}x{k}_{cores}core_cycles", cycles[cores])
        print(f"software gemm {m}x{n}x{k} on {cores} core(s): {cycles[cores] / mac:.1f} "
              f"cycles per MAC ({cycles[cores] * cores / mac:.1f} core-cycles per MAC)")
    assert cycles[CFG["cores"]] < 0.7 * cycles[1]


@pytest.mark.verilator
def test_sw_gemm_corner_values():
    x, w = corner_matrices()
    want = gemm(x, w)
    z, _ = _run(x, w, 0)
    bad = np.argwhere(z != want)
    assert not len(bad), [(CASES[i][0], CASES[j][0], hex(z[i, j]), hex(want[i, j]))
                          for i, j in bad[:8]]
