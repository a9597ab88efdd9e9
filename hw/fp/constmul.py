"""Multiplication by a constant as a shift-add network (canonical signed digits), no multiplier.

Yosys maps every ``$mul`` it finds to a DSP block, constant operand or not; the GELU unit and
the expp lanes multiply by constants dozens of times per lane, which put the 8-lane SoftEx
over the ECP5-85F's DSP blocks (the counts: docs/gelu.md, docs/softmax.md). A constant with d non-zero canonical-signed-digit
(CSD) digits costs d - 1 adders instead; CSD has the fewest non-zero digits of any signed
binary form (at most ceil((n + 1) / 2) for an n-bit constant, n / 3 on average).

The result is the exact product, bit for bit what ``value * k`` gives, with the same width
(``len(value) + k.bit_length()``), so it is a drop-in replacement in bit-exact datapaths.
"""

from amaranth import Cat, Const, Value

from ..params import check_int

__all__ = ["csd_digits", "const_mul", "mul_const", "SHIFT_ADD_MAX_DIGITS"]

#: :func:`mul_const` builds shift-adds up to this many CSD digits (three adders); a constant
#: with more digits costs more LUTs than it saves and keeps its DSP block (the expp constant
#: 23637 has 7 digits and keeps its multiplier).
SHIFT_ADD_MAX_DIGITS = 4


def csd_digits(k):
    """Canonical signed digits of ``k`` >= 0: a list of (shift, +1 or -1), LSB first.

    Non-adjacent form: no two consecutive digits are non-zero, and
    ``sum(d << s for s, d in csd_digits(k)) == k``.
    """
    k = check_int("k", k, min=0)
    digits, shift = [], 0
    while k:
        if k & 1:
            d = 2 - (k & 3)        # k = ...01 -> +1, k = ...11 -> -1 (then k + 1 ends in 00)
            digits.append((shift, d))
            k -= d
        k >>= 1
        shift += 1
    return digits


def _tree_sum(terms):
    """Sum of ``terms`` as a balanced adder tree (depth log2 of the count, not the count)."""
    while len(terms) > 1:
        paired = [a + b for a, b in zip(terms[::2], terms[1::2])]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


def const_mul(value, k):
    """``value * k`` for an unsigned ``value`` and a constant integer ``k`` >= 0, as shift-adds.

    Positive and negative digits are summed in separate trees and subtracted once, so every
    intermediate sum is unsigned and the final difference is the exact, non-negative product
    truncated to its natural width.
    """
    value = Value.cast(value)
    if value.shape().signed:
        raise ValueError("const_mul: value must be unsigned")
    k = check_int("k", k, min=0)
    width = len(value) + k.bit_length()
    if k == 0:
        return Const(0, width)
    digits = csd_digits(k)
    pos = [value << s for s, d in digits if d > 0]
    neg = [value << s for s, d in digits if d < 0]
    total = _tree_sum(pos)
    if neg:
        total = total - _tree_sum(neg)
    return Cat(total.as_unsigned(), Const(0, width))[:width]


def mul_const(value, k):
    """``value * k`` (``k`` a constant >= 0): :func:`const_mul` shift-adds when ``k`` has at most
    :data:`SHIFT_ADD_MAX_DIGITS` non-zero CSD digits, otherwise a plain multiplier (a DSP).
    Either way the exact product, ``len(value) + k.bit_length()`` bits wide."""
    k = check_int("k", k, min=0)
    if len(csd_digits(k)) <= SHIFT_ADD_MAX_DIGITS:
        return const_mul(value, k)
    return Value.cast(value) * Const(k, max(k.bit_length(), 1))
