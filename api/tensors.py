"""The user's arrays and the accelerator's BF16 bit patterns.

An input is a numpy array of floats (float16, float32, float64: each value rounded once to the
nearest BF16, ties to even, as the host converter of the golden models does), of ml_dtypes'
``bfloat16`` (taken as they are) or of ``uint16`` (raw BF16 bit patterns). A result comes back
in the kind of the first operand: float32 (BF16 values widened exactly), ``bfloat16`` or
``uint16`` patterns. NaN and infinities pass through as docs/numerics.md says the blocks treat
them.
"""

import numpy as np

from sim.golden.softmax import bf16_to_float, float_to_bf16

__all__ = ["Operand", "as_bits", "from_bits"]

#: The kinds of input arrays: float kinds are rounded to BF16, the others are patterns.
FLOAT_KINDS = ("float16", "float32", "float64")


class Operand:
    """One input array as BF16 bit patterns and the kind it came in (``kind``: ``"float"``,
    ``"bfloat16"`` or ``"bits"``; ``dtype``: its numpy dtype, to give results back in)."""

    def __init__(self, bits, kind, dtype):
        self.bits, self.kind, self.dtype = bits, kind, dtype

    @property
    def shape(self):
        return self.bits.shape


def as_bits(name, array, *, min_ndim=1, max_ndim=None):
    """``array`` as an :class:`Operand`; ValueError naming ``name`` for any other dtype or a
    number of dimensions outside [min_ndim, max_ndim]."""
    a = np.asarray(array)
    if a.ndim < min_ndim or (max_ndim is not None and a.ndim > max_ndim):
        want = (f"{min_ndim}" if max_ndim == min_ndim else
                f"{min_ndim} to {max_ndim}" if max_ndim else f"at least {min_ndim}")
        raise ValueError(f"{name} must have {want} dimension(s), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if a.dtype.name in FLOAT_KINDS:
        bits = np.asarray(float_to_bf16(a.astype(np.float64).ravel()), np.uint16)
        return Operand(bits.reshape(a.shape), "float", a.dtype)
    if a.dtype.name == "bfloat16":          # ml_dtypes.bfloat16: the patterns as they are
        return Operand(a.view(np.uint16).copy(), "bfloat16", a.dtype)
    if a.dtype == np.uint16:
        return Operand(a.copy(), "bits", a.dtype)
    raise ValueError(f"{name} must be float16, float32, float64, ml_dtypes.bfloat16 or uint16 "
                     f"(BF16 bit patterns), got dtype {a.dtype}")


def from_bits(bits, like):
    """BF16 patterns ``bits`` in the kind of Operand ``like``: float32 for float inputs."""
    bits = np.asarray(bits, np.uint16)
    if like.kind == "float":
        return bf16_to_float(bits).astype(np.float32)
    if like.kind == "bfloat16":
        return bits.view(like.dtype)
    return bits
