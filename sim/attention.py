"""An attention head on the accelerated cluster: O = softmax(Q K^T / sqrt(d)) V, tiled.

``firmware/apps/attention.c`` runs it (the data flow is described there); this module is its
other half: the problem (:class:`AttentionShape`: sequence length, head dimension, tile sizes,
strides that satisfy every accelerator's alignment rule), the inputs, the firmware build, the
run, and the bit-exact golden model of everything the firmware writes, made of the blocks'
golden models in the firmware's order (``sim.golden.gemm`` per tensor job,
``sim.golden.softmax.softmax_jobs`` per SoftEx job with its slot state, the rows of a tile
together, ``sim.offload.sw_softmax`` for the software softmax). Errors against float64
attention are reported, not asserted.

Used by ``tests/cluster/test_attention_verilator.py``, ``scripts/sim.py`` (``make sim``: the
demo on the default configuration) and ``scripts/bench_cluster.py``.
"""

from dataclasses import dataclass

import numpy as np

from flows.elf import load_elf
from hw.cluster.system import port_align
from hw.config import get_config
from hw.params import check_int
from hw.tensor.regmap import TensorOp

from .golden.abft import scale_identity
from .golden.gemm import gemm
from .golden.softmax import NEG_INF, bf16_to_float, float_to_bf16, lane_offset, softmax_jobs
from .offload import ALIGN, SW_LIB, build_app, padded, run_program, sw_softmax
from .sw_gemm import SW_GEMM_SOURCE

__all__ = ["AttentionShape", "attention_inputs", "scaled_identity", "golden_attention",
           "softex_tile", "build_attention", "run_attention", "float64_attention", "STAGES",
           "errors_vs_float64", "buffer_align_for", "DEMO_SHAPES", "demo_shape", "abft_arrays",
           "abft_summary", "ABFT_RESULT", "ABFT_RESULT_BYTES", "attention_mask", "mask_bits",
           "mask_words", "o_digest"]

STAGES = ("scale", "qk", "softmax", "pv")


@dataclass(frozen=True)
class AttentionShape:
    """``seq`` x ``head_dim`` head, query tiles of ``block_q`` rows, key chunks of ``block_k``.

    The scores are scaled by 2^-shift: ``head_dim`` a power of 4 gives shift = log4(d), so that
    1/sqrt(d) is exact; any other ``head_dim`` needs ``score_shift`` given (the host scales Q by
    the rest of 1/sqrt(d) beforehand, :mod:`api`). ``block_k`` divides ``seq``
    and ``2 * block_k`` is a multiple of ``align`` so that every chunk pointer keeps the
    buffers' alignment. ``align`` (bytes, strides and chunk pointers): default
    sim.offload.ALIGN, valid on every named configuration (the tensor unit's beat and the
    SoftEx lanes); :func:`buffer_align_for` gives the smaller one of a single configuration.
    """

    seq: int
    head_dim: int
    block_q: int
    block_k: int
    align: int = ALIGN
    score_shift: int | None = None

    def __post_init__(self):
        check_int("seq", self.seq, min=1, max=4096)
        check_int("head_dim", self.head_dim, min=1, max=1024)
        if self.score_shift is not None:
            check_int("score_shift", self.score_shift, min=0, max=63)
        elif self.head_dim & (self.head_dim - 1) or (self.head_dim.bit_length() - 1) % 2:
            raise ValueError(f"head_dim must be a power of 4 (1, 4, 16, 64, ...) unless "
                             f"score_shift is given, got {self.head_dim}")
        check_int("block_q", self.block_q, min=1, max=self.seq)
        check_int("block_k", self.block_k, min=1, max=self.seq)
        check_int("align", self.align, min=2, max=4096)
        if self.seq % self.block_k or (2 * self.block_k) % self.align:
            raise ValueError(f"block_k must divide seq ({self.seq}) and be a multiple of "
                             f"{max(1, self.align // 2)}, got {self.block_k}")

    @property
    def shift(self):
        if self.score_shift is not None:
            return self.score_shift
        return (self.head_dim.bit_length() - 1) // 2

    @property
    def strides(self):
        """Byte strides: Q, K^T, V, O and the score / probability tile buffers."""
        def stride_for(cols):
            return -(-2 * cols // self.align) * self.align
        d, s = stride_for(self.head_dim), stride_for(self.seq)
        return dict(QS=d, KTS=s, VS=d, OS=d, SS=s)

    def defines(self, gemm_sw=False, softmax_sw=False, pipeline=False, abft=False,
                abft_correct=True, perop=False):
        return dict(SEQ=self.seq, HD=self.head_dim, BQ=self.block_q, BK=self.block_k,
                    SHIFT=self.shift, GEMM_SW=int(gemm_sw), SOFTMAX_SW=int(softmax_sw),
                    PIPELINE=int(pipeline), ABFT=int(abft), ABFT_CORRECT=int(abft_correct),
                    PEROP=int(perop), CHKS=self.check_stride, **self.strides)

    @property
    def check_stride(self):
        """Byte stride of the per-operation checksum operands and results (two columns)."""
        return -(-4 // self.align) * self.align

    @property
    def tiles(self):
        return -(-self.seq // self.block_q)

    def scratchpad_bytes(self, pipeline=False, abft=False, perop=False, bitmap=False):
        """Bytes of the buffers (``bitmap``: an explicit mask's bits, :func:`mask_bits`;
        ``pipeline``: score and probability buffers doubled;
        ``abft``: doubled too, plus SoftEx run B's probabilities and the checker's descriptor,
        checksum vectors, Q sums and report; ``perop``: run B's probabilities, the checksum
        operands and results, the tolerances)."""
        st = self.strides
        doubled = pipeline or abft
        checker = 0
        if abft:
            from hw.abft.layout import DESCRIPTOR, REPORT, TILE_REPORT
            checker = (2 * self.block_q * st["SS"]
                       + 4 * (len(DESCRIPTOR) + self.head_dim + self.seq + self.tiles
                              + len(REPORT) + len(TILE_REPORT) * self.tiles) + 5 * self.align)
        if perop:
            checker = (self.block_q * st["SS"]
                       + (2 * self.head_dim + 2 * self.seq + 2 * self.block_q)
                       * self.check_stride
                       + 8 * self.seq + 4 * len(ABFT_RESULT) + 6 * self.align)
        if bitmap:
            checker += 2 * self.seq * mask_words(self.seq) + self.align
        return (self.seq * (st["QS"] + st["VS"] + st["OS"]) + self.head_dim * st["KTS"]
                + 2 * (1 + doubled) * self.block_q * st["SS"] + 8 * self.block_q
                + (self.head_dim + self.block_q) * st["QS"] + checker)


def buffer_align_for(params):
    """Alignment (bytes) of the accelerator buffers of one AcceleratedCluster (its ``params``)."""
    return port_align(params["tensor"], params["softex"])


#: Heads the attention demo can run, smallest first, as (seq, head_dim, block_q, block_k).
#: :func:`demo_shape` takes the largest one that fits a configuration's cluster.
DEMO_SHAPES = ((32, 4, 12, 16), (128, 16, 16, 64), (256, 64, 32, 128))

#: Stack bytes per core that the attention program needs beside its buffers.
STACK_BYTES = 2048


def demo_shape(config, *, pipeline=True):
    """The attention head of ``make sim`` on ``config`` (a Config or its name): the largest of
    :data:`DEMO_SHAPES` whose buffers (query tiles pipelined when ``pipeline``) and the cores'
    stacks fit its scratchpad, with strides aligned to its accelerators' ports. ValueError
    when even the smallest does not fit."""
    config = get_config(config)
    align = port_align(config.tensor.to_dict(), config.softex.to_dict())
    room = 1024 * config.cluster.scratchpad_kib - STACK_BYTES * config.cluster.cores
    fitting = []
    for seq, head_dim, block_q, block_k in DEMO_SHAPES:
        if (2 * block_k) % align:
            continue
        shape = AttentionShape(seq, head_dim, block_q, block_k, align=align)
        if shape.scratchpad_bytes(pipeline) <= room:
            fitting.append(shape)
    if not fitting:
        raise ValueError(f"configuration {config.name}: no attention head of {DEMO_SHAPES} fits "
                         f"{config.cluster.scratchpad_kib} KiB of scratchpad with "
                         f"{config.cluster.cores} stacks of {STACK_BYTES} bytes and "
                         f"{align}-byte strides")
    return fitting[-1]


def attention_inputs(shape, seed=7):
    """Q, K, V (BF16 patterns, seq x head_dim) of normal(0, 1) values."""
    rng = np.random.default_rng(seed)

    def mat():
        v = rng.normal(0, 1, shape.seq * shape.head_dim)
        return np.asarray(float_to_bf16(v), dtype=np.uint16).reshape(shape.seq, shape.head_dim)
    return mat(), mat(), mat()


def scaled_identity(shape):
    """The HD x HD matrix 2^-shift I the firmware multiplies Q by (BF16 patterns)."""
    return scale_identity(shape.head_dim, shape.shift)


def mask_words(seq):
    """16-bit words of one query's row of an explicit mask (attention.c's MW)."""
    return -(-seq // 16)


def attention_mask(seq, mask):
    """``(MASK define, attend)`` of a mask argument: None (0, None), ``"causal"`` (1, the
    lower triangle) or a ``seq`` x ``seq`` boolean array, True where query i attends to key j
    (2, the array). ValueError for anything else."""
    if mask is None:
        return 0, None
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"mask must be None, 'causal' or a boolean array, got {mask!r}")
        return 1, np.tril(np.ones((seq, seq), dtype=bool))
    attend = np.asarray(mask)
    if attend.dtype != bool or attend.shape != (seq, seq):
        raise ValueError(f"mask must be a boolean array of shape ({seq}, {seq}) (True: the "
                         f"query attends to the key), got {attend.dtype} {attend.shape}")
    return 2, attend


def mask_bits(attend):
    """attention.c's ``mask_bits`` of a boolean ``attend`` array: per query row
    :func:`mask_words` words, bit j % 16 of word j / 16 set when key j is masked."""
    seq = attend.shape[1]
    masked = np.zeros((attend.shape[0], 16 * mask_words(seq)), dtype=np.uint16)
    masked[:, :seq] = ~attend
    weights = (np.uint16(1) << np.arange(16, dtype=np.uint16))
    return (masked.reshape(len(attend), -1, 16) * weights).sum(axis=2, dtype=np.uint16)


def golden_attention(shape, q, k, v, *, lanes, softex=True, sbuf_addr=0, tiles=None,
                     pipeline=False, mask=None):
    """Bit-exact outputs of attention.c: dict(o=O, s=scores of the last tile, p=probabilities
    of the last tile run). ``tiles``: only the first query tiles (rows of O past them stay 0).
    ``mask``: :func:`attention_mask`'s argument (masked scores are -inf before the softmax).
    ``softex``: SoftEx jobs (``lanes``, buffers at ``sbuf_addr`` for the
    lane offsets; ``pipeline``: tile t in half t % 2 of the doubled buffers) or the software
    softmax. The GEMMs are the tensor unit's (the software GEMM is bit-identical to it)."""
    _, attend = attention_mask(shape.seq, mask)
    ident = scaled_identity(shape)
    kt = np.ascontiguousarray(np.asarray(k, dtype=np.uint16).T)
    n, bq, bk = shape.seq, shape.block_q, shape.block_k
    nch, stride = n // bk, shape.strides["SS"]
    o = np.zeros((n, shape.head_dim), dtype=np.uint16)
    s = p = None
    for q0 in range(0, min(n, (tiles or n) * bq), bq):
        rows = min(bq, n - q0)
        base = sbuf_addr + (q0 // bq % 2 if pipeline else 0) * bq * stride
        qs = gemm(q[q0:q0 + rows], ident, op=TensorOp.MATMUL)
        s = np.concatenate([gemm(qs, kt[:, c * bk:(c + 1) * bk], op=TensorOp.MATMUL)
                            for c in range(nch)], axis=1)
        if attend is not None:
            s[~attend[q0:q0 + rows]] = NEG_INF
        if softex:
            # lane offsets of every row's chunks: strides keep the buffers' alignment, so
            # normally the same for every row (one batched job per chunk for the tile)
            offsets = [tuple(lane_offset(base + r * stride + 2 * c * bk, lanes)
                             for c in range(nch)) for r in range(rows)]
            p = softex_tile(s, offsets, bk=bk, lanes=lanes)
        else:
            p = np.zeros_like(s)
            for r in range(rows):
                p[r] = sw_softmax(s[r])
        o[q0:q0 + rows] = gemm(p, np.asarray(v, dtype=np.uint16), op=TensorOp.MATMUL)
    return dict(o=o, s=s, p=p)


def _state_words(state):
    m, d = (np.asarray(x).astype(np.uint64) for x in state)
    return np.stack([m, d & 0xFFFF, d >> 16], axis=1).astype(np.uint16)


def _slot_state(words):
    w = np.asarray(words, np.uint32)
    return w[:, 0].astype(np.uint16), (w[:, 1] | w[:, 2] << 16).astype(np.uint32)


def softex_tile(s, offsets, *, bk, lanes, slot_words=None):
    """Probabilities of the score rows ``s`` (rows x seq) through SoftEx jobs as attention.c
    issues them: a row of one chunk (``bk`` = seq) in one ACC | DIV job; otherwise per chunk c
    ACC | SAVE (| LOAD from the second on), ACC | DIV on the last, then DIV | LOAD on the
    others. ``offsets[r][c]``: the lane of the first element of chunk c of row r. Rows with the
    same offsets go through each job together (``softmax_jobs``), bit for bit what one
    ``softmax_job`` per row gives. ``slot_words``: called after every SAVE with the state
    slots' words (rows x 3: max, denominator low and high halves), returns what the next job
    LOADs (a fault in the scratchpad between two jobs)."""
    s = np.asarray(s, dtype=np.uint16)
    p = np.zeros_like(s)
    groups = {}
    for r, row_offsets in enumerate(offsets):
        groups.setdefault(tuple(row_offsets), []).append(r)
    nch = s.shape[1] // bk
    for off, rows in groups.items():
        scores = s[rows]
        chunks = [scores[:, c * bk:(c + 1) * bk] for c in range(nch)]
        if nch == 1:
            p[rows] = softmax_jobs(chunks[0], lanes=lanes, offset=off[0])["y"]
            continue
        probs = np.zeros_like(scores)
        state = None
        for c in range(nch):                       # ACC + SAVE (+LOAD) (+DIV on the last)
            job = softmax_jobs(chunks[c], lanes=lanes, offset=off[c], state=state,
                               div=c == nch - 1)
            state = (job["m"], job["D"])
            if slot_words is not None:
                state = _slot_state(slot_words(_state_words(state)))
        probs[:, (nch - 1) * bk:] = job["y"]
        for c in range(nch - 1):                   # DIV + LOAD
            probs[:, c * bk:(c + 1) * bk] = softmax_jobs(chunks[c], lanes=lanes, offset=off[c],
                                                         acc=False, state=state)["y"]
        p[rows] = probs
    return p


def float64_attention(shape, q, k, v):
    """softmax(Q K^T / sqrt(d)) V in float64 from the BF16 inputs (no rounding anywhere)."""
    qf, kf, vf = (bf16_to_float(x) for x in (q, k, v))
    s = qf @ kf.T / np.sqrt(shape.head_dim)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)) @ vf


def errors_vs_float64(shape, q, k, v, o):
    """Max and mean absolute error of O (BF16) against float64 attention, and the error of
    float64 attention rounded once to BF16 (the floor for any BF16 output)."""
    ref = float64_attention(shape, q, k, v)
    err = np.abs(bf16_to_float(o) - ref)
    floor = np.abs(bf16_to_float(np.asarray(float_to_bf16(ref.ravel()), dtype=np.uint16))
                   .reshape(ref.shape) - ref)
    return dict(max_abs=float(err.max()), mean_abs=float(err.mean()),
                bf16_floor_max_abs=float(floor.max()), bf16_floor_mean_abs=float(floor.mean()))


def _words16(words):
    """32-bit words as the little-endian uint16 pairs of a data file."""
    w = np.asarray([int(x) & 0xFFFF_FFFF for x in words], dtype=np.uint64)
    return np.stack([w & 0xFFFF, w >> 16], axis=1).astype(np.uint16).ravel()


def abft_arrays(shape, q, k, v):
    """The checker's preloaded arrays (descriptor numbers, kbar, vbar, Q sums) and the report's
    size, as data-file arrays; the firmware writes the descriptor's buffer addresses."""
    from hw.abft.layout import DESCRIPTOR
    from .abft import descriptor, qsum_words, report_words
    from .golden.abft import encode
    enc = encode(q, k, v, block_q=shape.block_q, shift=shape.shift)
    desc = descriptor(shape, enc, {name: 0 for name in (
        "qs", "s", "p", "pb", "o", "kbar", "vbar", "qsum", "report")})
    assert len(desc) == len(DESCRIPTOR)
    return {"abft_desc": _words16(desc), "abft_kbar": _words16(enc.kbar),
            "abft_vbar": _words16(enc.vbar), "abft_qsum": _words16(qsum_words(enc)),
            "abft_report": 2 * report_words(shape.tiles)}


def perop_arrays(shape, q, k, v):
    """The per-operation protection's preloaded arrays (sim.perop: the checksum operands, the
    tolerances, run B's buffer, the checksum results' buffer) and its defines."""
    from .perop import ones_operand, perop_encode
    enc = perop_encode(q, k, v, shift=shape.shift)
    cs = shape.check_stride
    arrays = {"pid_chk": padded(enc.id_chk, cs), "pk_chk": padded(enc.kt_chk, cs),
              "pv_chk": padded(enc.v_chk, cs),
              "ones": padded(ones_operand(max(shape.seq, shape.head_dim)), cs),
              "chk_buf": shape.block_q * cs // 2, "sum_buf": shape.block_q * cs // 2,
              "perop_tol_q": _words16(enc.tol_q), "perop_tol_s": _words16(enc.tol_s),
              "pbb": shape.block_q * shape.strides["SS"] // 2,
              "abft_result": np.zeros(2 * len(ABFT_RESULT), np.uint16)}
    defines = dict(PEROP_FQ=enc.frac_q, PEROP_FS=enc.frac_s, PEROP_FO=enc.frac_o,
                   PEROP_TOL_O=enc.tol_o)
    return arrays, defines


def build_attention(shape, q, k, v, *, gemm_sw=False, softmax_sw=False, tiles=None,
                    pipeline=False, abft=False, abft_correct=True, abft_encoded=None,
                    abft_plant=None, perop=False, mask=None, report=True, digest=False):
    """ELF of attention.c with the inputs preloaded into the scratchpad (``digest``: print O's
    Fletcher-32 last, :func:`o_digest`, for a host that sees only the text; ``report``: print the
    stage cycles; False leaves the text out, about 6,000 core cycles, and a host reads them as
    ``stage_cycles`` and ``head_cycles``; ``mask``:
    :func:`attention_mask`'s argument; ``abft``: for a
    cluster with the Flash-ABFT checker, ``abft_correct``: repair failed checks; ``perop``:
    per-operation protection instead (serial tiles, no checker; :mod:`sim.perop`);
    ``abft_encoded``: the (q, k, v) the checksums are made from, when the preloaded inputs
    are meant to differ from them (a corrupted input); ``abft_plant``: (row, col, bit) of an
    O word the firmware flips before VERIFY)."""
    st = shape.strides
    kt = np.ascontiguousarray(np.asarray(k, dtype=np.uint16).T)
    tile_buf = (1 + (pipeline or abft)) * shape.block_q * st["SS"] // 2
    arrays = {"q": padded(q, st["QS"]), "kt": padded(kt, st["KTS"]), "v": padded(v, st["VS"]),
              "o": shape.seq * st["OS"] // 2, "sbuf": tile_buf, "pbuf": tile_buf,
              "slots": 4 * shape.block_q,
              "ident": shape.head_dim * st["QS"] // 2, "qsbuf": shape.block_q * st["QS"] // 2}
    # Every buffer but the identity (zero off the diagonal) is written before it is read.
    noinit = ["o", "sbuf", "pbuf", "slots", "qsbuf"]
    if abft:
        arrays.update(pbb=tile_buf, **abft_arrays(shape, *(abft_encoded or (q, k, v))),
                      abft_result=np.zeros(2 * len(ABFT_RESULT), np.uint16))
        noinit += ["pbb", "abft_report"]
    libs = ([SW_GEMM_SOURCE] if gemm_sw else []) + (SW_LIB if softmax_sw else [])
    defines = shape.defines(gemm_sw, softmax_sw, pipeline, abft, abft_correct, perop)
    if perop:
        extra, perop_defines = perop_arrays(shape, *(abft_encoded or (q, k, v)))
        arrays.update(extra)
        defines.update(perop_defines)
        noinit += ["pbb", "chk_buf", "sum_buf"]
    if tiles is not None:
        defines["TILES"] = tiles
    kind, attend = attention_mask(shape.seq, mask)
    if kind:
        if abft or perop:
            raise ValueError("a mask is not checked by abft or perop (their checks see the "
                             "scores as the tensor unit wrote them)")
        defines["MASK"] = kind
    if kind == 2:
        arrays["mask_bits"] = mask_bits(attend)
    if not report:
        defines["STAGE_REPORT"] = 0
    if digest:
        defines["O_DIGEST"] = 1
    if abft_plant is not None:
        defines.update(ABFT_PLANT_ROW=abft_plant[0], ABFT_PLANT_COL=abft_plant[1],
                       ABFT_PLANT_BIT=abft_plant[2])
    return build_app("attention.c", arrays, defines, libs=libs, preload=True, noinit=noinit)


def o_digest(o):
    """Fletcher-32 of O (BF16 patterns, seq x head_dim) over its words row by row, as
    attention.c prints it with ``digest=True`` ("o fletcher32 <8 hex digits>")."""
    s1 = s2 = 0
    for word in np.asarray(o, dtype=np.uint16).ravel().tolist():
        s1 = (s1 + word) % 65535
        s2 = (s2 + s1) % 65535
    return (s2 << 16) | s1


#: The words of attention.c's ``abft_result`` (its outcome of the checker's verdicts).
ABFT_RESULT = ("causes", "corrected", "recomputed", "verdict", "cycles")
#: Bytes of ``abft_result`` (a run's dump).
ABFT_RESULT_BYTES = 4 * len(ABFT_RESULT)


def abft_summary(result_bytes):
    """dict(causes=mask of the first verdict, corrected=O words, recomputed=tiles, verdict=
    mask of the last verdict, cycles=the checker's (ARM, VERIFY, repairs)) from the bytes of
    ``abft_result``."""
    words = np.frombuffer(np.asarray(result_bytes, np.uint8).tobytes(), dtype="<u4")
    return {name: int(w) for name, w in zip(ABFT_RESULT, words)}


def run_attention(sim, params, shape, q, k, v, *, gemm_sw=False, softmax_sw=False, tiles=None,
                  pipeline=False, abft=False, abft_correct=True, abft_encoded=None,
                  abft_plant=None, perop=False, mask=None, check_exit=True,
                  max_cycles=20_000_000, report=True):
    """Build, run and read back: dict(run=SystemRun, elf=, o=, s=, p= (last tile), stages=
    {stage: cycles}, total=cycles, pipelined=whether the tiles overlapped). ``pipeline``:
    overlap the tensor unit (core 1) and SoftEx (core 0) across tiles when the cluster has 2 or
    more cores (both accelerators only). ``abft``: the cluster has the Flash-ABFT checker and
    the firmware uses it (``abft`` in the result: :func:`abft_summary`; the checker's cycles
    are added to ``total`` and are ``stages["abft"]``; ``abft_encoded``, ``abft_plant``:
    :func:`build_attention`). ``perop``: per-operation protection instead (serial tiles; its
    outcome is ``abft`` as well, the cores' repair cycles ``stages["abft"]``). ``mask``:
    :func:`attention_mask`'s argument (the masking is part of the qk stage). ``check_exit``:
    raise on a non-zero exit code (else it is ``exit_code`` in the result). The stage cycles
    are read back from memory (``stage_cycles``, ``head_cycles``); ``report``: the firmware
    also prints them (:func:`build_attention`)."""
    if pipeline and (gemm_sw or softmax_sw):
        raise ValueError("pipeline overlaps the two accelerators: not with gemm_sw or softmax_sw")
    if perop and (abft or pipeline or gemm_sw or softmax_sw):
        raise ValueError("perop checks the accelerators' jobs in serial tiles: not with abft, "
                         "pipeline, gemm_sw or softmax_sw")
    need = shape.scratchpad_bytes(pipeline, abft, perop, attention_mask(shape.seq, mask)[0] == 2)
    if need + STACK_BYTES * params["cores"] > params["scratchpad_kib"] * 1024:
        raise ValueError(f"attention {shape} needs {need} bytes of scratchpad "
                         f"plus stacks; the cluster has {params['scratchpad_kib']} KiB")
    st = shape.strides
    elf = build_attention(shape, q, k, v, gemm_sw=gemm_sw, softmax_sw=softmax_sw, tiles=tiles,
                          pipeline=pipeline, abft=abft, abft_correct=abft_correct,
                          abft_encoded=abft_encoded, abft_plant=abft_plant, perop=perop,
                          mask=mask, report=report)
    pipelined = pipeline and params["cores"] >= 2
    last = min(shape.tiles, tiles or shape.tiles) - 1                         # last tile run
    tile = min(shape.block_q, shape.seq - last * shape.block_q)              # its rows
    skip = (last % 2 if pipelined or abft else 0) * shape.block_q * st["SS"]  # its buffer half
    dump = {"o": shape.seq * st["OS"], "sbuf": skip + tile * st["SS"],
            "pbuf": skip + tile * st["SS"], "stage_cycles": 4 * len(STAGES), "head_cycles": 4}
    if abft or perop:
        dump["abft_result"] = ABFT_RESULT_BYTES
    r = run_program(sim, params, elf, dump, max_cycles=max_cycles)
    if check_exit and r["exit_code"] != 0:
        raise RuntimeError(f"attention exited with {r['exit_code']!r}: {r['output']!r}")
    stages = dict(zip(STAGES, (int(c) for c in r.array("stage_cycles", np.uint32))))
    total = int(r.array("head_cycles", np.uint32)[0])
    summary = None
    if abft or perop:
        summary = abft_summary(r.array("abft_result", np.uint8))
        stages["abft"] = summary["cycles"]
        total += summary["cycles"]

    def unpad(name, rows, cols, stride, skip=0):
        return r.array(name)[skip // 2:].reshape(rows, stride // 2)[:, :cols]
    return dict(run=r, elf=elf, sbuf_addr=load_elf(elf).symbols["sbuf"], stages=stages,
                total=total, pipelined=pipelined, abft=summary, exit_code=r["exit_code"],
                o=unpad("o", shape.seq, shape.head_dim, st["OS"]),
                s=unpad("sbuf", tile, shape.seq, st["SS"], skip),
                p=unpad("pbuf", tile, shape.seq, st["SS"], skip))
