"""Bit-exact IEEE-style floating-point arithmetic (BF16 / FP32) as pipelined stream components.

Semantics: docs/numerics.md (RNE, subnormals kept, canonical NaN). Every operator is a
:class:`hw.pipeline.PipelinedOp` (``latency`` = 0 is combinational) built from the shared
blocks in :mod:`hw.fp.core`, so the whole library has a single rounding implementation.
"""

from .format import BF16, FP32, FORMATS, FloatFormat, float_format
from .add import FPAdd
from .mul import FPMul, FPMulConst
from .constmul import SHIFT_ADD_MAX_DIGITS, const_mul, csd_digits, mul_const
from .fma import FPFMA
from .compare import FPCompare
from .convert import FPConvert
from .scale import FPScale
from .fixed import FloatToInt, IntToFloat

__all__ = [
    "FloatFormat", "BF16", "FP32", "FORMATS", "float_format",
    "FPAdd", "FPMul", "FPMulConst", "const_mul", "mul_const", "csd_digits",
    "SHIFT_ADD_MAX_DIGITS", "FPFMA", "FPCompare", "FPConvert", "FPScale", "IntToFloat",
    "FloatToInt",
]
