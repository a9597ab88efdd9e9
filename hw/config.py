"""Named generator configurations: ``tiny`` (fast tests), ``default`` (``make sim``), ``large``
(the block benchmarks' accelerator sizes) and ``paper``.

A configuration is a frozen dataclass made of one section per block. Every field is validated
when the object is built, so a bad value fails with a ValueError that names the field (as
``section.field``) and its allowed range before anything is elaborated.

One road from configuration to hardware: a section's fields have the names of its component's
constructor arguments and are validated against that component's own range constants
(``PARAMETERS``), and :mod:`hw.catalog` passes a section to its component unchanged. Adding a
block's parameter: give the component the argument and its range, add the field to the section
(or a new ``_Section`` subclass with a ``SECTION`` name and ``PARAMETERS``, plus a field of that
type on :class:`Config`), give it a value where a configuration differs from the default, and
read it in that block's entry of ``hw/catalog.py``. ``paper`` holds the sizes of the reference
design (docs/architecture.md).
"""

import dataclasses
from dataclasses import dataclass, field

from .cluster.system import AcceleratedCluster, port_align
from .fp.fixed import IntToFloat
from .params import Range
from .pipeline import PipelinedOp
from .softex import ENGINE_PARAMETERS
from .tensor.geometry import TensorGeometry

__all__ = ["ArithConfig", "ClusterConfig", "TensorConfig", "SoftExConfig", "Config",
           "CONFIGS", "config_names", "get_config", "buffer_align"]


class _Section:
    """Base of a configuration section: every field is checked against ``PARAMETERS``, the
    range objects (:class:`hw.params.Range` / :class:`~hw.params.Choice`) of the component
    that takes it, under the same name."""

    SECTION = ""
    PARAMETERS = {}   # field name -> Range or Choice (the component's own)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            self.PARAMETERS[f.name].check(f"{self.SECTION}.{f.name}", getattr(self, f.name))

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ArithConfig(_Section):
    """BF16/FP32 arithmetic library (``hw.fp``): register stages per operator, fixed-point width.

    Each ``*_latency`` is the ``latency`` argument of the operator (0 = combinational):
    ``add`` FPAdd (bf16 and fp32), ``mul`` FPMul, ``fma`` FPFMA (bf16 and fp32 accumulation),
    ``compare`` FPCompare, ``convert`` FPConvert (fp32 <-> bf16), ``int`` IntToFloat and
    FloatToInt, whose ``width`` is ``fixed_width``.
    """
    SECTION = "arith"
    PARAMETERS = {
        **{f"{op}_latency": PipelinedOp.LATENCY
           for op in ("add", "mul", "fma", "compare", "convert", "int")},
        "fixed_width": IntToFloat.WIDTH,
    }

    add_latency: int = 2
    mul_latency: int = 2
    fma_latency: int = 9
    compare_latency: int = 1
    convert_latency: int = 1
    int_latency: int = 1
    fixed_width: int = 8


@dataclass(frozen=True)
class ClusterConfig(_Section):
    """RISC-V cluster: the arguments of :class:`hw.cluster.system.AcceleratedCluster` (and
    :class:`hw.cluster.Cluster`) of the same names. ``banks`` word-interleaved 32-bit banks
    should be at least as wide as the widest accelerator port (tensor ``cols * (pipes + 1) *
    16`` bits, SoftEx ``lanes * 16`` bits) so that a wide access takes one cycle; ``events``:
    event lines (accelerator done events)."""
    SECTION = "cluster"
    PARAMETERS = AcceleratedCluster.PARAMETERS

    cores: int = 1
    scratchpad_kib: int = 64
    banks: int = 16
    imem_kib: int = 16
    events: int = 4


@dataclass(frozen=True)
class TensorConfig(_Section):
    """Tensor unit FMA array: ``rows`` x ``cols`` computing elements with ``pipes`` pipeline
    registers each (L x H x P; :class:`hw.tensor.TensorUnit` takes the same names). The geometry
    rules (cols * (pipes + 1) a power of two, rows <= cols * (pipes + 1)) are
    :class:`hw.tensor.geometry.TensorGeometry`'s, checked here by building one."""
    SECTION = "tensor"
    PARAMETERS = TensorGeometry.PARAMETERS

    rows: int = 4
    cols: int = 4
    pipes: int = 3

    def __post_init__(self):
        super().__post_init__()
        try:
            TensorGeometry(self.rows, self.cols, self.pipes)
        except ValueError as e:
            raise ValueError(f"tensor: {e}") from None


@dataclass(frozen=True)
class SoftExConfig(_Section):
    """The SoftEx engine: the arguments of :func:`hw.softex.build_engine` of the same names.
    ``engine``: ``expp`` (hw.softex.SoftmaxEngine: softmax with slots, GELU) or a table-based
    engine, ``lut_a`` / ``lut_b`` (hw.softex.LutSoftmaxEngine, docs/lut_softmax.md);
    ``lanes``: datapath lanes; ``expp_latency``: register stages of the expp engine's
    exponential (its three cut points, then the output; 4 puts a register between the
    exponential and the pass-2 multiply; the LUT engines have none); ``gelu_method``: its GELU
    unit, ``table`` (correctly rounded, docs/gelu.md) or ``expp`` (a sum of expp terms, the
    SoftEx paper's approach); ``gelu_latency``: that unit's register stages (None: the unit's
    default, 2 for the table, a register on each of the 15 cut points of the expp unit).
    """
    SECTION = "softex"
    PARAMETERS = ENGINE_PARAMETERS

    engine: str = "expp"
    lanes: int = 8
    expp_latency: int = 2
    gelu_method: str = "table"
    gelu_latency: int | None = None


@dataclass(frozen=True)
class Config:
    """One complete generator configuration."""
    name: str
    arith: ArithConfig = field(default_factory=ArithConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    tensor: TensorConfig = field(default_factory=TensorConfig)
    softex: SoftExConfig = field(default_factory=SoftExConfig)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier (letters, digits, _), got {self.name!r}")
        for f in dataclasses.fields(self):
            if f.name == "name":
                continue
            value = getattr(self, f.name)
            expected = f.default_factory
            if not isinstance(value, expected):
                raise ValueError(f"{f.name} must be a {expected.__name__}, got {value!r}")

    @classmethod
    def sections(cls):
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "name")

    def to_dict(self):
        """Plain JSON-serialisable dict: ``{"name": ..., "arith": {...}, ...}``."""
        return dataclasses.asdict(self)

    def replace(self, **overrides):
        """A copy with some fields changed. Keys are ``section.field`` (use ``**{"a.b": v}``)
        or ``name``; unknown keys raise ValueError listing the valid ones."""
        changes = {}
        for key, value in overrides.items():
            if key == "name":
                changes["name"] = value
                continue
            section, _, fname = key.partition(".")
            if section not in self.sections():
                raise ValueError(f"unknown configuration section {section!r} in {key!r}; "
                                 f"sections: {', '.join(self.sections())}")
            current = changes.get(section, getattr(self, section))
            names = [f.name for f in dataclasses.fields(current)]
            if fname not in names:
                raise ValueError(f"unknown configuration field {key!r}; fields of {section}: "
                                 f"{', '.join(names)}")
            changes[section] = dataclasses.replace(current, **{fname: value})
        return dataclasses.replace(self, **changes)


# What `make sim`, `make verilog` and the cluster row of `make synth` build: sized to fit the
# ECP5-85F. Four expp stages: a register between the exponential and the pass-2 multiply, for
# a higher clock (the figures of both: docs/cluster.md, Synthesis).
_DEFAULT = Config(
    name="default",
    arith=ArithConfig(),
    cluster=ClusterConfig(cores=2, scratchpad_kib=64, banks=16, imem_kib=16),
    tensor=TensorConfig(rows=2, cols=2, pipes=3),
    softex=SoftExConfig(lanes=4, expp_latency=4),
)

CONFIGS = {
    # Fast tests: shallow pipelines (still registered, so sequential paths are exercised).
    "tiny": Config(
        name="tiny",
        arith=ArithConfig(add_latency=1, mul_latency=1, fma_latency=1, compare_latency=0,
                          convert_latency=0, int_latency=0),
        cluster=ClusterConfig(cores=1, scratchpad_kib=16, banks=4, imem_kib=8),
        tensor=TensorConfig(rows=2, cols=2, pipes=1),
        softex=SoftExConfig(lanes=4, gelu_latency=3),
    ),
    "default": _DEFAULT,
    # The default cluster with accelerators twice as wide (and two expp stages): the sizes the
    # block benchmarks and the block rows of `make synth` measure (the former default). Its
    # cluster does not fit the ECP5-85F (docs/cluster.md, Synthesis).
    "large": _DEFAULT.replace(name="large", **{"tensor.rows": 4, "tensor.cols": 4,
                                               "softex.lanes": 8, "softex.expp_latency": 2}),
    # The configuration of docs/architecture.md: 8 cores, 256 KiB, 24 x 8 array, 16-lane SoftEx.
    "paper": Config(
        name="paper",
        arith=ArithConfig(),
        cluster=ClusterConfig(cores=8, scratchpad_kib=256, banks=32, imem_kib=32),
        tensor=TensorConfig(rows=24, cols=8, pipes=3),
        softex=SoftExConfig(lanes=16),
    ),
}


def config_names():
    return tuple(CONFIGS)


def get_config(name_or_config, **overrides):
    """The configuration called ``name`` (or a :class:`Config` passed through), with optional
    ``section.field`` overrides. ValueError listing the names if ``name`` is unknown."""
    if isinstance(name_or_config, Config):
        config = name_or_config
    elif isinstance(name_or_config, str) and name_or_config in CONFIGS:
        config = CONFIGS[name_or_config]
    else:
        raise ValueError(f"unknown configuration {name_or_config!r}; configurations: "
                         f"{', '.join(CONFIGS)}")
    return config.replace(**overrides) if overrides else config


def buffer_align():
    """Byte alignment that satisfies every named configuration's accelerator ports
    (:func:`hw.cluster.system.port_align`): firmware that aligns its buffers and strides to it
    runs unchanged on every configuration of :data:`CONFIGS`."""
    return max(port_align(c.tensor.to_dict(), c.softex.to_dict()) for c in CONFIGS.values())
