"""How a faulty run is classified against the golden run (docs/fault_injection.md).

Outcomes, in the order the rule tests them:

``hang``
    No done event (blocks) or exit (systems) within ``ceil(1.2 * golden cycles) + margin``
    cycles (InjectaFault's 1.2x rule, plus :data:`HANG_MARGIN`).
``error``
    The job ended with an error cause (blocks), or the program exited with another code than
    the golden run's (systems).
``detected-corrected`` / ``detected-recomputed`` / ``detected-uncorrected`` / ``detected-masked``
    A checker raised its flag: the output was corrected in place, recomputed, is still wrong,
    or was never wrong. Only the attention head with the Flash-ABFT checker has a flag
    (``sim.faults.targets.AttentionHead(abft=...)``, docs/abft.md); the baseline campaigns
    have none of these.
``sdc-tolerable`` / ``sdc-critical``
    Silent data corruption: no flag, output different. Tolerable when every output element is
    within :data:`TOLERANCE_ULP` BF16 units in the last place of the golden value (and no
    element became NaN or infinite); critical otherwise.
``latent``
    Output identical, but the state differs at the end: the digest of the tapped registers
    differs from the golden run's, or a flipped memory word was never written again.
``masked``
    Output identical and no state difference.
"""

import math

import numpy as np

__all__ = ["OUTCOMES", "FAILURES", "TOLERANCE_ULP", "HANG_FACTOR", "HANG_MARGIN", "hang_limit",
           "bf16_errors", "classify_run"]

OUTCOMES = ("masked", "latent", "detected-corrected", "detected-recomputed", "detected-masked",
            "detected-uncorrected", "sdc-tolerable", "sdc-critical", "hang", "error")

#: Outcomes that leave a wrong result or no result and no flag (what protection must remove).
FAILURES = ("sdc-critical", "hang")

#: An SDC is tolerable when no output element moved by more than this many BF16 ulps.
TOLERANCE_ULP = 1

HANG_FACTOR = 1.2
HANG_MARGIN = 100


def hang_limit(golden_cycles):
    """Cycles after which a run is a hang."""
    return math.ceil(HANG_FACTOR * golden_cycles) + HANG_MARGIN


def _ordered(bits):
    """BF16 bit patterns mapped to integers in value order (-0 and +0 both to 0x8000)."""
    b = bits.astype(np.int64)
    return np.where(b & 0x8000, 0x8000 - (b & 0x7FFF), 0x8000 + b)


def _is_nan(bits):
    return ((bits & 0x7F80) == 0x7F80) & ((bits & 0x7F) != 0)


def _to_float(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def bf16_errors(golden, got):
    """``(max abs error, max ulp distance)`` of BF16 arrays (bit patterns); a NaN or infinity
    where the golden value is finite (or the reverse) counts as infinite error."""
    golden = np.asarray(golden, np.uint16).ravel()
    got = np.asarray(got, np.uint16).ravel()
    if golden.shape != got.shape:
        return math.inf, math.inf
    diff = golden != got
    if not diff.any():
        return 0.0, 0
    g, b = golden[diff], got[diff]
    gf, bf = _to_float(g), _to_float(b)
    special = _is_nan(g) | _is_nan(b) | ~np.isfinite(gf) | ~np.isfinite(bf)
    if special.any():
        return math.inf, math.inf
    ulp = int(np.abs(_ordered(g) - _ordered(b)).max())
    return float(np.abs(gf - bf).max()), ulp


def classify_run(golden, run):
    """``(outcome, max abs error, max ulp)`` of ``run`` against ``golden`` (dicts: ``outputs``
    (BF16 bits), ``cycles``, ``cause``, ``digest``; the run also ``hang``, ``pending`` and
    optionally ``flag``, ``corrected``, ``recomputed``)."""
    if run["hang"]:
        return "hang", None, None
    if run["cause"] != golden["cause"]:
        return "error", None, None
    abs_err, ulp = bf16_errors(golden["outputs"], run["outputs"])
    wrong = ulp != 0
    if run.get("flag"):
        if run.get("corrected") and not wrong:
            return "detected-corrected", abs_err, ulp
        if run.get("recomputed") and not wrong:
            return "detected-recomputed", abs_err, ulp
        return ("detected-uncorrected" if wrong else "detected-masked"), abs_err, ulp
    if wrong:
        return ("sdc-tolerable" if ulp <= TOLERANCE_ULP else "sdc-critical"), abs_err, ulp
    if run["digest"] != golden["digest"] or run["pending"]:
        return "latent", 0.0, 0
    return "masked", 0.0, 0
