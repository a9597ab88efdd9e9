"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from .expp import Expp, ExppConstants
from .gelu import Gelu
from .lut_softmax import LutSoftmaxEngine
from .softmax import SoftmaxEngine

__all__ = ["Expp", "ExppConstants", "Gelu", "SoftmaxEngine", "LutSoftmaxEngine",
           "engine_from_config"]


def engine_from_config(config, **kwargs):
    """The SoftEx engine of ``config`` (a :class:`hw.config.Config` or its name): section
    ``softex`` gives the lanes and the engine (``expp``: :class:`SoftmaxEngine`; ``lut_a`` /
    ``lut_b``: :class:`LutSoftmaxEngine`). ``kwargs`` go to the constructor (``addr_width``,
    ``mem_base``, ``mem_size``, ``cfg_addr_width``, ...)."""
    from ..config import get_config

    sx = get_config(config).softex
    if sx.engine == "expp":
        return SoftmaxEngine(sx.lanes, expp_latency=sx.expp_latency, **kwargs)
    return LutSoftmaxEngine(sx.lanes, method=sx.engine[len("lut_"):], **kwargs)
