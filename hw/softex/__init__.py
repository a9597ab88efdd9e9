"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from .expp import Expp, ExppConstants
from .softmax import SoftmaxEngine

__all__ = ["Expp", "ExppConstants", "SoftmaxEngine"]
