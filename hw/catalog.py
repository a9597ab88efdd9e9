"""The catalogue: the one registry of the components a configuration builds, used by
emission (``make verilog``), synthesis (``make synth``), the block regressions (``make sim``)
and the benchmarks.

``components(config)`` returns ``{name: ComponentSpec}``. A :class:`ComponentSpec` is a
deferred constructor call: calling it builds a fresh component; keyword arguments override its
parameters (the synthesis flow sweeps ``latency`` this way: ``spec(latency=0)``; a dict-valued
argument such as the cluster's ``softex`` is merged key by key). ``spec.params`` is the
JSON-safe parameter record written to ``manifest.json``. ``build(config, name, **overrides)``
builds one component.

This is the one road from a configuration to hardware: each entry passes its configuration
section to the component unchanged (the fields have the constructor's argument names, see
:mod:`hw.config`). Adding a block: write ``def _myblock(config) -> dict[str, ComponentSpec]``
reading its section and append it to :data:`_PROVIDERS`. Names must be unique, lower-case
identifiers; they become Verilog module and file names.
"""

import re
import sys

from .cluster.system import AcceleratedCluster
from .config import get_config
from .fp import FPFMA, FPAdd, FPCompare, FPConvert, FPMul, FPScale, FloatToInt, IntToFloat
from .fp.format import BF16, FP32, FloatFormat
from .softex import Expp, LutSoftmaxEngine, SoftmaxEngine
from .softex.softmax import GELU_DEFAULT_LATENCY, GELU_METHODS, GELU_UNITS
from .tensor import TensorUnit

__all__ = ["ComponentSpec", "components", "component", "build"]


def _public_name(cls):
    """``package.Class`` for the shortest package path that exports ``cls`` (``hw.fp.FPAdd``
    rather than ``hw.fp.add.FPAdd``)."""
    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:n]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(parts[:n])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


class ComponentSpec:
    """A deferred call of ``constructor`` (a component class or a function that returns one)
    with positional and keyword arguments, and a one-line ``description``."""

    def __init__(self, constructor, *args, description="", **kwargs):
        if not callable(constructor):
            raise ValueError(f"constructor must be a component class or function, "
                             f"got {constructor!r}")
        self.constructor = constructor
        self.args = args
        self.kwargs = kwargs
        self.description = description

    def _merged(self, overrides):
        merged = dict(self.kwargs)
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                value = {**merged[key], **value}
            merged[key] = value
        return merged

    def __call__(self, **overrides):
        kwargs = self._merged(overrides)
        component = self.constructor(*self.args, **kwargs)
        # What the component was built from (JSON-safe): flows.emit.verilog_text caches the
        # Verilog of catalogue components under it.
        try:
            component.catalog_record = self._record(self.args, kwargs)
        except AttributeError:          # a constructor that returns something frozen
            pass
        return component

    def replace(self, **overrides):
        """A spec with some keyword parameters changed (dict-valued ones merged)."""
        return ComponentSpec(self.constructor, *self.args, description=self.description,
                             **self._merged(overrides))

    @property
    def latency(self):
        return self.kwargs.get("latency")

    @staticmethod
    def _plain(v):
        if isinstance(v, FloatFormat):
            return v.name
        if isinstance(v, (list, tuple)):
            return [ComponentSpec._plain(x) for x in v]
        if isinstance(v, dict):
            return {k: ComponentSpec._plain(x) for k, x in v.items()}
        return v

    def _record(self, args, kwargs):
        record = {"class": _public_name(self.constructor)}
        if args:
            record["args"] = [self._plain(a) for a in args]
        record.update({k: self._plain(v) for k, v in kwargs.items()})
        return record

    @property
    def params(self):
        """JSON-safe parameters (formats by name)."""
        return self._record(self.args, self.kwargs)

    def __repr__(self):
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"ComponentSpec({_public_name(self.constructor)}({', '.join(args)}))"


def _arith(config):
    a = config.arith
    w = a.fixed_width
    return {
        "add_bf16": ComponentSpec(FPAdd, fmt=BF16, latency=a.add_latency,
                                  description="bf16 add/sub"),
        "add_fp32": ComponentSpec(FPAdd, fmt=FP32, latency=a.add_latency,
                                  description="fp32 add/sub"),
        "mul_bf16": ComponentSpec(FPMul, fmt=BF16, latency=a.mul_latency,
                                  description="bf16 multiply"),
        "fma_bf16": ComponentSpec(FPFMA, acc_fmt=BF16, mul_fmt=BF16,
                                  latency=a.fma_latency,
                                  description="fused a*b+c, bf16 operands, bf16 accumulator"),
        "fma_fp32": ComponentSpec(FPFMA, acc_fmt=FP32, mul_fmt=BF16,
                                  latency=a.fma_latency,
                                  description="fused a*b+c, bf16 operands, fp32 accumulator"),
        "compare_bf16": ComponentSpec(FPCompare, fmt=BF16,
                                      latency=a.compare_latency,
                                      description="bf16 min/max/lt/eq/gt/unordered"),
        "cvt_fp32_bf16": ComponentSpec(FPConvert, src_fmt=FP32, dst_fmt=BF16,
                                       latency=a.convert_latency,
                                       description="fp32 -> bf16, round to nearest even"),
        "cvt_bf16_fp32": ComponentSpec(FPConvert, src_fmt=BF16, dst_fmt=FP32,
                                       latency=a.convert_latency,
                                       description="bf16 -> fp32, exact"),
        "scale_bf16": ComponentSpec(FPScale, fmt=BF16, exp_width=8, latency=a.convert_latency,
                                    description="bf16 * 2^e, e in -128..127 (the tensor unit's "
                                                "W_EXP)"),
        f"int{w}_to_bf16": ComponentSpec(IntToFloat, width=w, fmt=BF16,
                                         latency=a.int_latency,
                                         description=f"{w}-bit fixed point -> bf16"),
        f"bf16_to_int{w}": ComponentSpec(FloatToInt, width=w, fmt=BF16,
                                         latency=a.int_latency,
                                         description=f"bf16 -> {w}-bit fixed point, saturating"),
    }


def _gelu_unit(method, lanes, latency, description):
    """The GELU unit ``method`` of :class:`SoftmaxEngine` as the engine builds it (``latency``
    None: the method's default)."""
    if latency is None:
        latency = GELU_DEFAULT_LATENCY[method]
    return ComponentSpec(GELU_UNITS[method], lanes=lanes, latency=latency,
                         description=description)


def _softex(config):
    lanes = config.softex.lanes
    return {
        f"expp_x{lanes}": ComponentSpec(
            Expp, lanes=lanes, mode="accurate", latency=2,
            description=f"expp exponential, {lanes} lanes, accurate mode"),
        # The engine's GELU unit (half a beat per cycle), and the other method beside it, so
        # that `make synth` shows both.
        f"gelu_x{lanes // 2}": _gelu_unit(
            config.softex.gelu_method, lanes // 2, config.softex.gelu_latency,
            f"GELU unit (the SoftEx engine's, {config.softex.gelu_method}), {lanes // 2} lanes"),
        **{f"gelu_{method}_x{lanes // 2}": _gelu_unit(
            method, lanes // 2, None, f"GELU unit, method {method}, {lanes // 2} lanes")
           for method in GELU_METHODS if method != config.softex.gelu_method},
        f"softex_softmax_x{lanes}": ComponentSpec(
            SoftmaxEngine, lanes, expp_latency=config.softex.expp_latency,
            gelu_method=config.softex.gelu_method, gelu_latency=config.softex.gelu_latency,
            description=f"SoftEx engine (softmax and GELU jobs), {lanes} lanes"),
        # The table-based alternatives (config softex.engine chooses the one the cluster gets);
        # always emitted, so that their cost sits next to the expp engine's in `make synth`.
        **{f"softex_lut_{method}_x{lanes}":
           ComponentSpec(LutSoftmaxEngine, lanes, method=method,
                         description=f"LUT softmax engine, method {method.upper()}, {lanes} lanes")
           for method in ("a", "b")},
    }


def _tensor(config):
    t = config.tensor
    name = f"tensor_{t.rows}x{t.cols}x{t.pipes}"
    return {name: ComponentSpec(TensorUnit, **t.to_dict(), acc="fp32",
                                description=f"tensor unit, {t.rows}x{t.cols}x{t.pipes} BF16 array, "
                                            "fp32 accumulation")}


def _cluster(config):
    c, t, sx = config.cluster, config.tensor, config.softex
    return {"cluster": ComponentSpec(
        AcceleratedCluster, **c.to_dict(), softex=sx.to_dict(), tensor=t.to_dict(),
        description=f"cluster: {c.cores} core{'s' * (c.cores > 1)}, {c.scratchpad_kib} KiB "
                    f"scratchpad in {c.banks} banks, SoftEx "
                    f"({sx.engine}, {sx.lanes} lanes, expp latency {sx.expp_latency}) and "
                    f"tensor unit ({t.rows}x{t.cols}x{t.pipes})")}


# One function per block, in emission order. Later blocks append themselves here.
_PROVIDERS = [_arith, _softex, _tensor, _cluster]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def components(config="default"):
    """``{name: ComponentSpec}`` of every component of ``config`` (a Config or its name)."""
    config = get_config(config)
    result = {}
    for provider in _PROVIDERS:
        for name, spec in provider(config).items():
            if not _NAME.match(name):
                raise ValueError(f"component name {name!r} must match {_NAME.pattern}")
            if name in result:
                raise ValueError(f"component name {name!r} defined twice ({provider.__name__})")
            result[name] = spec
    return result


def component(config, name):
    """The spec of one component; ValueError listing the names if unknown."""
    specs = components(config)
    if name not in specs:
        raise ValueError(f"unknown component {name!r}; components: {', '.join(specs)}")
    return specs[name]


def build(config, name, **overrides):
    """Component ``name`` of ``config`` (a Config or its name), built with ``overrides``."""
    return component(config, name)(**overrides)
