"""SoftEx: the softmax / GELU accelerator block and its units (expp, ...)."""

from ..params import Choice, OrDefault
from .expp import Expp, ExppConstants
from .gelu import Gelu
from .lut_softmax import LutSoftmaxEngine
from .gelu_table import GeluTable
from .softmax import GELU_METHODS, LANE_CHOICES, SoftmaxEngine

__all__ = ["Expp", "ExppConstants", "Gelu", "GeluTable", "SoftmaxEngine", "LutSoftmaxEngine",
           "ENGINES", "ENGINE_PARAMETERS", "build_engine"]

#: The SoftEx engines by name (configuration field ``softex.engine``): the expp engine
#: (softmax with state slots, GELU) and the table-based ones (docs/lut_softmax.md).
ENGINES = ("expp", "lut_a", "lut_b")

#: Ranges of :func:`build_engine`'s arguments (configuration section ``softex`` reads them).
ENGINE_PARAMETERS = {
    "engine": Choice(ENGINES),
    "lanes": Choice(LANE_CHOICES),
    "expp_latency": SoftmaxEngine.EXPP_LATENCY,
    "gelu_method": Choice(GELU_METHODS),
    "gelu_latency": OrDefault(SoftmaxEngine.GELU_LATENCY),
}


def build_engine(engine="expp", lanes=8, *, expp_latency=2, gelu_method="table",
                 gelu_latency=None, **kwargs):
    """The SoftEx engine called ``engine`` (:data:`ENGINES`: ``expp`` = :class:`SoftmaxEngine`
    with ``expp_latency`` exponential stages, the GELU unit ``gelu_method`` with ``gelu_latency``
    stages (None: the unit's default), ``lut_a`` /
    ``lut_b`` = :class:`LutSoftmaxEngine`, which has neither, so the two do not change it) of
    ``lanes`` lanes.
    ``kwargs`` go to the constructor (``addr_width``, ``mem_base``, ``mem_size``,
    ``cfg_addr_width``, ...)."""
    ENGINE_PARAMETERS["engine"].check("engine", engine)
    ENGINE_PARAMETERS["expp_latency"].check("expp_latency", expp_latency)
    ENGINE_PARAMETERS["gelu_method"].check("gelu_method", gelu_method)
    ENGINE_PARAMETERS["gelu_latency"].check("gelu_latency", gelu_latency)
    if engine == "expp":
        return SoftmaxEngine(lanes, expp_latency=expp_latency, gelu_method=gelu_method,
                             gelu_latency=gelu_latency,
                             **kwargs)
    return LutSoftmaxEngine(lanes, method=engine[len("lut_"):], **kwargs)
