"""The rows-batched SoftEx golden model (sim.golden.softmax.softmax_jobs) against one
softmax_job per row, bit for bit: rows of every kind (normal, peaked, all equal, -inf elements,
fully masked, NaN / inf, subnormals, any pattern, long rows), lanes, offsets, the job kinds of
the attention firmware (ACC | DIV, ACC | SAVE, ACC | LOAD | SAVE, ACC | LOAD | DIV,
DIV | LOAD) and both modes; and the attention golden model (sim.attention.golden_attention,
which batches the rows of a tile) against the per-row path it replaced."""

import numpy as np
import pytest

from sim.attention import (AttentionShape, attention_inputs, demo_shape, golden_attention,
                           scaled_identity, softex_tile)
from sim.golden.gemm import gemm
from sim.golden.softmax import NEG_INF, float_to_bf16, lane_offset, softmax_job, softmax_jobs
from hw.tensor.regmap import TensorOp

SPECIALS = np.array([0x7F80, 0xFF80, 0x7FC0, 0x7FC1, 0xFFC0, 0x0000, 0x8000, 0x0001, 0x8001,
                     0x007F, 0x3F80, 0x4700, 0xC700, 0x7F7F, 0xFF7F], np.uint16)


def bf(v):
    return np.asarray(float_to_bf16(np.asarray(v, dtype=np.float64)), dtype=np.uint16)


def row_of(kind, n, rng):
    """One row of ``n`` BF16 patterns of the given kind."""
    if kind == "normal":
        return bf(rng.normal(0, 3, n))
    if kind == "peaked":
        x = bf(rng.normal(0, 1, n))
        x[rng.integers(n)] = bf(40.0)
        return x
    if kind == "equal":
        return np.full(n, bf(rng.normal(0, 2)), np.uint16)
    if kind == "some_masked":
        return np.where(rng.random(n) < 0.4, NEG_INF, bf(rng.normal(0, 3, n))).astype(np.uint16)
    if kind == "masked":
        return np.full(n, NEG_INF, np.uint16)
    if kind == "specials":
        return rng.choice(SPECIALS, n)
    if kind == "one_nan":
        x = bf(rng.normal(0, 3, n))
        x[rng.integers(n)] = 0x7FC1
        return x
    if kind == "one_inf":
        x = bf(rng.normal(0, 3, n))
        x[rng.integers(n)] = 0x7F80
        return x
    if kind == "subnormals":
        return (rng.integers(0, 0x80, n) | (rng.integers(0, 2, n) << 15)).astype(np.uint16)
    if kind == "wide":
        return bf(rng.normal(0, 1, n) * 2.0 ** rng.integers(-130, 128, n))
    if kind == "patterns":
        return rng.integers(0, 1 << 16, n).astype(np.uint16)
    raise ValueError(kind)


KINDS = ("normal", "peaked", "equal", "some_masked", "masked", "specials", "one_nan", "one_inf",
         "subnormals", "wide", "patterns")


def rows_of_every_kind(n, rng, extra=3):
    """Every kind once, then ``extra`` more normal rows, shuffled (rows x n)."""
    rows = [row_of(kind, n, rng) for kind in KINDS]
    rows += [row_of("normal", n, rng) for _ in range(extra)]
    return np.stack([rows[i] for i in rng.permutation(len(rows))])


def special_states(rows, rng):
    """Loaded (m, D) per row: maxima and sums of every kind (-inf with D = 0 as after a masked
    chunk, NaN, inf, large, ordinary values)."""
    m = rng.choice(np.concatenate([SPECIALS, bf(rng.normal(0, 4, 8))]), rows).astype(np.uint16)
    D = rng.choice(np.array([0, 0x3F80_0000, 0x4040_0000, 0x4B00_0000, 0x7F80_0000,
                             0x7FC0_0000, 0x0000_0001, 0x7E80_0000], np.uint32), rows)
    D = np.where(rng.random(rows) < 0.3, rng.integers(0, 1 << 32, rows), D).astype(np.uint32)
    D[m == NEG_INF] = 0
    return m, D


def assert_rows_match(x, *, lanes, offset, acc, div, state, mode):
    """softmax_jobs on the rows == softmax_job on each row, every field, bit for bit."""
    got = softmax_jobs(x, lanes=lanes, offset=offset, acc=acc, div=div, state=state, mode=mode)
    rows, n = x.shape
    assert got["m"].shape == got["D"].shape == got["masked"].shape == (rows,)
    assert got["m"].dtype == np.uint16 and got["D"].dtype == np.uint32
    assert got["masked"].dtype == bool
    if div:
        assert got["y"].shape == (rows, n) and got["y"].dtype == np.uint16
    else:
        assert got["y"] is None
    for i in range(rows):
        row_state = None if state is None else (state[0][i], state[1][i])
        want = softmax_job(x[i], lanes=lanes, offset=offset, acc=acc, div=div, state=row_state,
                           mode=mode)
        where = f"row {i}: {x[i][:8]}..., state {row_state}"
        assert int(got["m"][i]) == int(want["m"]), where
        assert int(got["D"][i]) == int(want["D"]), where
        assert bool(got["masked"][i]) == want["masked"], where
        if div:
            assert np.array_equal(got["y"][i], want["y"]), where
    return got


#: The job kinds the attention firmware issues, as (acc, div, with a loaded state).
JOB_KINDS = {"ACC|DIV": (True, True, False), "ACC|SAVE": (True, False, False),
             "ACC|LOAD|SAVE": (True, False, True), "ACC|LOAD|DIV": (True, True, True),
             "DIV|LOAD": (False, True, True)}


@pytest.mark.parametrize("mode", ["accurate", "softex"])
@pytest.mark.parametrize("lanes,offset", [(4, 0), (4, 3), (8, 0), (8, 5)])
@pytest.mark.parametrize("n", [1, 7, 16, 37])
def test_batched_equals_per_row(n, lanes, offset, mode):
    rng = np.random.default_rng(1000 * n + 10 * lanes + offset + (mode == "softex"))
    x = rows_of_every_kind(n, rng)
    state = special_states(len(x), rng)
    for job, (acc, div, loaded) in JOB_KINDS.items():
        assert_rows_match(x, lanes=lanes, offset=offset, acc=acc, div=div,
                          state=state if loaded else None, mode=mode)


@pytest.mark.parametrize("mode", ["accurate", "softex"])
@pytest.mark.parametrize("lanes,offset", [(4, 1), (8, 6)])
def test_chained_chunks_as_the_firmware_runs_them(lanes, offset, mode):
    """A row in three chunks: ACC | SAVE, ACC | LOAD | SAVE, ACC | LOAD | DIV, then DIV | LOAD
    on the first two, the state of each job loaded by the next (rows of every kind, among them
    rows whose first chunks are fully masked)."""
    rng = np.random.default_rng(lanes + offset)
    bk = 24
    x = rows_of_every_kind(3 * bk, rng)
    x[0, :2 * bk] = NEG_INF                     # masked until the last chunk
    chunks = [x[:, c * bk:(c + 1) * bk] for c in range(3)]
    state = None
    for c in range(3):
        job = assert_rows_match(chunks[c], lanes=lanes, offset=offset, acc=True, div=c == 2,
                                state=state, mode=mode)
        state = (job["m"], job["D"])
    for c in range(2):
        assert_rows_match(chunks[c], lanes=lanes, offset=offset, acc=False, div=True,
                          state=state, mode=mode)


@pytest.mark.parametrize("lanes,offset,mode", [(8, 3, "accurate"), (4, 2, "softex")])
def test_long_rows(lanes, offset, mode):
    rng = np.random.default_rng(lanes)
    n = 1000
    x = np.stack([row_of(kind, n, rng) for kind in ("normal", "peaked", "some_masked", "masked",
                                                     "one_nan", "wide")])
    state = special_states(len(x), rng)
    for acc, div, loaded in JOB_KINDS.values():
        assert_rows_match(x, lanes=lanes, offset=offset, acc=acc, div=div,
                          state=state if loaded else None, mode=mode)


@pytest.mark.parametrize("lanes", [1, 2, 16])
def test_other_lane_counts(lanes):
    rng = np.random.default_rng(lanes)
    x = rows_of_every_kind(21, rng, extra=0)
    state = special_states(len(x), rng)
    for acc, div, loaded in JOB_KINDS.values():
        assert_rows_match(x, lanes=lanes, offset=lanes - 1, acc=acc, div=div,
                          state=state if loaded else None, mode="accurate")


def test_single_row_and_argument_checks():
    x = bf(np.random.default_rng(3).normal(0, 3, (1, 9)))
    assert_rows_match(x, lanes=8, offset=2, acc=True, div=True, state=None, mode="accurate")
    with pytest.raises(ValueError, match="2-D"):
        softmax_jobs(x[0])
    with pytest.raises(ValueError, match="shape"):
        softmax_jobs(x, state=(np.zeros(2, np.uint16), np.zeros(2, np.uint32)))
    with pytest.raises(ValueError, match="without ACC needs a loaded state"):
        softmax_jobs(x, acc=False)
    with pytest.raises(ValueError, match="one row"):
        softmax_job(x)


# --------------------------------------------------------------------------------------------
# The attention golden model: rows of a tile batched == one softmax_job per row
# --------------------------------------------------------------------------------------------

def per_row_softex(s, offsets, bk, lanes):
    """The probabilities of score rows ``s`` with one softmax_job per row and job, in the order
    of attention.c (the path golden_attention took before the rows were batched)."""
    nch = s.shape[1] // bk
    p = np.zeros_like(s)
    for r in range(len(s)):
        chunks = [s[r, c * bk:(c + 1) * bk] for c in range(nch)]
        off = offsets[r]
        if nch == 1:
            p[r] = softmax_job(chunks[0], lanes=lanes, offset=off[0])["y"]
            continue
        state = None
        for c in range(nch):
            job = softmax_job(chunks[c], lanes=lanes, offset=off[c], state=state,
                              div=c == nch - 1)
            state = (job["m"], job["D"])
        p[r, (nch - 1) * bk:] = job["y"]
        for c in range(nch - 1):
            p[r, c * bk:(c + 1) * bk] = softmax_job(chunks[c], lanes=lanes, offset=off[c],
                                                    acc=False, state=state)["y"]
    return p


def per_row_attention(shape, q, k, v, *, lanes, sbuf_addr=0, pipeline=False):
    """golden_attention (SoftEx, every tile) with one softmax_job per row and job."""
    ident = scaled_identity(shape)
    kt = np.ascontiguousarray(np.asarray(k, dtype=np.uint16).T)
    n, bq, bk = shape.seq, shape.block_q, shape.block_k
    nch, stride = n // bk, shape.strides["SS"]
    o = np.zeros((n, shape.head_dim), dtype=np.uint16)
    s = p = None
    for q0 in range(0, n, bq):
        rows = min(bq, n - q0)
        base = sbuf_addr + (q0 // bq % 2 if pipeline else 0) * bq * stride
        qs = gemm(q[q0:q0 + rows], ident, op=TensorOp.MATMUL)
        s = np.concatenate([gemm(qs, kt[:, c * bk:(c + 1) * bk], op=TensorOp.MATMUL)
                            for c in range(nch)], axis=1)
        offsets = [[lane_offset(base + r * stride + 2 * c * bk, lanes) for c in range(nch)]
                   for r in range(rows)]
        p = per_row_softex(s, offsets, bk, lanes)
        o[q0:q0 + rows] = gemm(p, np.asarray(v, dtype=np.uint16), op=TensorOp.MATMUL)
    return dict(o=o, s=s, p=p)


def assert_same_attention(got, want):
    for name in ("o", "s", "p"):
        bad = np.argwhere(got[name] != want[name])
        assert not len(bad), f"{name}: {len(bad)} mismatches, first at {bad[:4].tolist()}"


@pytest.mark.parametrize("lanes,sbuf_addr,pipeline", [(4, 0, True), (4, 0, False),
                                                      (8, 24, True)])
def test_golden_attention_tiny_equals_per_row_path(lanes, sbuf_addr, pipeline):
    shape = demo_shape("tiny")
    q, k, v = attention_inputs(shape)
    got = golden_attention(shape, q, k, v, lanes=lanes, sbuf_addr=sbuf_addr, pipeline=pipeline)
    assert_same_attention(got, per_row_attention(shape, q, k, v, lanes=lanes,
                                                 sbuf_addr=sbuf_addr, pipeline=pipeline))


def test_golden_attention_rows_on_different_lanes():
    """A stride that is not a multiple of the lanes: the rows of a tile start on different lanes
    and go through the jobs in groups of equal offsets, still equal to the per-row path."""
    shape = AttentionShape(seq=20, head_dim=4, block_q=6, block_k=10, align=4)
    assert shape.strides["SS"] // 2 % 8                 # 20 elements: rows on lanes 0, 4, ..
    q, k, v = attention_inputs(shape, seed=5)
    for lanes, sbuf_addr in ((8, 0), (8, 6), (4, 2)):
        got = golden_attention(shape, q, k, v, lanes=lanes, sbuf_addr=sbuf_addr, pipeline=True)
        assert_same_attention(got, per_row_attention(shape, q, k, v, lanes=lanes,
                                                     sbuf_addr=sbuf_addr, pipeline=True))


def test_softex_tile_with_any_row_offsets():
    """softex_tile groups the rows by their chunks' lane offsets (here all different mixes)."""
    rng = np.random.default_rng(11)
    bk, nch, lanes = 12, 3, 8
    s = rows_of_every_kind(nch * bk, rng)
    offsets = [tuple(int(o) for o in rng.integers(0, lanes, nch)) for _ in range(len(s))]
    offsets[1] = offsets[0]
    assert np.array_equal(softex_tile(s, offsets, bk=bk, lanes=lanes),
                          per_row_softex(s, offsets, bk, lanes))
    one_chunk = s[:, :bk]
    assert np.array_equal(softex_tile(one_chunk, [o[:1] for o in offsets], bk=bk, lanes=lanes),
                          per_row_softex(one_chunk, [o[:1] for o in offsets], bk, lanes))
