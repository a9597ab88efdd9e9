"""The checker's GEMM mode in the tiny cluster with gemm_abft.c (Verilator, the campaign
engine's tapped design): the fault-free job passes with Z bit-exact, and planted faults end as
they must: a corrupted Z word located and corrected in place, a corrupted accumulator's job
run again, a corrupted operand reported as an uncorrectable error, detection only reporting;
never a silent wrong result."""

import pytest

from sim.faults import target
from sim.faults.targets import Fault

from .test_abft_cluster import _run, _spm_word, walk_accumulator

pytestmark = pytest.mark.verilator


@pytest.fixture(scope="module")
def correcting():
    spec = target("gemm", config="tiny", abft="correct")
    prepared = spec.prepare()
    return spec, prepared, prepared.golden()      # golden(): Z bit-exact, no flag


def test_fault_free_job(correcting):
    spec, prepared, golden = correcting
    assert golden["cause"] == 0 and not golden.get("flag")


def test_corrupted_z_word_is_corrected(correcting):
    spec, prepared, golden = correcting
    start, end = golden["window"]
    zs = prepared.spec._operands()[0].strides["ZS"]
    tid, word = _spm_word(prepared, "gz", 3 * zs + 4 * 2)     # row 3, columns 4-5
    # after the job, before VERIFY reads Z back (VERIFY's scrub is the last few hundred cycles)
    outcome, run = _run(spec, prepared, golden, Fault(0, tid, word, 9, end - 900))
    assert outcome == "detected-corrected", outcome
    assert run["corrected"] and not run["recomputed"]


def test_corrupted_accumulator_job_is_run_again(correcting):
    spec, prepared, golden = correcting
    start, end = golden["window"]
    assert "detected-recomputed" in walk_accumulator(spec, prepared, golden,
                                                     range(start + 200, end, 40), 4)


def test_corrupted_operand_is_reported_uncorrectable(correcting):
    spec, prepared, golden = correcting
    start, _ = golden["window"]
    xs = prepared.spec._operands()[0].strides["XS"]
    tid, word = _spm_word(prepared, "gx", 5 * xs + 2 * 2)     # X[5, 2..3]
    outcome, run = _run(spec, prepared, golden, Fault(0, tid, word, 14, start + 10))
    assert outcome == "detected-uncorrected", outcome
    assert run["flag"] and not run["corrected"]


def test_detection_only_reports():
    spec = target("gemm", config="tiny", abft="detect")
    prepared = spec.prepare()
    golden = prepared.golden()
    start, end = golden["window"]
    zs = prepared.spec._operands()[0].strides["ZS"]
    tid, word = _spm_word(prepared, "gz", 3 * zs + 4 * 2)
    outcome, _ = _run(spec, prepared, golden, Fault(0, tid, word, 9, end - 900))
    assert outcome == "detected-uncorrected", outcome
