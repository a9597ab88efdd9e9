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

from hw.abft.layout import SCORE_READS
from hw.fp.format import BF16, FP32
from hw.tensor.regmap import TensorOp

from .attention import AttentionShape, scaled_identity, softex_tile
from .golden import abft, fp
from .golden.gemm import gemm
from .golden.softmax import float_to_bf16, lane_offset

__all__ = ["STAGES", "ModelFault", "HeadTrace", "head_trace", "check_head", "random_head",
           "model_campaign",
           "descriptor", "gemm_descriptor", "qsum_words", "report_words", "parse_report", "SCORE_READS",
           "consumer_verdict", "blocks_verdict",
           "HEAD_KINDS"]

#: Where a model fault lands, in data-flow order, and what it stands for.
STAGES = {
    "q": "an element of Q in the scratchpad, before the tile's scale job reads it",
    "qs32": "an accumulator of the scale job (tensor datapath)",
    "qs": "a word of Qs in the scratchpad, between the scale and qk jobs",
    "k": ("an element of K^T in the scratchpad, before the tile's qk jobs read it (and later "
          "tiles')"),
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
    if not faults and golden is None:
        return _fault_free_trace(shape, q, k, v, lanes=lanes, sbuf_addr=sbuf_addr,
                                 pipeline=pipeline)
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


def _fault_free_trace(shape, q, k, v, *, lanes, sbuf_addr, pipeline):
    """:func:`head_trace` without faults, every job of all tiles at once (query rows are
    independent in every job, so the tiles' arrays are slices of the head's: bit for bit the
    tile-by-tile trace, several times faster)."""
    n, bq, bk = shape.seq, shape.block_q, shape.block_k
    nch, stride = n // bk, shape.strides["SS"]
    kt = np.ascontiguousarray(np.asarray(k, dtype=np.uint16).T)
    qs32 = gemm(np.asarray(q, np.uint16), scaled_identity(shape), unrounded=True)
    qs = fp.convert(qs32, FP32, BF16)
    s32 = np.concatenate([gemm(qs, kt[:, c * bk:(c + 1) * bk], unrounded=True)
                          for c in range(nch)], axis=1)
    s_read = fp.convert(s32, FP32, BF16)
    offsets = []
    for r in range(n):
        base = sbuf_addr + ((r // bq) % 2 if pipeline else 0) * bq * stride
        offsets.append([lane_offset(base + (r % bq) * stride + 2 * c * bk, lanes)
                        for c in range(nch)])
    p = softex_tile(s_read, offsets, bk=bk, lanes=lanes)
    o32 = gemm(p, np.asarray(v, np.uint16), unrounded=True)
    tiles = [dict(row0=r0, qs32=qs32[r0:r0 + bq], s32=s32[r0:r0 + bq],
                  s_read=s_read[r0:r0 + bq], p=p[r0:r0 + bq], p_repeat=p[r0:r0 + bq],
                  o32=o32[r0:r0 + bq]) for r0 in range(0, n, bq)]
    return HeadTrace(o=fp.convert(o32, FP32, BF16), tiles=tiles)


def _softmax_tile(s, lanes, base, stride, nch, bk, corrupt_state):
    """SoftEx on a tile's scores as attention.c runs it (:func:`sim.attention.softex_tile`);
    ``corrupt_state`` may change the (rows x 3) slot words (m, D low, D high) after every SAVE
    (a fault in the slots between two jobs)."""
    rows = s.shape[0]
    offsets = [[lane_offset(base + r * stride + 2 * c * bk, lanes) for c in range(nch)]
               for r in range(rows)]
    # With one row per group the hook's rows are the tile's (rows sharing offsets run
    # together; attention.c's strides keep every row on the same lanes).
    return softex_tile(s, offsets, bk=bk, lanes=lanes, slot_words=corrupt_state)


def check_head(shape, enc, trace):
    """The checker's verdict on a :class:`HeadTrace` (what VERIFY reports): dict(tiles=
    [TileCheck], causes=[per tile mask, with O_SIGNATURE when the tile's O rows read back
    differ from the words its pv job wrote], residuals=[per tile Signature of O read back minus
    written], head=OR of the tiles' masks, failed_tiles=[tile], located=[per tile (row of the
    head, col, delta) of a single corrupted O word, or None])."""
    checks = [abft.tile_check(enc, t, tr["row0"], tr["qs32"], tr["s32"], tr["p"], tr["o32"],
                              s_read=tr["s_read"], p_repeat=tr["p_repeat"])
              for t, tr in enumerate(trace.tiles)]
    causes, residuals, located = [], [], []
    for c, tr in zip(checks, trace.tiles):
        rows = tr["o32"].shape[0]
        got = abft.signature(trace.o[tr["row0"]:tr["row0"] + rows])
        res = got - c.o_signature
        mask = c.causes
        where = None
        if res != abft.Signature(0, 0, 0):
            mask |= 1 << abft.CAUSES.index("O_SIGNATURE")
            where = abft.locate(c.o_signature, got, rows, shape.head_dim)
            if where is not None:
                where = (tr["row0"] + where[0], where[1], where[2])
        causes.append(mask)
        residuals.append(res)
        located.append(where)
    head = 0
    for mask in causes:
        head |= mask
    return dict(tiles=checks, causes=causes, residuals=residuals, head=head,
                failed_tiles=[t for t, mask in enumerate(causes) if mask], located=located)


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
    if check_head(shape, enc, golden)["head"]:
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
                        outcome=outcome, causes=verdict["head"],
                        output_only=bool(verdict["head"]
                                         & (1 << abft.CAUSES.index("O_RESIDUAL"))),
                        located=any(x is not None for x in verdict["located"])))
        if progress:
            progress()
    return out


def _log2_exact(name, value):
    if value <= 0 or value & (value - 1):
        raise ValueError(f"{name} must be a power of two for the checker, got {value}")
    return value.bit_length() - 1




def descriptor(shape, enc, addrs):
    """The checker's descriptor words for head ``shape`` with :class:`~sim.golden.abft.Encoding`
    ``enc``; ``addrs``: byte addresses of ``qs``, ``s``, ``p``, ``pb``, ``o``, ``kbar``,
    ``vbar``, ``qsum``, ``report`` (hw.abft.layout.DESCRIPTOR)."""
    from hw.abft.layout import DESCRIPTOR
    st = shape.strides
    log2_ss = _log2_exact("the score row stride", st["SS"])
    log2_os = _log2_exact("the O row stride", st["OS"])
    from hw.abft.layout import FRAC_FIELD
    field = (1 << FRAC_FIELD) - 1
    values = {
        "SEQ_DIM": shape.seq | shape.head_dim << 16,
        "ROWS_TILES": shape.block_q | shape.tiles << 16,
        "SHIFTS": log2_ss | log2_os << 4 | (SCORE_READS.bit_length() - 1) << 8,
        "FRACS": (enc.frac_s & field) | (enc.frac_qa & field) << FRAC_FIELD
        | (enc.frac_o & field) << 2 * FRAC_FIELD,
        "TAU_S": enc.tau_s, "TAU_P": enc.tau_p, "TAU_O": enc.tau_o,
        "QS_ADDR": addrs["qs"], "S_ADDR": addrs["s"], "HALF": shape.block_q * st["SS"],
        "P_ADDR": addrs["p"], "PB_ADDR": addrs["pb"], "O_ADDR": addrs["o"],
        "KBAR_ADDR": addrs["kbar"], "VBAR_ADDR": addrs["vbar"], "QSUM_ADDR": addrs["qsum"],
        "REPORT_ADDR": addrs["report"],
    }
    return [values[name] for name, _ in DESCRIPTOR]


def gemm_descriptor(m, n, enc, addrs, z_stride):
    """The checker's descriptor words for a checked GEMM job (ARM_GEMM, hw.abft.layout
    GEMM_DESCRIPTOR): ``m`` x ``n`` output with :class:`~sim.golden.abft_gemm.GemmEncoding`
    ``enc``; ``addrs``: byte addresses of ``z``, ``refs`` (its
    :meth:`~sim.golden.abft_gemm.GemmEncoding.reference_words`) and ``report``; ``z_stride``:
    Z's row stride in bytes (a power of two). The words the GEMM mode does not read are 0."""
    from hw.abft.layout import DESCRIPTOR, FRAC_FIELD, GEMM_DESCRIPTOR
    values = {
        "SEQ_DIM": m | n << 16, "ROWS_TILES": m | 1 << 16,
        "SHIFTS": _log2_exact("Z's row stride", z_stride) << 4,
        "FRACS": enc.frac & ((1 << FRAC_FIELD) - 1), "TAU_S": enc.tau,
        "O_ADDR": addrs["z"], "KBAR_ADDR": addrs["refs"], "REPORT_ADDR": addrs["report"],
    }
    assert set(values) == {name for name, _ in GEMM_DESCRIPTOR}
    return [values.get(name, 0) for name, _ in DESCRIPTOR]


def qsum_words(enc):
    """The encoded Q word sums as words: one per tile."""
    return [int(x) for x in enc.qsum]


def report_words(tiles):
    """Words of the checker's report for ``tiles`` query tiles."""
    from hw.abft.layout import REPORT, TILE_REPORT
    return len(REPORT) + len(TILE_REPORT) * tiles


def parse_report(words, tiles):
    """The checker's report (32-bit words) as dict(causes, closes, tiles=[dict(causes,
    written=Signature, residual=Signature)])."""
    from hw.abft.layout import report_word, tile_word

    words = [int(w) for w in words]

    def signed(x):
        return abft.wrap(x, 32)
    out = dict(causes=words[report_word("CAUSES")], closes=words[report_word("CLOSES")], tiles=[])
    for t in range(tiles):
        def w(name):
            return words[tile_word(t, name)]
        out["tiles"].append(dict(
            causes=w("CAUSES"),
            written=abft.Signature(w("SIG_PLAIN"), w("SIG_ROW"), w("SIG_COL")),
            residual=abft.Signature(signed(w("RES_PLAIN")), signed(w("RES_ROW")),
                                    signed(w("RES_COL")))))
    return out


def consumer_verdict(shape, words, o):
    """The head as its consumer (the host, or the next layer) should take it: 0 when the
    checker's report (32-bit ``words``, written by the unit) says the head was verified clean
    (CAUSES 0, every tile closed) and every tile's O rows ``o`` (seq x head_dim BF16, as the
    consumer reads them) have the word sums the unit recorded when the tile closed; else the
    mask of what failed (``CAUSES`` bits: O_SIGNATURE for the sums, INCOMPLETE for a report
    that was never completed, the report's own CAUSES otherwise). The firmware takes no part:
    a fault that makes it skip VERIFY, ignore a verdict or miscorrect, or a fault in O after
    VERIFY read it back, is caught here."""
    o = np.asarray(o, np.uint16)
    return blocks_verdict(words, [o[r0:r0 + shape.block_q]
                                  for r0 in range(0, shape.seq, shape.block_q)])


def blocks_verdict(words, blocks):
    """:func:`consumer_verdict` for a report of ``len(blocks)`` tiles whose outputs are
    ``blocks`` (BF16 arrays; a checked GEMM: one, Z)."""
    rep = parse_report(words, len(blocks))
    mask = rep["causes"]
    if rep["closes"] < len(blocks):
        mask |= 1 << abft.CAUSES.index("INCOMPLETE")
    for block, tile in zip(blocks, rep["tiles"]):
        if abft.signature(block) != tile["written"]:
            mask |= 1 << abft.CAUSES.index("O_SIGNATURE")
    return mask
