# amaranth: UnusedElaboratable=no
"""sim.faults: the statistics, the classification rule, the fault draw, and campaigns on the tiny
configuration's tensor unit built with taps: planted faults get the outcome they must (a flip in
a register that is overwritten is masked, one in an accumulator at the right time is a critical
SDC, a stuck control bit is a hang), the Verilated taps flip the named bit at the named cycle,
and a campaign's rows depend on its seed only, not on the number of Dask workers."""

import math

import numpy as np
import pytest

from hw.faults import FaultKind
from sim.faults import draw_faults, run_campaign, target, wilson
from sim.faults.outcomes import OUTCOMES, TOLERANCE_ULP, bf16_errors, classify_run, hang_limit
from sim.faults.stats import rule_of_three, runs_for_margin
from sim.faults.targets import NO_FAULT, Fault

# ---- statistics and classification (no simulator) ----------------------------------------------


def test_wilson_interval():
    p, lo, hi = wilson(50, 100)
    assert p == 0.5 and lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962,
                                                                                    abs=1e-4)
    p, lo, hi = wilson(0, 1000)
    assert p == 0 and lo == 0 and hi == pytest.approx(0.00383, abs=1e-5)
    assert hi < rule_of_three(1000) * 1.3
    _, lo, hi = wilson(1000, 1000)
    assert hi == 1 and lo == pytest.approx(1 - 0.00383, abs=1e-5)
    assert runs_for_margin(0.01) == 9604                # Leveugle et al.: about 9,600 runs
    with pytest.raises(ValueError, match="k must be"):
        wilson(5, 4)


def _bf16(values):
    return (np.asarray(values, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def test_bf16_errors():
    g = _bf16([1.0, -2.0, 0.0, 3.0])
    assert bf16_errors(g, g) == (0.0, 0)
    one_up = g.copy()
    one_up[0] += 1                                       # the next BF16 value above 1.0
    assert bf16_errors(g, one_up) == (2.0 ** -7, 1)
    crossed = g.copy()
    crossed[2] = 0x8000                                  # -0 == +0 in value order
    assert bf16_errors(g, crossed) == (0.0, 0)
    nan = g.copy()
    nan[1] = 0x7FC0
    assert bf16_errors(g, nan) == (math.inf, math.inf)


def _record(**kw):
    base = dict(hang=False, cause=0, outputs=_bf16([1.0, 2.0]), digest=7, pending=False,
                cycles=100)
    return {**base, **kw}


@pytest.mark.parametrize("run,outcome", [
    (dict(), "masked"),
    (dict(digest=8), "latent"),
    (dict(pending=True), "latent"),
    (dict(outputs=_bf16([1.0, 2.0]) + np.array([0, 1], np.uint16)), "sdc-tolerable"),
    (dict(outputs=_bf16([1.0, 2.5])), "sdc-critical"),
    (dict(hang=True, outputs=None), "hang"),
    (dict(cause=3), "error"),
    (dict(flag=True, corrected=True), "detected-corrected"),
    (dict(flag=True, recomputed=True), "detected-recomputed"),
    (dict(flag=True), "detected-masked"),
    (dict(flag=True, outputs=_bf16([1.0, 2.5])), "detected-uncorrected"),
])
def test_classification(run, outcome):
    assert TOLERANCE_ULP == 1
    got, _, _ = classify_run(_record(), _record(**run))
    assert got == outcome and got in OUTCOMES


def test_hang_limit_is_inject_a_faults_rule():
    assert hang_limit(1000) == 1200 + 100


def test_fault_draw_is_uniform_over_bits_and_reproducible():
    fmap = [dict(id=0, bits=1, width=1, depth=1, **{"class": "control"}),
            dict(id=1, bits=3, width=3, depth=1, **{"class": "datapath"}),
            dict(id=2, bits=64, width=8, depth=8, **{"class": "memory"})]
    faults = draw_faults(fmap, (10, 20), 20_000, seed=3)
    assert faults == draw_faults(fmap, (10, 20), 20_000, seed=3)
    assert faults != draw_faults(fmap, (10, 20), 20_000, seed=4)
    counts = np.bincount([f.target for f in faults], minlength=3) / len(faults)
    assert np.allclose(counts, np.array([1, 3, 64]) / 68, atol=0.01)
    assert {f.cycle for f in faults} == set(range(10, 20))
    mem = [f for f in faults if f.target == 2]
    assert {(f.word, f.bit) for f in mem} == {(w, b) for w in range(8) for b in range(8)}
    logic = draw_faults(fmap, (10, 20), 500, seed=3, classes=("control", "datapath"))
    assert {f.target for f in logic} == {0, 1}
    with pytest.raises(ValueError, match="classes must be"):
        draw_faults(fmap, (10, 20), 5, seed=3, classes=("registers",))


# ---- campaigns on the tiny tensor unit -----------------------------------------------------------

TENSOR = dict(config="tiny", m=16, n=16, k=16)


@pytest.fixture(scope="module")
def tensor():
    spec = target("tensor", **TENSOR)
    prepared = spec.prepare()
    return spec, prepared, prepared.golden()


def _by_name(prepared, name):
    return next(t for t in prepared.fault_map if t["name"] == name)


def _outcome(prepared, golden, fault):
    return classify_run(golden, prepared.execute(fault, hang_limit(golden["cycles"])))[0]


@pytest.mark.verilator
def test_golden_run_with_taps_is_the_untapped_run(tensor):
    """No fault programmed: the same output and cycles as the block without taps."""
    from sim.blocks import BlockSim
    spec, prepared, golden = tensor
    reg = spec.regression()
    p = reg.params
    plain = BlockSim(reg.component(), "tensor_tiny_plain", mem_base=p["mem_base"],
                     mem_size=p["mem_size"])
    with plain.open() as blk:
        registers = spec.setup(blk)
        cause, counters, cycles = blk.job(registers)
        memory = np.frombuffer(blk.mem.read(p["mem_base"], p["mem_size"]), np.uint16)
    assert cause == 0 and np.array_equal(memory, golden["outputs"])
    assert cycles == golden["cycles"]


@pytest.mark.verilator
def test_verilated_tap_flips_the_named_bit_at_the_named_cycle(tensor):
    """On the Verilated model: the digest of the registers one cycle after the fault differs
    from the golden run's by exactly the flipped bit (rotated as the digest rotates target
    ``id``), for registers across the design, at cycles across the job."""
    from sim.blocks import run_sync
    from sim.faults.targets import pack_fault
    spec, prepared, golden = tensor
    rng = np.random.default_rng(11)
    regs = [t for t in prepared.fault_map if t["kind"] == "register"]
    start, end = golden["window"]

    def digest_at(fault, cycle):
        with prepared.sim.open() as blk:
            blk.model.set_bytes("fault", pack_fault(prepared.layout, fault))
            run_sync(blk.regs.program(spec.setup(blk)))
            _, hit = blk.model.run_until("fault_now", cycle, 10 * golden["cycles"])
            assert hit
            return blk.model["fault_digest"]

    for i in range(12):
        t = regs[int(rng.integers(len(regs)))]
        bit = int(rng.integers(t["width"]))
        cycle = int(rng.integers(start, end - 1))
        fault = Fault(i, t["id"], 0, bit, cycle)
        before = digest_at(fault, cycle) ^ digest_at(NO_FAULT, cycle)
        after = digest_at(fault, cycle + 1) ^ digest_at(NO_FAULT, cycle + 1)
        rot = (t["id"] * 7) % 64
        expect = ((1 << (bit % 64)) << rot | (1 << (bit % 64)) >> (64 - rot)) & (2 ** 64 - 1)
        assert before == 0, t["name"]
        assert after == expect, f"{t['name']} bit {bit} at cycle {cycle}"


@pytest.mark.verilator
def test_planted_faults_are_classified(tensor):
    _, prepared, golden = tensor
    start, end = golden["window"]
    middle = (start + end) // 2
    # The register port's read data: rewritten by the error-register read after the job.
    rdata = _by_name(prepared, "rf.bus.bus__rdata")
    assert _outcome(prepared, golden, Fault(0, rdata["id"], 0, 5, middle)) == "masked"
    # An unused context's register keeps the flip: latent.
    ctx1 = _by_name(prepared, "rf.contexts.ctx1_X_PTR")
    assert _outcome(prepared, golden, Fault(0, ctx1["id"], 0, 9, middle)) == "latent"
    # A high bit of a running sum (a CE's output, fed back) mid-job: critical SDC.
    acc = _by_name(prepared, "array.ce0_0_sum")
    assert acc["class"] == "accumulator"
    assert _outcome(prepared, golden, Fault(0, acc["id"], 0, acc["width"] - 3, middle)) \
        == "sdc-critical"
    # The controller's state bit "running" held at 0 mid-job: the job never ends.
    running = _by_name(prepared, "controller.running")
    stuck = Fault(0, running["id"], 0, 0, middle, int(FaultKind.STUCK_0), 60_000)
    assert _outcome(prepared, golden, stuck) == "hang"


@pytest.mark.verilator
def test_short_campaign_is_reproducible_across_workers(tensor):
    """300 runs in this process, then the first 60 again on a 2-worker Dask LocalCluster:
    the same rows."""
    spec, prepared, _ = tensor
    serial = run_campaign(spec, 300, seed=21, workers=0, prepared=prepared, progress=False)
    outcomes = {r["outcome"] for r in serial.rows}
    assert {"masked", "sdc-critical"} <= outcomes <= set(OUTCOMES)
    assert [r["run"] for r in serial.rows] == list(range(300))
    dask = run_campaign(spec, 60, seed=21, workers=2, prepared=prepared, progress=False,
                        chunk=7)
    assert dask.workers == 2

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(dask.rows) == strip(serial.rows[:60])


@pytest.mark.verilator
def test_campaign_on_a_scheduler_address(tensor):
    """``scheduler=``: the campaign runs on the workers of an existing Dask cluster (here a
    local one started beside it), with the same rows."""
    import logging

    from dask.distributed import LocalCluster
    spec, prepared, _ = tensor
    serial = run_campaign(spec, 20, seed=8, workers=0, prepared=prepared, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        remote = run_campaign(spec, 20, seed=8, scheduler=cluster.scheduler_address,
                              prepared=prepared, progress=False, chunk=6)
    assert remote.workers == 1
    assert ([{k: v for k, v in r.items() if k != "seconds"} for r in remote.rows]
            == [{k: v for k, v in r.items() if k != "seconds"} for r in serial.rows])
