# amaranth: UnusedElaboratable=no
"""The tensor unit under Verilator (sim/benches/tensor_tb.py): every result 0 ULP against
sim.golden.gemm, random grant stalls, back-to-back jobs on both contexts, misprogrammed jobs,
a soft clear in the middle of a job, and the utilisation target at 96 x 96 x 96."""

import json

import pytest

from sim.regressions import TENSOR_MEM, TENSOR_SHAPES, tensor_jobs

MEM_BASE, MEM_SIZE = TENSOR_MEM
SHAPES = TENSOR_SHAPES


def _sim(acc="fp32"):
    from hw.tensor.top import TensorUnit
    from flows.runner import VerilatorSim
    dut = TensorUnit(acc=acc, mem_base=MEM_BASE, mem_size=MEM_SIZE)
    return VerilatorSim.for_component(dut, name="tensor_unit" if acc == "fp32" else f"tensor_unit_{acc}")


def _run(tmp_path, name, jobs, acc="fp32", **params):
    sim = _sim(acc)
    out = tmp_path / f"{name}.json"
    sim.run("sim.benches.tensor_tb", name=name,
            params=dict(dict(L=4, H=4, P=3, acc=acc, mem_base=MEM_BASE, mem_size=MEM_SIZE,
                             jobs=jobs, results=str(out)), **params))
    return json.loads(out.read_text())


@pytest.mark.verilator
def test_shapes_matmul_gemm_stalls(tmp_path):
    res = _run(tmp_path, "shapes", tensor_jobs("shapes"), stall=0.3, seed=3)
    assert len(res) == len(SHAPES)


@pytest.mark.verilator
def test_special_operands_and_ops(tmp_path):
    _run(tmp_path, "special", tensor_jobs("special"), stall=0.2, seed=5)


@pytest.mark.verilator
def test_back_to_back_and_errors(tmp_path):
    _run(tmp_path, "b2b", tensor_jobs("b2b"), stall=0.25, seed=7, gap_prob=0.3)


@pytest.mark.verilator
def test_utilisation_96(tmp_path):
    res = _run(tmp_path, "util96", [[dict(M=96, N=96, K=96, op="MATMUL", seed=1)],
                                    [dict(M=96, N=96, K=96, op="GEMM", seed=2)]], stall=0.0)
    for r in res:
        assert r["util"] >= 0.99, r


@pytest.mark.verilator
@pytest.mark.slow
def test_bf16_accumulation(tmp_path):
    jobs = [[dict(M=m, N=n, K=k, op=("MATMUL", "GEMM", "ADD_MAX")[i % 3], data=("normal", "special")[i % 2],
                  seed=i)] for i, (m, n, k) in enumerate(SHAPES[:12])]
    _run(tmp_path, "bf16", jobs, acc="bf16", stall=0.2, seed=9)
