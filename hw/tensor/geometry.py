"""Geometry and numeric parameters of the tensor unit, with validation.

``L`` rows x ``H`` computing elements (CEs) per row, each CE a BF16 FMA with ``P`` internal
pipeline registers plus its output register (latency ``P + 1``). A row is a ring of ``H`` CEs
along the reduction dimension, so it keeps ``D = H * (P + 1)`` partial sums (output columns) in
flight: the pipeline registers are the accumulators. Output tile: ``L x D``. Memory port: one
TCDM master of ``D * 16`` bits (one BF16 row segment of a tile per beat), as RedMulE.
"""

from ..fp.format import BF16, FP32
from ..params import Range

__all__ = ["TensorGeometry", "ACC_FORMATS"]

ACC_FORMATS = {"fp32": FP32, "bf16": BF16}


class TensorGeometry:
    """Validated parameters. Rules:

    - ``rows`` = ``L``, ``cols`` = ``H``, ``pipes`` = ``P`` in the ranges of :attr:`PARAMETERS`;
    - ``L <= H * (P + 1)`` (RedMulE's rule: an X beat of ``D`` elements per row; more rows than
      columns in flight would leave the port too little time to refill X);
    - ``D = H * (P + 1)`` a power of two between 2 and 64 (beats are ``2 * D`` bytes; addresses
      are checked for alignment with a mask), so the port is 32..1024 bits wide;
    - ``acc`` ``"fp32"`` (bf16 x bf16 + fp32, Z rounded once to bf16) or ``"bf16"`` (RedMulE's
      bf16 chain, every FMA rounds to bf16).
    """

    #: Ranges of the array's dimensions (configuration section ``tensor`` reads them).
    PARAMETERS = {"rows": Range(1, 64), "cols": Range(1, 32), "pipes": Range(0, 8)}

    def __init__(self, rows=4, cols=4, pipes=3, acc="fp32"):
        self.L = self.PARAMETERS["rows"].check("rows (L)", rows)
        self.H = self.PARAMETERS["cols"].check("cols (H)", cols)
        self.P = self.PARAMETERS["pipes"].check("pipes (P)", pipes)
        if acc not in ACC_FORMATS:
            raise ValueError(f"acc must be one of 'fp32', 'bf16', got {acc!r}")
        self.acc = acc
        self.acc_fmt = ACC_FORMATS[acc]
        self.mul_fmt = BF16
        D = self.H * (self.P + 1)
        if D & (D - 1) or not 2 <= D <= 64:
            raise ValueError(f"cols * (pipes + 1) = H * (P + 1) must be a power of two in 2..64 "
                             f"(port width H*(P+1)*16 bits = 32..1024), got H={self.H}, "
                             f"P={self.P} -> {D}")
        if self.L > D:
            raise ValueError(f"rows (L) must be an integer in [1, H*(P+1)] = [1, {D}] "
                             f"(rows <= output columns in flight), got {self.L}")
        self.D = D

    @property
    def port_width(self):
        return self.D * 16

    @property
    def beat_bytes(self):
        return self.D * 2

    @property
    def acc_width(self):
        return self.acc_fmt.width

    def as_dict(self):
        return {"L": self.L, "H": self.H, "P": self.P, "acc": self.acc}

    def __repr__(self):
        return f"TensorGeometry(L={self.L}, H={self.H}, P={self.P}, acc={self.acc!r})"
