"""The Flash-ABFT checks of an attention head at the level of its data flow (docs/abft.md).

:func:`head_trace` runs the head of ``firmware/apps/attention.c`` through the blocks' golden
models tile by tile (the same jobs, the same order as :func:`sim.attention.golden_attention`)
and keeps what the checker observes: the fp32 accumulators of the scale, qk and pv jobs before
their rounding, the probabilities, the score words SoftEx reads. ``faults`` perturb it on the
way (:class:`ModelFault`: a bit of a value in one of :data:`STAGES`), so that the checks can be
measured against every place a fault can reach without a simulator: :func:`check_head` gives
the checker's verdict, :func:`random_head` the fault-free heads of the false-positive study.
"""

import math
from dataclasses import dataclass

import numpy as np

from hw.fp.format import BF16, FP32
from hw.tensor.regmap import TensorOp

from .attention import AttentionShape, scaled_identity
from .golden import abft, fp
from .golden.gemm import gemm
from .golden.softmax import float_to_bf16, lane_offset, softmax_job

__all__ = ["STAGES", "ModelFault", "HeadTrace", "head_trace", "check_head", "random_head", "model_campaign",
           "HEAD_KINDS"]

#: Where a model fault lands, in data-flow order, and what it stands for.
STAGES = {
    "q": "an element of Q in the scratchpad, before the tile's scale job reads it",
    "qs32": "an accumulator of the scale job (tensor datapath)",
    "qs": "a word of Qs in the scratchpad, between the scale and qk jobs",
    "k": "an element of K^T in the scratchpad, before the tile's qk jobs read it (and later tiles')",
    "s32": "an accumulator of a qk job (tensor datapath)",
    "s": "a score word in the scratchpad, between the qk jobs and SoftEx",
    "state": "a SoftEx state slot word (m or D) between two chunks of a row (run A or B)",
    "p_out": "a probability SoftEx computes (SoftEx datapath, before its write; run A or B)",
    "p": "a probability word in the scratchpad, between SoftEx and the pv job",
    "v": "an element of V in the scratchpad, before the tile's pv job reads it (and later tiles')",
    "o32": "an accumulator of the pv job (tensor datapath)",
    "o": "a word of O in the scratchpad after the pv job wrote it",
}


@dataclass(frozen=True)
class ModelFault:
    """Bit ``bit`` of element ``index`` (flat, within the stage's array of tile ``tile``; taken
    modulo its size) of ``stage`` inverted; for the SoftEx stages in ``run`` 0 (A, whose
    probabilities the pv job uses) or 1 (B, the repeat)."""

    stage: str
    tile: int
    index: int
    bit: int
    run: int = 0

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")


def _flip(array, fault, width):
    a = np.array(array, copy=True)
    flat = a.reshape(-1)
    i = fault.index % flat.size
    flat[i] ^= a.dtype.type(1 << (fault.bit % width))
    return a


@dataclass
class HeadTrace:
    """A head as the checker saw it: ``o`` (BF16 words of O at the end), per tile the observed
    arrays (``qs32``, ``s32``, ``s_read``, ``p``, ``o32``) and the rows."""

    o: np.ndarray
    tiles: list


def head_trace(shape, q, k, v, *, lanes, sbuf_addr=0, pipeline=True, faults=(), golden=None):
    """:class:`HeadTrace` of the head ``shape`` on BF16 ``q``, ``k``, ``v`` with SoftEx of
    ``lanes`` lanes (score buffer at ``sbuf_addr``, doubled when ``pipeline``), with the
    :class:`ModelFault` ``faults`` applied. A fault in an input (``q``, ``k``, ``v``) stays in
    the scratchpad: it reaches its tile and, for K and V, every later one. ``golden``: the
    fault-free trace of the same head, whose tiles no fault reaches are reused."""
    by_stage = {}
    for f in faults:
        by_stage.setdefault((f.stage, f.tile), []).append(f)
    first = min((f.tile for f in faults), default=None)

    def hit(stage, tile, array, width, run=0):
        for f in by_stage.get((stage, tile), ()):
            if f.run == run:
                array = _flip(array, f, width)
        return array

    ident = scaled_identity(shape)
    q = np.asarray(q, np.uint16)
    kt = np.ascontiguousarray(np.asarray(k, dtype=np.uint16).T)
    v = np.asarray(v, np.uint16)
    n, bq, bk = shape.seq, shape.block_q, shape.block_k
    nch, stride = n // bk, shape.strides["SS"]
    o = np.zeros((n, shape.head_dim), dtype=np.uint16)
    tiles = []
    for t, q0 in enumerate(range(0, n, bq)):
        rows = min(bq, n - q0)
        kt = hit("k", t, kt, 16)                 # a memory flip: every later tile sees it
        v = hit("v", t, v, 16)
        reached = first is not None and (t == first or (t > first and any(
            f.stage in ("k", "v") for f in faults)))
        if golden is not None and not reached:
            tiles.append(golden.tiles[t])
            o[q0:q0 + rows] = golden.o[q0:q0 + rows]
            continue
        base = sbuf_addr + (t % 2 if pipeline else 0) * bq * stride
        q_in = hit("q", t, q[q0:q0 + rows], 16)
        qs32 = hit("qs32", t, gemm(q_in, ident, op=TensorOp.MATMUL, unrounded=True), 32)
        qs_used = hit("qs", t, fp.convert(qs32, FP32, BF16), 16)
        s32 = np.concatenate([gemm(qs_used, kt[:, c * bk:(c + 1) * bk], unrounded=True)
                              for c in range(nch)], axis=1)
        s32 = hit("s32", t, s32, 32)
        s_read = hit("s", t, fp.convert(s32, FP32, BF16), 16)
        runs = []
        for run in (0, 1):                       # SoftEx's run A (used) and its repeat B
            if run and not any(f.run == 1 for key in (("state", t), ("p_out", t))
                               for f in by_stage.get(key, ())):
                if not any(by_stage.get(key) for key in (("state", t), ("p_out", t))):
                    runs.append(runs[0])         # no SoftEx fault: the repeat is run A
                    break
            p_run = _softmax_tile(s_read, lanes, base, stride, nch, bk,
                                  lambda st, run=run: hit("state", t, st, 16, run))
            runs.append(hit("p_out", t, p_run, 16, run))
        p_out, p_repeat = runs
        p_used = hit("p", t, p_out, 16)
        o32 = hit("o32", t, gemm(p_used, v, unrounded=True), 32)
        o[q0:q0 + rows] = fp.convert(o32, FP32, BF16)
        tiles.append(dict(row0=q0, qs32=qs32, s32=s32, s_read=s_read, p=p_out,
                          p_repeat=p_repeat, o32=o32))
    for t in range(len(tiles)):
        o = hit("o", t, o, 16)
    return HeadTrace(o=o, tiles=tiles)


def _softmax_tile(s, lanes, base, stride, nch, bk, corrupt_state):
    """SoftEx on a tile's scores as attention.c runs it (chunks through the state slots);
    ``corrupt_state`` may change the (rows x 3) slot words (m, D low, D high) between chunks."""
    rows = s.shape[0]
    p = np.zeros_like(s)
    off = [[lane_offset(base + r * stride + 2 * c * bk, lanes) for c in range(nch)]
           for r in range(rows)]
    if nch == 1:
        for r in range(rows):
            p[r] = softmax_job(s[r], lanes=lanes, offset=off[r][0])["y"]
        return p
    states = [None] * rows
    for c in range(nch):                               # ACC + SAVE (+LOAD) (+DIV on the last)
        for r in range(rows):
            job = softmax_job(s[r, c * bk:(c + 1) * bk], lanes=lanes, offset=off[r][c],
                              state=states[r], div=c == nch - 1)
            states[r] = (job["m"], job["D"])
            if c == nch - 1:
                p[r, c * bk:] = job["y"]
        if c < nch - 1:
            words = np.array([[m, d & 0xFFFF, d >> 16] for m, d in states], np.uint16)
            words = corrupt_state(words)
            states = [(np.uint16(w[0]), np.uint32(int(w[1]) | int(w[2]) << 16)) for w in words]
    for c in range(nch - 1):                           # DIV + LOAD
        for r in range(rows):
            p[r, c * bk:(c + 1) * bk] = softmax_job(s[r, c * bk:(c + 1) * bk], lanes=lanes,
                                                    offset=off[r][c], acc=False,
                                                    state=states[r])["y"]
    return p


def check_head(shape, enc, trace):
    """The checker's verdict on a :class:`HeadTrace`: dict(tiles=[TileCheck], failed_tiles=
    [tile], causes=OR of the tiles' causes (with O_SIGNATURE when the O read back differs
    from the words the pv jobs wrote), located=(row, col, delta) of a single corrupted O word
    or None)."""
    checks = [abft.tile_check(enc, t, tr["row0"], tr["qs32"], tr["s32"], tr["p"], tr["o32"],
                              s_read=tr["s_read"], p_repeat=tr["p_repeat"])
              for t, tr in enumerate(trace.tiles)]
    written = np.concatenate([fp.convert(tr["o32"], FP32, BF16) for tr in trace.tiles])
    expected = abft.signature(written)
    got = abft.signature(trace.o)
    causes = 0
    for c in checks:
        causes |= c.causes
    located = None
    if got != expected:
        causes |= 1 << abft.CAUSES.index("O_SIGNATURE")
        located = abft.locate(expected, got, shape.seq, shape.head_dim)
    return dict(tiles=checks, failed_tiles=[t for t, c in enumerate(checks) if c.failed],
                causes=causes, located=located)


#: The kinds of fault-free heads of the false-positive study (:func:`random_head`).
HEAD_KINDS = {
    "normal": "Q, K, V ~ N(0, 1)",
    "scaled": "Q, K ~ N(0, sigma^2) with sigma up to 4 (scores up to ~ +-100: sharp rows)",
    "peaked": "each query aligned with one key times 8: one probability near 1 per row",
    "masked": "a random half of the keys scored at most -100 sqrt(d) (probabilities exactly 0)",
    "equal": "all keys equal: every row all-equal scores (every rounding in the same direction)",
    "extreme": "V with magnitudes up to 2^12 and 2^-12 mixed, K rows of one sign",
    "tiny_v": "V ~ N(0, 2^-20) (values near the fixed-point resolution)",
}


def random_head(rng, kind, shape):
    """BF16 (q, k, v) of one fault-free head of ``kind`` (:data:`HEAD_KINDS`)."""
    n, d = shape.seq, shape.head_dim

    def bf(x):
        return np.asarray(float_to_bf16(np.asarray(x, np.float64).ravel()),
                          np.uint16).reshape(np.shape(x))
    q, k, v = (rng.normal(0, 1, (n, d)) for _ in range(3))
    if kind == "scaled":
        sigma = rng.uniform(1, 4)
        q, k = q * sigma, k * sigma
    elif kind == "peaked":
        perm = rng.permutation(n)
        q = 8 * k[perm] / np.sqrt(np.maximum((k[perm] ** 2).mean(1, keepdims=True), 1e-3))
    elif kind == "masked":
        # queries of one sign pattern with |q_c| >= 0.5; a masked key is -200 times that
        # pattern, so its score is at most -100 sqrt(d): e^(s - m) underflows to exactly 0
        pattern = np.where(rng.random(d) < 0.5, -1.0, 1.0)
        q = (np.abs(q) + 0.5) * pattern[None, :]
        masked = rng.random(n) < 0.5
        masked[rng.integers(n)] = False
        k[masked] = -200 * pattern[None, :]
    elif kind == "equal":
        k = np.repeat(k[:1], n, axis=0)
    elif kind == "extreme":
        v = v * np.exp2(rng.choice([-12, 0, 12], size=(n, d)))
        k = np.abs(k) * rng.choice([-1, 1])
    elif kind == "tiny_v":
        v = v * 2.0 ** -20
    elif kind != "normal":
        raise ValueError(f"kind must be one of {', '.join(HEAD_KINDS)}, got {kind!r}")
    return bf(q), bf(k), bf(v)


def _stage_width(stage):
    return 32 if stage.endswith("32") else 16


def model_campaign(shape, q, k, v, *, lanes, runs, seed, stages=tuple(STAGES), progress=None):
    """``runs`` single-bit model faults (stage uniform over ``stages``, tile, element and bit
    uniform; drawn from ``seed``) on one head: a list of dicts (stage, tile, index, bit,
    outcome = masked / sdc-tolerable / sdc-critical against the fault-free O, causes of the full
    checker, ``output_only``: whether the output identity alone (O_RESIDUAL) fires,
    ``located``: a single O word located by the signatures)."""
    from .faults.outcomes import TOLERANCE_ULP, bf16_errors
    enc = abft.encode(q, k, v, block_q=shape.block_q, shift=shape.shift)
    golden = head_trace(shape, q, k, v, lanes=lanes)
    if check_head(shape, enc, golden)["causes"]:
        raise AssertionError("the fault-free head fails a check")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        stage = stages[rng.integers(len(stages))]
        fault = ModelFault(stage, int(rng.integers(shape.tiles)), int(rng.integers(1 << 30)),
                           int(rng.integers(_stage_width(stage))), int(rng.integers(2)))
        trace = head_trace(shape, q, k, v, lanes=lanes, faults=[fault], golden=golden)
        verdict = check_head(shape, enc, trace)
        _, ulp = bf16_errors(golden.o, trace.o)
        outcome = ("masked" if ulp == 0 else
                   "sdc-tolerable" if ulp <= TOLERANCE_ULP else "sdc-critical")
        out.append(dict(stage=stage, tile=fault.tile, index=fault.index, bit=fault.bit,
                        run=fault.run,
                        outcome=outcome, causes=verdict["causes"],
                        output_only=bool(verdict["causes"]
                                         & (1 << abft.CAUSES.index("O_RESIDUAL"))),
                        located=verdict["located"] is not None))
        if progress:
            progress()
    return out
