"""The attention head (firmware/apps/attention.c, sim/attention.py) on the accelerated cluster
under Verilator: O, and the scores and probabilities of the last query tile, bit for bit
against the golden model made of the blocks' golden models in the firmware's order.

The small head runs on the system tests' tiny build (2 cores): 32 x 4 with query tiles of 12
rows (a leftover tile of 8) and key chunks of 16 (every row split over two SoftEx jobs through
its slot, rows interleaved). The default-configuration demo is ``make sim``."""

import numpy as np
import pytest

from sim.attention import (AttentionShape, attention_inputs, buffer_align_for, errors_vs_float64,
                           golden_attention, run_attention)

from .test_system_verilator import _record, _sim


def _shape(params, **kw):
    return AttentionShape(**{**dict(seq=32, head_dim=4, block_q=12, block_k=16), **kw},
                          align=buffer_align_for(params))


def test_shape_checks():
    with pytest.raises(ValueError, match="head_dim must be a power of 4"):
        AttentionShape(32, 8, 8, 16, align=8)
    with pytest.raises(ValueError, match="block_k must divide seq"):
        AttentionShape(32, 4, 8, 12, align=8)
    with pytest.raises(ValueError, match="block_q must be an integer in"):
        AttentionShape(32, 4, 0, 16, align=8)


def test_golden_attention_close_to_float64():
    """The golden model's O is within a few BF16 roundings of exact attention."""
    shape = AttentionShape(64, 16, 16, 32)
    q, k, v = attention_inputs(shape, seed=3)
    for lanes, softex in ((8, True), (8, False)):
        e = errors_vs_float64(shape, q, k, v, golden_attention(shape, q, k, v, lanes=lanes,
                                                               softex=softex)["o"])
        assert e["max_abs"] < 4 * e["bf16_floor_max_abs"], e
        assert e["mean_abs"] < 4 * e["bf16_floor_mean_abs"], e


def test_golden_error_distribution():
    """The error of the small head's O (the shape of the Verilator test) against float64
    attention, over 40 random heads, as a multiple of the BF16 floor (float64 attention rounded
    once): one head is one sample (the max-abs ratio of a single head ranges from about 1 to 11,
    above 4 on about one head in seven, with the SoftEx before and after issue 21 alike), so
    the bounds are on the distribution: median max-abs ratio below 3, 90th percentile below 5,
    median mean-abs ratio below 3.5 (measured: 2.4, 4.2 and 2.7)."""
    shape = AttentionShape(seq=32, head_dim=4, block_q=12, block_k=16, align=16)
    ratios = []
    for seed in range(40):
        q, k, v = attention_inputs(shape, seed=seed)
        e = errors_vs_float64(shape, q, k, v, golden_attention(shape, q, k, v, lanes=4)["o"])
        ratios.append((e["max_abs"] / e["bf16_floor_max_abs"],
                       e["mean_abs"] / e["bf16_floor_mean_abs"]))
    ratios = np.array(ratios)
    assert np.median(ratios[:, 0]) < 3 and np.percentile(ratios[:, 0], 90) < 5, ratios
    assert np.median(ratios[:, 1]) < 3.5, ratios


@pytest.mark.verilator
@pytest.mark.parametrize("pipeline", [False, True], ids=["serial", "pipelined"])
def test_attention_head_bit_exact(pipeline):
    """Serial: every stage on all cores between barriers (the stages add up to the total).
    Pipelined: core 1 drives the tensor unit and core 0 SoftEx, tiles overlapped through the
    double buffers (three tiles: both halves are reused); the same outputs, in fewer cycles
    than the sum of the stages."""
    sim, params = _sim()
    shape = _shape(params)
    q, k, v = attention_inputs(shape, seed=21)
    got = run_attention(sim, params, shape, q, k, v, pipeline=pipeline)
    assert got["pipelined"] == pipeline and params["cores"] >= 2
    want = golden_attention(shape, q, k, v, lanes=params["softex"]["lanes"],
                            sbuf_addr=got["sbuf_addr"], pipeline=pipeline)
    for name in ("s", "p", "o"):
        bad = np.argwhere(got[name] != want[name])
        assert not len(bad), f"{name}: {len(bad)} mismatches, first at {bad[:4].tolist()}"
    assert set(got["stages"]) == {"scale", "qk", "softmax", "pv"}
    if pipeline:
        assert got["total"] < sum(got["stages"].values())
    else:
        assert sum(got["stages"].values()) == got["total"]
    mode = "_pipelined" if pipeline else ""
    for stage, cyc in got["stages"].items():
        _record(f"attention{mode}_{shape.seq}x{shape.head_dim}_{stage}_cycles", cyc)
    _record(f"attention{mode}_{shape.seq}x{shape.head_dim}_total_cycles", got["total"])
    # O is the golden model's bit for bit (above); the golden model's accuracy is a property
    # of its error distribution, checked over many heads in test_golden_error_distribution
    err = errors_vs_float64(shape, q, k, v, got["o"])
    _record(f"attention{mode}_{shape.seq}x{shape.head_dim}_max_abs_error", err["max_abs"])
    # Without the text report: the same outputs and stage cycles (read back from memory), no
    # text, and the run shorter by the report's cost.
    quiet = run_attention(sim, params, shape, q, k, v, pipeline=pipeline, report=False)
    assert quiet["run"]["output"] == "" and "stage" in got["run"]["output"]
    for name in ("s", "p", "o"):
        assert np.array_equal(quiet[name], got[name])
    assert quiet["stages"] == got["stages"] and quiet["total"] == got["total"]
    assert quiet["run"]["cycles"] < got["run"]["cycles"] - 3000


@pytest.mark.slow
@pytest.mark.verilator
def test_attention_head_in_software_bit_exact():
    """GEMM_SW and SOFTMAX_SW: the same head on the cores alone (bf16_gemm, bf16_softmax), on the
    plain 2-core cluster (no accelerator is touched; a much faster model). O equals the golden
    model with the software softmax: the software GEMM is bit-identical to the tensor unit."""
    from .test_cluster_verilator import CFG, _sim as plain_sim
    shape = AttentionShape(16, 4, 8, 8, align=8)
    q, k, v = attention_inputs(shape, seed=22)
    got = run_attention(plain_sim(), CFG, shape, q, k, v, gemm_sw=True, softmax_sw=True)
    want = golden_attention(shape, q, k, v, lanes=1, softex=False)
    for name in ("s", "p", "o"):
        bad = np.argwhere(got[name] != want[name])
        assert not len(bad), f"{name}: {len(bad)} mismatches, first at {bad[:4].tolist()}"
    assert sum(got["stages"].values()) == got["total"]
    for stage, cyc in got["stages"].items():
        _record(f"attention_sw_{shape.seq}x{shape.head_dim}_{stage}_cycles", cyc)
