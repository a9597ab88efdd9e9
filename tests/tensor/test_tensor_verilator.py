# amaranth: UnusedElaboratable=no
"""The tensor unit under Verilator (tests/tb/tensor_tb.py): every result 0 ULP against
sim.golden.gemm, random grant stalls, back-to-back jobs on both contexts, misprogrammed jobs,
a soft clear in the middle of a job, and the utilisation target at 96 x 96 x 96."""

import json

import pytest

MEM_BASE, MEM_SIZE = 0x1000_0000, 1 << 19

#: (M, N, K) with L=4, D=16, H=4: 1s, primes, just below/at/above tile multiples in every
#: dimension (M vs L, N vs D, K vs H and vs the X beat D), and 96^3.
SHAPES = [
    (1, 1, 1), (1, 16, 4), (4, 16, 16), (3, 5, 7), (5, 17, 3), (7, 13, 11), (8, 32, 8),
    (4, 15, 5), (9, 31, 17), (11, 33, 15), (13, 1, 19), (2, 47, 2), (17, 16, 1), (6, 18, 33),
    (12, 64, 31), (23, 29, 37), (1, 97, 13), (31, 3, 64), (16, 48, 65), (5, 2, 129),
    (33, 17, 47), (3, 80, 63), (20, 20, 20), (29, 41, 7), (96, 96, 96),
]
OPS = ["ADD_MAX", "ADD_MIN", "MUL_MAX", "MUL_MIN", "MAX_MIN", "MIN_MAX"]


def _sim(acc="fp32"):
    from hw.tensor.top import TensorUnit
    from sim.runner import VerilatorSim
    dut = TensorUnit(acc=acc, mem_base=MEM_BASE, mem_size=MEM_SIZE)
    return VerilatorSim.for_component(dut, name="tensor_unit" if acc == "fp32" else f"tensor_unit_{acc}")


def _run(tmp_path, name, jobs, acc="fp32", **params):
    sim = _sim(acc)
    out = tmp_path / f"{name}.json"
    sim.run("tests.tb.tensor_tb", name=name,
            params=dict(dict(L=4, H=4, P=3, acc=acc, mem_base=MEM_BASE, mem_size=MEM_SIZE,
                             jobs=jobs, results=str(out)), **params))
    return json.loads(out.read_text())


@pytest.mark.verilator
def test_shapes_matmul_gemm_stalls(tmp_path):
    jobs = [[dict(M=m, N=n, K=k, op="GEMM" if i % 2 else "MATMUL", data="normal", seed=i,
                  pad=i % 3)] for i, (m, n, k) in enumerate(SHAPES)]
    res = _run(tmp_path, "shapes", jobs, stall=0.3, seed=3)
    assert len(res) == len(SHAPES)


@pytest.mark.verilator
def test_special_operands_and_ops(tmp_path):
    shapes = [(5, 17, 9), (4, 16, 4), (7, 3, 23), (9, 33, 5)]
    jobs = []
    for i, (m, n, k) in enumerate(shapes):
        for data in ("special", "cancel"):
            jobs.append([dict(M=m, N=n, K=k, op="GEMM", data=data, seed=100 + i)])
            jobs.append([dict(M=m, N=n, K=k, op="MATMUL", data=data, seed=200 + i)])
    for i, op in enumerate(OPS):
        m, n, k = shapes[i % len(shapes)]
        jobs.append([dict(M=m, N=n, K=k, op=op, data="normal", seed=300 + i)])
        jobs.append([dict(M=k, N=m, K=n, op=op, data="special", seed=400 + i)])
    _run(tmp_path, "special", jobs, stall=0.2, seed=5)


@pytest.mark.verilator
def test_back_to_back_and_errors(tmp_path):
    bad = [("zero_m", "BAD_DIM"), ("big_k", "BAD_DIM"), ("op", "BAD_OP"), ("align", "BAD_ALIGN"),
           ("stride", "BAD_STRIDE"), ("addr", "BAD_ADDR"), ("below", "BAD_ADDR")]
    jobs = []
    for i, (b, cause) in enumerate(bad):
        jobs.append([dict(M=5, N=20, K=7, bad=b, cause=cause)])
        # a good job right after every bad one, and pairs on both contexts
        jobs.append([dict(M=6, N=17, K=9, op="GEMM", seed=500 + i),
                     dict(M=3, N=40, K=21, op=OPS[i % len(OPS)], seed=600 + i)])
    jobs.append([dict(M=5, N=5, K=5, seed=700), dict(M=4, N=16, K=1, bad="op", cause="BAD_OP")])
    # soft clear in the middle of a job, then a good pair again
    jobs.append({"clear_after": 150, "job": dict(M=20, N=40, K=30, op="GEMM", seed=800)})
    jobs.append([dict(M=9, N=19, K=13, op="GEMM", seed=801), dict(M=4, N=16, K=4, seed=802)])
    _run(tmp_path, "b2b", jobs, stall=0.25, seed=7, gap_prob=0.3)


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
