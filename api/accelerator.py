"""The user's entry point: :class:`Accelerator` (docs/api.md)."""

import math
from dataclasses import dataclass, field

import numpy as np

from hw.cluster.system import port_align
from hw.config import get_config
from hw.softex.regmap import LENGTH_BITS, ROWS_BITS
from hw.tensor.geometry import TensorGeometry
from hw.tensor.regmap import MAX_DIM as TENSOR_MAX_DIM, W_EXP_BITS, TensorOp
from sim.attention import STACK_BYTES, AttentionShape, attention_mask
from sim.golden.softmax import bf16_to_float

from .backends import BACKENDS, AcceleratorError
from .tensors import as_bits, from_bits

__all__ = ["Accelerator", "AcceleratorError", "Stats", "GEMM_OPS", "ACCUMULATORS",
           "SOFTMAX_MODES"]

#: ``gemm``'s operations: Z = Y (+)_k X[i,k] (x) W[k,j] (docs/tensor.md), by name.
GEMM_OPS = tuple(op.name.lower() for op in TensorOp if op != TensorOp.MATMUL)
#: Softmax engines: SoftEx's expp datapath, the table-based methods A and B
#: (docs/lut_softmax.md: 8-bit probabilities, written as BF16 y8 / 256).
SOFTMAX_MODES = ("expp", "lut_a", "lut_b")
#: The tensor unit's accumulation formats.
ACCUMULATORS = ("fp32", "bf16")


@dataclass
class Stats:
    """What an operation cost.

    Members
    -------
    op : str
    backend : str
    jobs : int
        Accelerator jobs (or firmware runs) the operation took.
    cycles : int or None
        Simulated cycles, trigger to done event, summed over the jobs (None: golden).
    stages : dict
        Cycles by stage: per block for block operations, the firmware's stages for attention.
    counters : dict
        The blocks' performance counters, summed over the jobs.
    seconds : float
        Wall-clock seconds of the simulation.
    plan : str
        How the operation was cut into jobs (attention: the tiling, :class:`AttentionShape`).
    """
    op: str
    backend: str
    jobs: int = 0
    cycles: int | None = None
    stages: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)
    seconds: float = 0.0
    plan: str = ""

    @property
    def cycles_per_second(self):
        """Simulated cycles per wall-clock second (None: golden)."""
        return self.cycles / self.seconds if self.cycles and self.seconds else None

    def add(self, stage, cost):
        self.jobs += 1
        if cost is None:
            return
        self.cycles = (self.cycles or 0) + cost.cycles
        self.seconds += cost.seconds
        for name, value in (cost.stages or {stage: cost.cycles}).items():
            self.stages[name] = self.stages.get(name, 0) + value
        for name, value in cost.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value

    def __str__(self):
        if self.cycles is None:
            return f"{self.op} on {self.backend}: {self.jobs} job(s), no cycles (golden models)"
        stages = ", ".join(f"{k} {v:,}" for k, v in self.stages.items())
        rate = self.cycles_per_second
        return (f"{self.op} on {self.backend}: {self.jobs} job(s), {self.cycles:,} cycles "
                f"({stages}); {self.seconds:.2f} s simulated"
                + (f", {rate:,.0f} cycles/s" if rate else ""))


def score_shift(head_dim):
    """The power of two the attention firmware scales the scores by, 2^-shift: the largest
    with 4^shift <= head_dim (exactly 1/sqrt(d) when head_dim is a power of 4)."""
    return (head_dim.bit_length() - 1) // 2


class Accelerator:
    """One configuration of the accelerator (hw/config.py), run on the RTL or on the golden
    models; numpy arrays in, numpy results and :class:`Stats` out.

    Every operation returns ``(result, stats)``. Inputs are floats (rounded once to BF16),
    ml_dtypes ``bfloat16`` or ``uint16`` BF16 bit patterns; results come back in the kind of
    the first input (float32 for floats). Both backends give the same bits; the RTL also gives
    cycles. Operations larger than one job of the hardware are split into jobs that fit its
    scratchpad (never through a reduction: the results are those of the whole operation).

    Parameters
    ----------
    config : str or Config
        ``tiny``, ``default``, ``large``, ``paper`` or a :class:`hw.config.Config`.
    backend : str
        ``"rtl"`` (Verilator; the first use of each block builds it, minutes, then cached in
        build/native) or ``"golden"``.
    stall : float
        RTL: the probability that the memory refuses a request in a cycle.
    seed : int
        RTL: the stalls' seed.

    Members
    -------
    config : Config
    backend : the backend object (:mod:`api.backends`)
    scratchpad_bytes : int
        The memory one job may use.
    """

    def __init__(self, config="default", backend="rtl", *, stall=0.0, seed=0):
        self.config = get_config(config)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if not 0.0 <= stall < 1.0:
            raise ValueError(f"stall must be in [0, 1), got {stall!r}")
        self.backend = (BACKENDS[backend](self.config, stall=stall, seed=seed)
                        if backend == "rtl" else BACKENDS[backend](self.config))
        self.scratchpad_bytes = 1024 * self.config.cluster.scratchpad_kib
        t = self.config.tensor
        self._tensor_beat = TensorGeometry(t.rows, t.cols, t.pipes).beat_bytes
        self._softex_beat = 2 * self.config.softex.lanes

    def close(self):
        """Release the simulators."""
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _stats(self, op):
        return Stats(op=op, backend=self.backend.name)

    @staticmethod
    def _stride(elements, beat):
        return -(-2 * elements // beat) * beat

    # -- SoftEx ------------------------------------------------------------------------------
    def softmax(self, x, *, mode="expp"):
        """Softmax along the last axis of ``x`` (any leading axes) on a SoftEx engine of the
        configuration's lanes: ``mode`` ``expp`` (SoftEx's datapath, docs/softmax.md) or
        ``lut_a`` / ``lut_b`` (the table methods, docs/lut_softmax.md). Rows of up to the
        scratchpad's size, as many rows per job as fit. -inf elements give 0, a row of -inf
        gives zeros; NaN and +inf as the engine's page says."""
        if mode not in SOFTMAX_MODES:
            raise ValueError(f"mode must be one of {', '.join(SOFTMAX_MODES)}, got {mode!r}")
        a = as_bits("x", x)
        n = a.shape[-1]
        rows = a.bits.reshape(-1, n)
        stride = self._stride(n, self._softex_beat)
        if n >= 1 << LENGTH_BITS or stride > self.scratchpad_bytes:
            limit = min((1 << LENGTH_BITS) - 1, self.scratchpad_bytes // 2)
            raise ValueError(f"x rows of {n} elements do not fit one SoftEx job: at most "
                             f"{limit} elements (the {self.scratchpad_bytes // 1024} KiB "
                             f"scratchpad of configuration {self.config.name})")
        per_job = min(self.scratchpad_bytes // stride, (1 << ROWS_BITS) - 1)
        stats, out = self._stats("softmax"), []
        for r0 in range(0, len(rows), per_job):
            y, cost = self.backend.softmax(rows[r0:r0 + per_job], mode)
            stats.add("softex", cost)
            out.append(y)
        return from_bits(np.concatenate(out).reshape(a.shape), a), stats

    def gelu(self, x):
        """GELU of every element of ``x`` (any shape), on SoftEx, in chunks of the
        scratchpad's size."""
        a = as_bits("x", x)
        flat = a.bits.ravel()
        chunk = min(self.scratchpad_bytes // 2 // self._softex_beat * self._softex_beat,
                    (1 << LENGTH_BITS) - 1)
        stats, out = self._stats("gelu"), []
        for i in range(0, flat.size, chunk):
            y, cost = self.backend.gelu(flat[i:i + chunk])
            stats.add("softex", cost)
            out.append(y)
        return from_bits(np.concatenate(out).reshape(a.shape), a), stats

    # -- tensor unit -------------------------------------------------------------------------
    def matmul(self, a, b, *, acc="fp32", w_exp=0):
        """``a @ b`` (M x K times K x N) on the tensor unit, accumulated in ``acc`` (``fp32``
        or ``bf16``, the tensor unit's two builds), rounded once to BF16. ``w_exp`` (COMMAND.
        W_EXP, -128..127): ``b`` is read as ``b * 2^w_exp``, e.g. weights stored scaled by
        ``2^-w_exp`` against bit flips, unscaled for free (docs/weight_scaling.md)."""
        return self._tensor("matmul", TensorOp.MATMUL, a, b, None, acc, w_exp)

    def gemm(self, a, b, c, *, op="gemm", acc="fp32", w_exp=0):
        """``op`` of the tensor unit: ``gemm`` is Z = A B + C; the others
        (``add_max``, ``mul_min``, ...) replace (x) and (+) (docs/tensor.md). ``w_exp`` as
        :meth:`matmul`'s."""
        if op not in GEMM_OPS:
            raise ValueError(f"op must be one of {', '.join(GEMM_OPS)}, got {op!r}")
        return self._tensor(op, TensorOp[op.upper()], a, b, c, acc, w_exp)

    def _tensor_plan(self, m, n, k, with_y):
        """Rows and columns of Z per job, so that X, W, Y and Z of a job fit the scratchpad
        (K is never split: each element is accumulated in one job)."""
        room, beat = self.scratchpad_bytes, self._tensor_beat
        sx = self._stride(k, beat)
        blk_n = min(n, TENSOR_MAX_DIM)
        while blk_n > 1 and k * self._stride(blk_n, beat) + (1 + with_y) * self._stride(
                blk_n, beat) + sx > room:
            blk_n = max(1, blk_n // 2)
        sn = self._stride(blk_n, beat)
        blk_m = min(m, TENSOR_MAX_DIM, (room - k * sn) // max(1, sx + (1 + with_y) * sn))
        if blk_m < 1:
            raise ValueError(f"K = {k} does not fit the tensor unit's memory: one row of X and "
                             f"a column of W need {sx + k * sn + (1 + with_y) * sn} bytes, the "
                             f"{room // 1024} KiB scratchpad of configuration "
                             f"{self.config.name} holds {room}")
        return blk_m, blk_n

    def _tensor(self, name, op, a, b, c, acc, w_exp):
        if acc not in ACCUMULATORS:
            raise ValueError(f"acc must be one of {', '.join(ACCUMULATORS)}, got {acc!r}")
        w_lo, w_hi = -(1 << (W_EXP_BITS - 1)), (1 << (W_EXP_BITS - 1)) - 1
        if not isinstance(w_exp, (int, np.integer)) or not w_lo <= w_exp <= w_hi:
            raise ValueError(f"w_exp must be an integer in {w_lo}..{w_hi}, got {w_exp!r}")
        x = as_bits("a", a, min_ndim=2, max_ndim=2)
        w = as_bits("b", b, min_ndim=2, max_ndim=2)
        (m, k), (k2, n) = x.shape, w.shape
        if k2 != k:
            raise ValueError(f"a is {m} x {k} but b is {k2} x {n}: b must have {k} rows")
        if k > TENSOR_MAX_DIM:
            raise ValueError(f"K = {k} is above the tensor unit's {TENSOR_MAX_DIM}")
        y = None
        if c is not None:
            y = as_bits("c", c, min_ndim=2, max_ndim=2)
            if y.shape != (m, n):
                raise ValueError(f"c must be {m} x {n} (the result's shape), got {y.shape}")
            y = y.bits
        blk_m, blk_n = self._tensor_plan(m, n, k, y is not None)
        stats = self._stats(name)
        z = np.zeros((m, n), np.uint16)
        for j0 in range(0, n, blk_n):
            for i0 in range(0, m, blk_m):
                part = (slice(i0, i0 + blk_m), slice(j0, j0 + blk_n))
                zb, cost = self.backend.tensor(op, x.bits[part[0]], w.bits[:, part[1]],
                                               None if y is None else y[part], acc,
                                               int(w_exp), w_columns=part[1])
                stats.add("tensor", cost)
                z[part] = zb
        return from_bits(z, x), stats

    # -- the cluster ---------------------------------------------------------------------------
    def attention_shape(self, seq, head_dim, *, bitmap=False):
        """The tiling the firmware runs a ``seq`` x ``head_dim`` head with on this
        configuration: key chunks of a power of two up to 128 keys that divide ``seq``, the
        largest query tiles (a power of two up to 32 rows) whose buffers (``bitmap``: and an
        explicit mask's bits) fit the scratchpad. ValueError naming the limit."""
        cfg = self.config
        align = self._align()
        if head_dim < 1:
            raise ValueError(f"head_dim must be at least 1, got {head_dim}")
        shift = score_shift(head_dim)
        exact = head_dim == 4 ** shift
        # key chunks: powers of two (the firmware's chunk pointers need no multiplication)
        chunks = [bk for bk in (128, 64, 32, 16, 8, 4, 2, 1)
                  if bk <= seq and seq % bk == 0 and (2 * bk) % align == 0]
        if not chunks:
            raise ValueError(f"seq = {seq} must be a multiple of {max(1, align // 2)} (key "
                             f"chunks keep the {align}-byte alignment of configuration "
                             f"{cfg.name}'s ports)")
        room = 1024 * cfg.cluster.scratchpad_kib - STACK_BYTES * cfg.cluster.cores
        for bq in (32, 16, 8, 4, 2, 1):       # powers of two: no multiplication routine
            if bq > seq:
                continue
            shape = AttentionShape(seq, head_dim, bq, chunks[0], align=align,
                                   score_shift=None if exact else shift)
            if shape.scratchpad_bytes(pipeline=True, bitmap=bitmap) <= room:
                return shape
        need = AttentionShape(seq, head_dim, 1, chunks[0], align=align,
                              score_shift=shift).scratchpad_bytes(True, bitmap=bitmap)
        raise ValueError(f"a {seq} x {head_dim} head needs at least {need} bytes of buffers; "
                         f"configuration {cfg.name} has {room} beside the cores' stacks")

    def attention(self, q, k, v, *, causal=False, mask=None):
        """One attention head, softmax(Q K^T / sqrt(d) + mask) V, Q, K, V of ``seq`` x
        ``head_dim`` (any; a power of 4 scales the scores exactly, any other ``head_dim`` has Q
        multiplied by 2^shift / sqrt(d) and rounded to BF16 first, the firmware scaling by
        2^-shift), as firmware on the configuration's cluster (firmware/apps/attention.c:
        query tiles pipelined over the cores, the tensor unit and SoftEx);
        :meth:`attention_shape` chooses the tiling (a ``seq`` the ports' alignment does not
        divide is padded, the padded keys masked). ``causal``: query i attends to keys
        0 .. i; ``mask``: a ``seq`` x ``seq`` boolean array instead, True where query i
        attends to key j (a query that attends to nothing gets a row of zeros). The cores set
        the masked scores to -inf (cycles in the qk stage)."""
        qb = as_bits("q", q, min_ndim=2, max_ndim=2)
        shift = score_shift(qb.shape[1])
        rest = 2.0 ** shift / math.sqrt(qb.shape[1])
        if rest != 1.0:
            # the firmware scales the scores by 2^-shift; Q takes the rest of 1/sqrt(d) here,
            # rounded once to BF16 (the same Q goes to both backends)
            qb.bits = as_bits("q", bf16_to_float(qb.bits) * rest).bits
        kb = as_bits("k", k, min_ndim=2, max_ndim=2)
        vb = as_bits("v", v, min_ndim=2, max_ndim=2)
        if not qb.shape == kb.shape == vb.shape:
            raise ValueError(f"q, k and v must have one shape (seq x head_dim), got "
                             f"{qb.shape}, {kb.shape}, {vb.shape}")
        if causal and mask is not None:
            raise ValueError("give causal=True or a mask, not both")
        mask = "causal" if causal else mask
        seq, head_dim = qb.shape
        kind, attend = attention_mask(seq, mask)
        # A sequence the chunks cannot divide is padded with zero rows whose keys are masked
        # (causal masks them already for every real query); the padded queries are dropped.
        unit = max(1, self._align() // 2)
        full = -(-seq // unit) * unit
        operands = [qb.bits, kb.bits, vb.bits]
        if full != seq:
            operands = [np.concatenate([x, np.zeros((full - seq, head_dim), np.uint16)])
                        for x in operands]
            if kind != 1:
                padded = np.zeros((full, full), dtype=bool)
                padded[:, :seq] = True if attend is None else np.concatenate(
                    [attend, np.ones((full - seq, seq), dtype=bool)])
                mask, kind = padded, 2
        shape = self.attention_shape(full, head_dim, bitmap=kind == 2)
        stats = self._stats("attention")
        stats.plan = str(shape)
        o, cost = self.backend.attention(shape, *operands, mask)
        stats.add("cluster", cost)
        return from_bits(o[:seq], qb), stats

    def _align(self):
        cfg = self.config
        return port_align(cfg.tensor.to_dict(), cfg.softex.to_dict())
