"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from .expp import Expp, ExppConstants

__all__ = ["Expp", "ExppConstants"]
