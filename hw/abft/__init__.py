"""The Flash-ABFT checker of an attention head (docs/abft.md)."""

from .layout import CAUSES, DESCRIPTOR, REPORT
from .regmap import AbftOp, abft_map
from .unit import AbftUnit

__all__ = ["AbftUnit", "AbftOp", "abft_map", "CAUSES", "DESCRIPTOR", "REPORT"]
