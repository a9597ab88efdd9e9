"""Tensor unit: RedMulE-style L x H x P BF16 systolic GEMM engine with a hardware tiler
(docs/tensor.md).

Made of small components, as RedMulE: ``top`` (:class:`TensorUnit`, only connects),
``controller`` (checks, job constants, completion, counters), ``scheduler`` (slots, freeze,
operands), ``buffers`` (X/Y, W and Z buffers with their tile walks), ``streamer`` (the shared
TCDM master), ``array`` (the systolic array); ``tiler`` holds the walks and the job checker,
``geometry`` and ``regmap`` the parameters and the register map.
"""

from .geometry import TensorGeometry
from .regmap import TensorError, TensorOp, tensor_map
from .top import TensorUnit

__all__ = ["TensorGeometry", "TensorUnit", "TensorOp", "TensorError", "tensor_map"]
