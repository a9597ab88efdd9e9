"""The accelerator for its users: numpy arrays in, results and cycles out, on the RTL or on the
golden models (docs/api.md)::

    from api import Accelerator
    with Accelerator("tiny", backend="rtl") as acc:
        y, stats = acc.softmax(x)
        print(stats)

The layer above ``sim``: it plans jobs that fit the hardware and hands them to a backend
(:mod:`api.backends`); ``python -m api`` is its command line.
"""

from .accelerator import ACCUMULATORS, GEMM_OPS, SOFTMAX_MODES, Accelerator, Stats
from .backends import AcceleratorError

__all__ = ["Accelerator", "AcceleratorError", "Stats", "GEMM_OPS", "ACCUMULATORS", "SOFTMAX_MODES"]
