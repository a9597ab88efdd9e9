"""The catalogue of components a configuration emits (``make verilog``) and synthesises.

``components(config)`` returns ``{name: factory}``. A factory is a :class:`ComponentSpec`:
calling it builds a fresh component; keyword arguments override its parameters (the synthesis
flow sweeps ``latency`` this way: ``spec(latency=0)``). ``spec.params`` is the JSON-safe
parameter record written to ``manifest.json``.

Adding a block: write ``def _myblock(config) -> dict[str, ComponentSpec]`` reading its section
of the configuration and append it to :data:`_PROVIDERS`. Names must be unique, lower-case
identifiers; they become Verilog module and file names.
"""

import importlib
import re

from .config import get_config
from .fp.format import BF16, FP32, FloatFormat

__all__ = ["ComponentSpec", "components", "component"]


class ComponentSpec:
    """A deferred component constructor: ``"module:Class"``, positional and keyword arguments.

    The class is imported only when the component is built, so the catalogue can be listed
    (and this module imported) while a block is still missing.
    """

    def __init__(self, target, *args, description="", **kwargs):
        if not isinstance(target, str) or ":" not in target:
            raise ValueError(f"target must be 'module:Class', got {target!r}")
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.description = description

    def resolve(self):
        module, _, qualname = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
        except ImportError as e:
            raise ImportError(f"cannot build {self.target}: module {module!r} is not available "
                              f"({e})") from e
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj

    def __call__(self, **overrides):
        return self.resolve()(*self.args, **{**self.kwargs, **overrides})

    def replace(self, **overrides):
        """A spec with some keyword parameters changed."""
        return ComponentSpec(self.target, *self.args, description=self.description,
                             **{**self.kwargs, **overrides})

    @property
    def latency(self):
        return self.kwargs.get("latency")

    @property
    def params(self):
        """JSON-safe parameters (formats by name)."""
        def plain(v):
            if isinstance(v, FloatFormat):
                return v.name
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v
        record = {"class": self.target.replace(":", ".")}
        if self.args:
            record["args"] = [plain(a) for a in self.args]
        record.update({k: plain(v) for k, v in self.kwargs.items()})
        return record

    def __repr__(self):
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"ComponentSpec({self.target}({', '.join(args)}))"


def _arith(config):
    a = config.arith
    w = a.fixed_width
    return {
        "add_bf16": ComponentSpec("hw.fp:FPAdd", fmt=BF16, latency=a.add_latency,
                                  description="bf16 add/sub"),
        "add_fp32": ComponentSpec("hw.fp:FPAdd", fmt=FP32, latency=a.add_latency,
                                  description="fp32 add/sub"),
        "mul_bf16": ComponentSpec("hw.fp:FPMul", fmt=BF16, latency=a.mul_latency,
                                  description="bf16 multiply"),
        "fma_bf16": ComponentSpec("hw.fp:FPFMA", acc_fmt=BF16, mul_fmt=BF16,
                                  latency=a.fma_latency,
                                  description="fused a*b+c, bf16 operands, bf16 accumulator"),
        "fma_fp32": ComponentSpec("hw.fp:FPFMA", acc_fmt=FP32, mul_fmt=BF16,
                                  latency=a.fma_latency,
                                  description="fused a*b+c, bf16 operands, fp32 accumulator"),
        "compare_bf16": ComponentSpec("hw.fp:FPCompare", fmt=BF16,
                                      latency=a.compare_latency,
                                      description="bf16 min/max/lt/eq/gt/unordered"),
        "cvt_fp32_bf16": ComponentSpec("hw.fp:FPConvert", src_fmt=FP32, dst_fmt=BF16,
                                       latency=a.convert_latency,
                                       description="fp32 -> bf16, round to nearest even"),
        "cvt_bf16_fp32": ComponentSpec("hw.fp:FPConvert", src_fmt=BF16, dst_fmt=FP32,
                                       latency=a.convert_latency,
                                       description="bf16 -> fp32, exact"),
        f"int{w}_to_bf16": ComponentSpec("hw.fp:IntToFloat", width=w, fmt=BF16,
                                         latency=a.int_latency,
                                         description=f"{w}-bit fixed point -> bf16"),
        f"bf16_to_int{w}": ComponentSpec("hw.fp:FloatToInt", width=w, fmt=BF16,
                                         latency=a.int_latency,
                                         description=f"bf16 -> {w}-bit fixed point, saturating"),
    }


def _softex(config):
    lanes = config.softex.lanes
    return {
        f"expp_x{lanes}": ComponentSpec("hw.softex:Expp", lanes, mode="accurate", latency=2,
                                        description=f"expp exponential, {lanes} lanes, accurate mode"),
        f"softex_softmax_x{lanes}": ComponentSpec(
            "hw.softex:SoftmaxEngine", lanes, expp_latency=config.softex.expp_latency,
            description=f"SoftEx engine (softmax and GELU jobs), {lanes} lanes"),
        # The table-based alternatives (config softex.engine chooses the one the cluster gets);
        # always emitted, so that their cost sits next to the expp engine's in `make synth`.
        **{f"softex_lut_{method}_x{lanes}":
           ComponentSpec("hw.softex:LutSoftmaxEngine", lanes, method=method,
                         description=f"LUT softmax engine, method {method.upper()}, {lanes} lanes")
           for method in ("a", "b")},
    }


def _tensor(config):
    t = config.tensor
    name = f"tensor_{t.rows}x{t.cols}x{t.pipes}"
    return {name: ComponentSpec("hw.tensor:TensorUnit", t.rows, t.cols, t.pipes, "fp32",
                                description=f"tensor unit, {t.rows}x{t.cols}x{t.pipes} BF16 array, "
                                            "fp32 accumulation")}


def _cluster(config):
    c, t, sx = config.cluster, config.tensor, config.softex
    return {"cluster": ComponentSpec(
        "hw.cluster.system:AcceleratedCluster", cores=c.cores, spm_kib=c.scratchpad_kib,
        banks=c.banks, imem_kib=c.imem_kib, events=c.events, softex_lanes=sx.lanes,
        softex_engine=sx.engine, softex_expp_latency=sx.expp_latency,
        tensor=[t.rows, t.cols, t.pipes],
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
