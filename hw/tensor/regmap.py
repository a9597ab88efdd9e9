"""Register map of the tensor unit (generated register file, C header, driver and docs all
come from :func:`tensor_map`)."""

import enum

from ..regmap import Counter, ErrorCause, Field, Register, RegisterMap

__all__ = ["TensorOp", "TensorError", "tensor_map", "GEMM_OPS", "DIM_BITS", "MAX_DIM",
           "W_EXP_BITS"]

#: Width of the M, N, K fields.
DIM_BITS = 16
#: Width of COMMAND.W_EXP (a two's-complement power of two applied to W as it is read).
W_EXP_BITS = 8
#: The largest M, N and K a tensor unit accepts by default (its ``max_dim``).
MAX_DIM = 4096


class TensorOp(enum.IntEnum):
    """COMMAND.OP. ``X_Y`` GEMM-ops: ``Z = Y (+)_k (X[i,k] (x) W[k,j])`` with (x) = X and
    (+) = Y, e.g. ADD_MAX is the (max, +) tropical product."""
    MATMUL = 0   # Z = X W
    GEMM = 1     # Z = X W + Y
    ADD_MAX = 2
    ADD_MIN = 3
    MUL_MAX = 4
    MUL_MIN = 5
    MAX_MIN = 6
    MIN_MAX = 7


#: op -> (element op, reduction op) for the GEMM-ops family.
GEMM_OPS = {
    TensorOp.ADD_MAX: ("add", "max"), TensorOp.ADD_MIN: ("add", "min"),
    TensorOp.MUL_MAX: ("mul", "max"), TensorOp.MUL_MIN: ("mul", "min"),
    TensorOp.MAX_MIN: ("max", "min"), TensorOp.MIN_MAX: ("min", "max"),
}


class TensorError(enum.IntEnum):
    """Error causes a job can end with (ERROR.CAUSE), checked before it runs, in priority order
    BAD_OP, BAD_DIM, BAD_ALIGN, BAD_STRIDE, BAD_ADDR (:class:`~hw.tensor.tiler.JobChecker`)."""
    NONE = 0
    BAD_DIM = 1
    BAD_OP = 2
    BAD_ALIGN = 3
    BAD_STRIDE = 4
    BAD_ADDR = 5


def tensor_map(*, n_contexts=2, counter_width=32, max_dim=MAX_DIM, beat_bytes=32):
    """The tensor unit's :class:`~hw.regmap.RegisterMap`: ``n_contexts`` job contexts,
    counters of ``counter_width`` bits, dimensions up to ``max_dim``, pointers and strides
    multiples of ``beat_bytes``."""
    return RegisterMap(
        "tensor",
        doc="Tensor unit: Z[M x N] = X[M x K] W[K x N] (+ Y), or a GEMM-op, BF16 operands, on an "
            "L x H x P systolic array. Matrices are row-major with a byte row stride each.",
        n_contexts=n_contexts,
        counter_width=counter_width,
        job_registers=[
            Register("X_PTR", doc=f"Byte address of X[0][0] ({beat_bytes}-byte aligned)."),
            Register("W_PTR", doc=f"Byte address of W[0][0] ({beat_bytes}-byte aligned)."),
            Register("Y_PTR", doc=f"Byte address of Y[0][0] ({beat_bytes}-byte aligned; "
                                  "unused by MATMUL)."),
            Register("Z_PTR", doc=f"Byte address of Z[0][0] ({beat_bytes}-byte aligned)."),
            Register("DIM_MN", doc="Output dimensions.", fields=[
                Field("M", DIM_BITS, doc=f"Rows of X, Y, Z (1..{max_dim})."),
                Field("N", DIM_BITS, doc=f"Columns of W, Y, Z (1..{max_dim})."),
            ]),
            Register("DIM_K", doc="Reduction dimension.", fields=[
                Field("K", DIM_BITS, doc=f"Columns of X, rows of W (1..{max_dim})."),
            ]),
            Register("X_STRIDE", doc=f"Byte distance between rows of X (multiple of {beat_bytes},"
                                     " >= 2*K)."),
            Register("W_STRIDE", doc=f"Byte distance between rows of W (multiple of {beat_bytes},"
                                     " >= 2*N)."),
            Register("Y_STRIDE", doc=f"Byte distance between rows of Y (multiple of {beat_bytes},"
                                     " >= 2*N; unused by MATMUL)."),
            Register("Z_STRIDE", doc=f"Byte distance between rows of Z (multiple of {beat_bytes},"
                                     " >= 2*N)."),
            Register("COMMAND", doc="Operation.", fields=[
                Field("OP", 4, enum=TensorOp, reset=TensorOp.MATMUL, doc="Operation."),
                Field("W_EXP", W_EXP_BITS, offset=8,
                      doc="W is read as W * 2^W_EXP (two's complement, -128..127; 0: as "
                          "stored): weights stored scaled by a power of two are unscaled as "
                          "they enter, rounded once (RNE) only where the result leaves the "
                          "normal range; no extra cycle."),
            ]),
        ],
        counters=[
            Counter("BUSY_CYCLES", "Cycles from start to done (the unit holds a job)."),
            Counter("COMPUTE_CYCLES", "Cycles in which the array advanced with a useful slot "
                                      "entering it (L*H FMAs issued)."),
            Counter("STALL_CYCLES", "Cycles the memory port requested without grant."),
            Counter("FREEZE_CYCLES", "Cycles the array was frozen waiting for operands or for "
                                     "the Z store buffer."),
        ],
        error_causes=[
            ErrorCause("BAD_DIM", int(TensorError.BAD_DIM), f"M, N or K is 0 or above {max_dim}."),
            ErrorCause("BAD_OP", int(TensorError.BAD_OP), "COMMAND.OP is not a known operation."),
            ErrorCause("BAD_ALIGN", int(TensorError.BAD_ALIGN),
                       f"A used pointer or stride is not a multiple of {beat_bytes} bytes."),
            ErrorCause("BAD_STRIDE", int(TensorError.BAD_STRIDE),
                       "A used row stride is smaller than the row (2*K for X, 2*N otherwise)."),
            ErrorCause("BAD_ADDR", int(TensorError.BAD_ADDR),
                       "A used matrix [PTR, PTR + rows*STRIDE) leaves the memory window."),
        ],
    )
