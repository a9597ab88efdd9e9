"""Fault-injection campaigns (docs/fault_injection.md): targets built with the taps of
:mod:`hw.faults`, the campaign engine on Dask, the classification of runs and the statistics
and reports of their outcomes."""

from .campaign import Campaign, draw_faults, run_campaign
from .outcomes import OUTCOMES, classify_run
from .stats import wilson
from .targets import TARGETS, Fault, target

__all__ = ["Campaign", "draw_faults", "run_campaign", "OUTCOMES", "classify_run", "wilson",
           "TARGETS", "Fault", "target"]
