# amaranth: UnusedElaboratable=no
"""sim.blocks: the tensor unit and the SoftEx engine alone on the compiled harness (their
``make sim`` regressions' builds). Jobs are bit-exact against the golden models with and
without grant stalls, take the cycles they take under the cocotb benches (JOB_CYCLES of the
same job read from both), and a misprogrammed job ends with its cause."""

import json

import pytest

from sim.blocks import BlockSim, gemm_job, softmax_row_job
from sim.regressions import by_name

pytestmark = pytest.mark.verilator

_SIMS = {}


def _block_sim(name):
    if name not in _SIMS:
        reg = by_name(name)
        p = reg.params
        _SIMS[name] = (reg, BlockSim(reg.component(), reg.name, mem_base=p["mem_base"],
                                     mem_size=p["mem_size"]))
    return _SIMS[name]


def test_tensor_jobs_match_the_cocotb_bench(tmp_path):
    from flows.runner import VerilatorSim
    reg, sim = _block_sim("tensor_unit")
    # the cycles of each job under both benches (the 96^3 GEMM of make sim's block benchmark
    # natively only: tests/tensor's cocotb bench runs that size for the utilisation)
    shapes = [(32, 32, 32, "GEMM"), (17, 33, 5, "MATMUL"), (9, 31, 17, "ADD_MAX")]
    native = []
    with sim.open() as blk:
        for i, (m, n, k, op) in enumerate(shapes):
            native.append(gemm_job(blk, m, n, k, op=op, seed=i)["JOB_CYCLES"])
        gemm_job(blk, 96, 96, 96, op="GEMM", seed=7)     # bit-exact (gemm_job checks)
    with sim.open(stall=0.4, seed=5) as blk:            # stalls: still bit-exact, slower
        stalled = gemm_job(blk, 17, 33, 5, op="MATMUL", seed=1)
        assert stalled["JOB_CYCLES"] > native[1] and stalled["STALL_CYCLES"] > 0
    out = tmp_path / "res.json"
    p = reg.params
    VerilatorSim.for_component(reg.component(), reg.name).run(
        "sim.benches.tensor_tb", name="native_cross_check",
        params=dict(L=p["L"], H=p["H"], P=p["P"], acc=p["acc"], mem_base=p["mem_base"],
                    mem_size=p["mem_size"], stall=0.0, results=str(out),
                    jobs=[[dict(M=m, N=n, K=k, op=op, seed=i)]
                          for i, (m, n, k, op) in enumerate(shapes)]))
    cocotb = [r["counters"]["JOB_CYCLES"] for r in json.loads(out.read_text())]
    assert native == cocotb


def test_tensor_misprogrammed_job_ends_with_its_cause():
    from hw.tensor.regmap import TensorError
    _, sim = _block_sim("tensor_unit")
    with sim.open() as blk:
        cause, _, _ = blk.job(dict(DIM_MN={"M": 0, "N": 4}, DIM_K={"K": 4}, COMMAND={"OP": 0}))
        assert cause == int(TensorError.BAD_DIM)
        gemm_job(blk, 4, 16, 4, seed=3)                 # the unit works on afterwards


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_softmax_rows(stall):
    reg, sim = _block_sim("softmax_l8")
    lanes = reg.params["lanes"]
    with sim.open(stall=stall, seed=2) as blk:
        for i, n in enumerate((64, 1024, 1000)):
            ctr = softmax_row_job(blk, n, lanes=lanes, seed=i)
            if stall == 0 and n in (64, 1024):
                # docs/softmax.md: 3 ceil(n / L) + 46 cycles per row at L = 8 without stalls
                assert ctr["JOB_CYCLES"] == 3 * n // lanes + 46
