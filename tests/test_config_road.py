"""One road from a configuration to what make sim runs: the block regressions and the attention
demo's shape come from the configuration, for every named configuration and for others."""

import pytest

from hw.catalog import components
from hw.cluster.system import port_align
from hw.config import get_config
from sim.attention import DEMO_SHAPES, STACK_BYTES, AttentionShape, demo_shape
from sim.regressions import regressions

NAMED = ["tiny", "default", "large", "paper"]
#: Valid configurations no table names: other scratchpads, lanes, arrays, cores and latencies.
OTHERS = [
    {"cluster.scratchpad_kib": 32, "softex.lanes": 16, "tensor.cols": 8, "tensor.pipes": 1},
    {"cluster.cores": 4, "cluster.scratchpad_kib": 128, "softex.engine": "lut_a"},
    {"tensor.rows": 8, "tensor.cols": 8, "tensor.pipes": 3, "arith.fma_latency": 0},
    {"softex.lanes": 32, "cluster.scratchpad_kib": 512, "softex.expp_latency": 6},
]


def _configs():
    return [get_config(n) for n in NAMED] + [get_config("default", **o) for o in OTHERS]


def _ids():
    return NAMED + [",".join(f"{k}={v}" for k, v in o.items()) for o in OTHERS]


@pytest.mark.parametrize("name, shape", [
    ("tiny", (32, 4, 12, 16)), ("default", (128, 16, 16, 64)), ("large", (128, 16, 16, 64)),
    ("paper", (256, 64, 32, 128))])
def test_demo_shape_of_the_named_configurations(name, shape):
    """The shapes the attention demo and the cluster benchmark have always run."""
    s = demo_shape(name)
    assert (s.seq, s.head_dim, s.block_q, s.block_k) == shape


@pytest.mark.parametrize("config", _configs(), ids=_ids())
def test_demo_shape_fits_any_configuration(config):
    s = demo_shape(config)
    c = config.cluster
    assert s.scratchpad_bytes(pipeline=True) + STACK_BYTES * c.cores <= 1024 * c.scratchpad_kib
    assert s.align == port_align(config.tensor.to_dict(), config.softex.to_dict())
    assert all(v % s.align == 0 for v in s.strides.values())
    # the largest that fits: the next one up would not
    bigger = [d for d in DEMO_SHAPES if d[0] > s.seq]
    if bigger:
        seq, head_dim, block_q, block_k = bigger[0]
        if (2 * block_k) % s.align == 0:
            need = AttentionShape(seq, head_dim, block_q, block_k, align=s.align)
            assert need.scratchpad_bytes(pipeline=True) + STACK_BYTES * c.cores > \
                1024 * c.scratchpad_kib


def test_demo_shape_too_small_a_scratchpad():
    with pytest.raises(ValueError, match="no attention head .* fits 2 KiB of scratchpad"):
        demo_shape(get_config("tiny", **{"cluster.scratchpad_kib": 2}))


@pytest.mark.parametrize("config", _configs(), ids=_ids())
def test_regressions_use_the_configuration(config):
    """make sim CONFIG=...: every block is the catalogue's entry of that configuration."""
    regs = {r.name: r for r in regressions(config)}
    specs = components(config)
    sx, t, a = config.softex, config.tensor, config.arith
    softmax = regs[f"softmax_l{sx.lanes}"].spec
    assert softmax.constructor is specs[f"softex_softmax_x{sx.lanes}"].constructor
    assert softmax.args == (sx.lanes,) and softmax.kwargs["expp_latency"] == sx.expp_latency
    assert softmax.kwargs["gelu_latency"] == sx.gelu_latency
    assert softmax.kwargs["gelu_method"] == sx.gelu_method
    assert regs[f"softmax_l{sx.lanes}"].params["gelu_method"] == sx.gelu_method
    unit = specs[f"gelu_x{sx.lanes // 2}"]
    built = softmax().gelu_unit
    assert unit.constructor is type(built) and unit.kwargs["latency"] == built.latency
    tensor = regs["tensor_unit"]
    assert {k: tensor.spec.kwargs[k] for k in ("rows", "cols", "pipes")} == t.to_dict()
    assert (tensor.params["L"], tensor.params["H"], tensor.params["P"]) == \
        (t.rows, t.cols, t.pipes)
    assert regs["fp_fma_fp32"].spec.kwargs["latency"] == a.fma_latency
    assert regs["fp_compare_bf16"].spec.kwargs["latency"] == a.compare_latency
    assert f"fp_int_to_float_{a.fixed_width}" in regs
    for method in "ab":
        assert regs[f"lut_softmax_{method}_l{sx.lanes}"].spec.args == (sx.lanes,)
    assert len(regs) == len(regressions(config))          # names are unique
