"""Per-operation protection (sim.perop, attention.c PEROP=1), the scheme the Flash-ABFT checker is
compared with, on the tiny cluster (Verilator, the campaign engine's tapped design): the
fault-free head passes with O bit-exact and no check failing (the tolerances hold), the golden
model's row checks agree with the tensor unit's outputs on random and adversarial heads, a
corrupted accumulator's tile is recomputed (when the change exceeds the tolerance; smaller ones
can pass silently, unlike under the checker) and a corrupted input is reported."""

import numpy as np
import pytest

from sim.abft import HEAD_KINDS, random_head
from sim.attention import AttentionShape
from sim.faults import target
from sim.faults.targets import Fault
from sim.golden.abft import scale_identity
from sim.golden.gemm import gemm
from sim.perop import ones_operand, perop_encode, row_check

from .test_abft_cluster import SAFE, _run, _spm_word, walk_accumulator

TINY = AttentionShape(32, 4, 12, 16, align=8)


@pytest.mark.parametrize("kind", sorted(HEAD_KINDS))
def test_row_checks_hold_on_fault_free_jobs(kind):
    """The scale and qk checks of sim.perop on the tensor unit's golden outputs (the pv check's
    inputs come from SoftEx: the cluster test below)."""
    rng = np.random.default_rng(len(kind))
    ones = ones_operand(TINY.seq)
    for _ in range(5):
        q, k, v = random_head(rng, kind, TINY)
        enc = perop_encode(q, k, v, shift=TINY.shift)
        qs = gemm(q, scale_identity(TINY.head_dim, TINY.shift))
        cq, sq = gemm(q, enc.id_chk), gemm(qs, ones[:TINY.head_dim])
        s = gemm(qs, np.ascontiguousarray(k.T))
        cs, ss = gemm(qs, enc.kt_chk), gemm(s, ones)
        for i in range(TINY.seq):
            assert row_check(sq[i, 0], cq[i, 0], enc.frac_q, enc.tol_q[i]), i
            assert row_check(ss[i, 0], cs[i, 0], enc.frac_s, enc.tol_s[i]), i


@pytest.fixture(scope="module")
def perop():
    spec = target("attention", config="tiny", perop=True)
    prepared = spec.prepare()
    return spec, prepared, prepared.golden()      # golden(): O bit-exact, no flag


@pytest.mark.verilator
def test_fault_free_head(perop):
    spec, prepared, golden = perop
    assert golden["cause"] == 0 and not golden.get("flag")


@pytest.mark.verilator
def test_corrupted_accumulator_tile_is_recomputed(perop):
    spec, prepared, golden = perop
    start, end = golden["window"]
    # The exponent's top bit: a value near 1 becomes infinite or NaN, far beyond any
    # tolerance, and is recomputed. A value that becomes tiny instead changes by itself, which
    # the tolerances (relative to the row's magnitudes) can let through while O moves: the
    # scheme's silent misses, which the campaign counts (allowed here). The tensor unit is
    # busy in a tenth of the run: a fine walk from the first job on.
    outcomes = walk_accumulator(spec, prepared, golden, range(start + 200, end, 149), 2,
                                allowed=SAFE + ("sdc-critical", "sdc-tolerable"))
    assert "detected-recomputed" in outcomes


@pytest.mark.verilator
def test_corrupted_input_is_reported_uncorrectable(perop):
    spec, prepared, golden = perop
    start, _ = golden["window"]
    tid, word = _spm_word(prepared, "v", 2 * (5 * 4 + 1))   # V[5, 1]
    outcome, run = _run(spec, prepared, golden, Fault(0, tid, word, 14, start + 10))
    assert outcome == "detected-uncorrected", outcome
    assert run["flag"]
