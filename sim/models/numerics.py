"""The accelerator's arithmetic for a whole network (:mod:`sim.models.minilm` takes it in place
of :class:`~sim.models.minilm.FloatNumerics`), bit for bit the blocks' golden models:

- matrix products: bf16 operands (each float rounded once, nearest even), the tensor unit's FMA
  chain in its order, ``acc`` fp32 (rounded once to bf16 at the end) or bf16 (every FMA):
  :func:`sim.golden.gemm.gemm_float`;
- softmax rows: bf16 scores into SoftEx (``expp`` with the engine's ``expp_mode``, the row in
  one job or in chunks of ``chunk`` keys through a state slot as attention.c runs them), or a
  table engine (``lut_a`` / ``lut_b``): :mod:`sim.golden.softmax`, :mod:`sim.golden.lut_softmax`;
- GELU: bf16 inputs through SoftEx's GELU unit: the table (:mod:`sim.golden.gelu_table`) or,
  with ``gelu_terms`` K, the expp unit (:mod:`sim.golden.gelu`).

Their bf16 results come back as float64; what the host does stays float64 (layer norm,
residual additions, biases, the 1/sqrt(d) scaling of the scores, pooling).
"""

import functools
from dataclasses import dataclass

import numpy as np

from ..golden.gelu import gelu_job
from ..golden.gemm import gemm_float
from ..golden.lut_softmax import method
from ..golden.softmax import bf16_to_float, float_to_bf16, softmax_jobs

__all__ = ["AcceleratorNumerics", "SOFTMAX_ENGINES", "chunked_softmax"]

#: The softmax engines.
SOFTMAX_ENGINES = ("expp", "lut_a", "lut_b")


def _bits(x):
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(float_to_bf16(x.ravel()), dtype=np.uint16).reshape(x.shape)


def chunked_softmax(rows, *, chunk, lanes, mode="accurate"):
    """SoftEx on bf16 ``rows`` (n x keys) as attention.c issues it: one ACC | DIV job when a
    row is one chunk, else ACC | SAVE (| LOAD) per chunk of ``chunk`` keys (the last one may
    be shorter), DIV on the last, then DIV | LOAD on the others; every chunk starts at lane 0
    (``chunk`` a multiple of ``lanes``)."""
    keys = rows.shape[1]
    if chunk is None or chunk >= keys:
        return softmax_jobs(rows, lanes=lanes, mode=mode)["y"]
    if chunk % lanes:
        raise ValueError(f"chunk must be a multiple of lanes ({lanes}), got {chunk}")
    bounds = [(c, min(c + chunk, keys)) for c in range(0, keys, chunk)]
    out = np.zeros_like(rows)
    state = None
    for i, (a, b) in enumerate(bounds):
        last = i == len(bounds) - 1
        job = softmax_jobs(rows[:, a:b], lanes=lanes, mode=mode, state=state, div=last)
        state = (job["m"], job["D"])
    out[:, a:b] = job["y"]
    for a, b in bounds[:-1]:
        out[:, a:b] = softmax_jobs(rows[:, a:b], lanes=lanes, mode=mode, acc=False,
                                   state=state)["y"]
    return out


@dataclass(frozen=True)
class AcceleratorNumerics:
    """The accelerator's arithmetic (module description).

    Parameters
    ----------
    acc : str
        ``fp32`` or ``bf16`` accumulation of the tensor unit.
    engine : str
        The softmax engine, one of :data:`SOFTMAX_ENGINES`.
    expp_mode : str
        The expp exponential's mode (``accurate``, the engine's; or ``softex``, the paper's).
    chunk : int or None
        Keys per SoftEx job (None: a row per job).
    gelu_terms : int or None
        None: the default GELU unit, the table (correctly rounded); K: the expp unit with K
        terms (``gelu_method = "expp"``).
    lanes : int
        SoftEx lanes (the lane of a row's first element matters to the sums' order).
    """
    acc: str = "fp32"
    engine: str = "expp"
    expp_mode: str = "accurate"
    chunk: int | None = None
    gelu_terms: int | None = None
    lanes: int = 4

    dtype = np.float64

    def __post_init__(self):
        if self.acc not in ("fp32", "bf16"):
            raise ValueError(f"acc must be fp32 or bf16, got {self.acc!r}")
        if self.engine not in SOFTMAX_ENGINES:
            raise ValueError(f"engine must be one of {', '.join(SOFTMAX_ENGINES)}, "
                             f"got {self.engine!r}")

    @property
    def name(self):
        parts = [f"acc {self.acc}", self.engine if self.engine != "expp"
                 else f"expp {self.expp_mode}"]
        if self.chunk:
            parts.append(f"chunks of {self.chunk}")
        if self.gelu_terms:
            parts.append(f"GELU expp K={self.gelu_terms}")
        return ", ".join(parts)

    def matmul(self, a, b, *, where=""):
        return bf16_to_float(gemm_float(_bits(a), _bits(b), acc=self.acc))

    def softmax(self, s, *, where=""):
        s = np.asarray(s)
        rows = _bits(s).reshape(-1, s.shape[-1])
        if self.engine == "expp":
            y = chunked_softmax(rows, chunk=self.chunk, lanes=self.lanes, mode=self.expp_mode)
        else:
            golden, tables = method(self.engine[-1])
            y = np.stack([golden(row, tables, out="bf16")["y"] for row in rows])
        return bf16_to_float(y).reshape(s.shape)

    def gelu(self, x, *, where=""):
        x = np.asarray(x)
        return bf16_to_float(_gelu_table(self.gelu_terms)[_bits(x)])


@functools.lru_cache(maxsize=None)
def _gelu_table(terms):
    """GELU of every BF16 pattern (the unit is element-wise: a table is the golden model)."""
    x = np.arange(1 << 16, dtype=np.uint16)
    job = gelu_job(x) if terms is None else gelu_job(x, method="expp", terms=terms)
    return np.asarray(job, np.uint16)
