"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from .expp import Expp, ExppConstants
from .gelu import Gelu
from .lut_softmax import LutSoftmaxEngine
from .softmax import SoftmaxEngine

__all__ = ["Expp", "ExppConstants", "Gelu", "SoftmaxEngine", "LutSoftmaxEngine",
           "build_engine", "engine_from_config"]


def build_engine(engine, lanes, *, expp_latency=2, **kwargs):
    """The SoftEx engine called ``engine`` (hw.config.SOFTEX_ENGINES: ``expp`` =
    :class:`SoftmaxEngine` with ``expp_latency`` exponential stages, ``lut_a`` / ``lut_b`` =
    :class:`LutSoftmaxEngine`, which has no exponential) of ``lanes`` lanes. ``kwargs`` go to
    the constructor (``addr_width``, ``mem_base``, ``mem_size``, ``cfg_addr_width``, ...)."""
    from ..config import SOFTEX_ENGINES
    from ..params import check_choice

    check_choice("engine", engine, SOFTEX_ENGINES)
    if engine == "expp":
        return SoftmaxEngine(lanes, expp_latency=expp_latency, **kwargs)
    return LutSoftmaxEngine(lanes, method=engine[len("lut_"):], **kwargs)


def engine_from_config(config, **kwargs):
    """The SoftEx engine of ``config`` (a :class:`hw.config.Config` or its name): section
    ``softex`` (engine, lanes, expp_latency), built by :func:`build_engine`."""
    from ..config import get_config

    sx = get_config(config).softex
    return build_engine(sx.engine, sx.lanes, expp_latency=sx.expp_latency, **kwargs)
