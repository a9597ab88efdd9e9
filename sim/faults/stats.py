"""Confidence intervals of campaign rates.

A campaign of ``n`` runs with ``k`` of one outcome estimates that outcome's rate as ``k / n``.
:func:`wilson` gives the Wilson score interval (95 % by default), which keeps its coverage for
rates near 0 and 1 where the normal approximation fails; with ``k = 0`` its upper end is close
to the "rule of three" bound 3 / n (:func:`rule_of_three`). Leveugle et al. (DATE 2009): about
9,600 runs bound any rate to +-1 % at 95 % (the interval's half-width at p = 0.5 is
z * sqrt(0.25 / n)): :func:`runs_for_margin`.
"""

import math

__all__ = ["Z95", "wilson", "rule_of_three", "runs_for_margin"]

#: The two-sided 95 % quantile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson(k, n, z=Z95):
    """``(rate, low, high)`` of ``k`` events in ``n`` runs: the Wilson score interval."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n={n}], got {k}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return p, low, high


def rule_of_three(n):
    """Upper 95 % bound of a rate never observed in ``n`` runs."""
    return 3.0 / n


def runs_for_margin(margin, z=Z95):
    """Runs that bound any rate to +-``margin`` at the given confidence (worst case p = 0.5)."""
    return math.ceil(z * z * 0.25 / (margin * margin))
