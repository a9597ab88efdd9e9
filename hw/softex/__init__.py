"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from .expp import Expp, ExppConstants
from .gelu import Gelu
from .softmax import SoftmaxEngine

__all__ = ["Expp", "ExppConstants", "Gelu", "SoftmaxEngine"]
