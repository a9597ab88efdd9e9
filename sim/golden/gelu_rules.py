"""The rule of the table GELU unit below its table (sim/golden/gelu_table.py, rule 2), apart from
the generated ROM so that the generator (scripts/gelu_table.py) can use it before the ROM exists."""

import numpy as np

__all__ = ["half_rule"]


def half_rule(x):
    """Rule 2 for BF16 patterns ``x``: x / 2 rounded as x / 2 + x^2 / sqrt(2 pi) is."""
    x = np.asarray(x, dtype=np.int64) & 0xFFFF
    s, e, m = x >> 15, (x >> 7) & 0xFF, x & 0x7F
    sig = np.where(e == 0, m, m | 0x80)                     # significand, implicit bit included
    low = (sig >> 1) + ((sig & 1) & (1 - s))                # e <= 1: shift out, tie upwards
    mag = np.where(e >= 2, ((e - 1) << 7) | m, low)
    return (s << 15) | mag
