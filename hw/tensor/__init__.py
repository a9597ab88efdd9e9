"""Tensor unit: RedMulE-style L x H x P BF16 systolic GEMM engine with a hardware tiler
(docs/tensor.md)."""

from .geometry import TensorGeometry
from .regmap import TensorError, TensorOp, tensor_map
from .top import TensorUnit

__all__ = ["TensorGeometry", "TensorUnit", "TensorOp", "TensorError", "tensor_map"]
