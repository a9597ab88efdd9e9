"""The Flash-ABFT checker in the tiny cluster with attention.c (Verilator, the campaign
engine's tapped design): the fault-free head passes with O bit-exact, and planted faults end as
they must: a corrupted O word located and corrected in place, a corrupted accumulator's tile
recomputed, a corrupted input reported as an uncorrectable error, detection only reporting;
never a silent wrong result."""

import pytest

from sim.faults import target
from sim.faults.outcomes import classify_run, hang_limit
from sim.faults.targets import Fault

pytestmark = pytest.mark.verilator


@pytest.fixture(scope="module")
def correcting():
    spec = target("attention", config="tiny", abft="correct")
    prepared = spec.prepare()
    return spec, prepared, prepared.golden()      # golden(): O bit-exact, no flag


def _target(prepared, name):
    return next(t for t in prepared.fault_map if t["name"] == name)


def _run(spec, prepared, golden, fault):
    limit = hang_limit(golden["cycles"]) + spec.repair_cycles(golden["cycles"])
    run = prepared.execute(fault, limit)
    return classify_run(golden, run)[0], run


def _spm_word(prepared, symbol, byte_offset):
    """(target id, word) of the scratchpad word holding ``symbol`` + ``byte_offset``."""
    from flows.elf import load_elf
    from hw.cluster.regs import ADDRESS_MAP
    addr = load_elf(prepared.elf).symbols[symbol] + byte_offset - ADDRESS_MAP["SPM_BASE"]
    banks = prepared.spec.params["banks"]
    bank = _target(prepared, f"cluster.spm.bank{(addr // 4) % banks}")
    return bank["id"], addr // 4 // banks


def test_fault_free_head(correcting):
    spec, prepared, golden = correcting
    assert golden["cause"] == 0 and not golden.get("flag")


def test_corrupted_o_word_is_corrected(correcting):
    spec, prepared, golden = correcting
    start, end = golden["window"]
    tid, word = _spm_word(prepared, "o", 4 * 21)          # row 10, columns 2-3
    # after the last pv job, before VERIFY reads O back (the stage lines are printed then)
    outcome, run = _run(spec, prepared, golden, Fault(0, tid, word, 9, end - 3000))
    assert outcome == "detected-corrected", outcome


SAFE = ("masked", "latent", "detected-recomputed", "detected-masked")


def walk_accumulator(spec, prepared, golden, cycles, bit_from_top, allowed=SAFE):
    """Flip bit ``width - bit_from_top`` of an accumulator of the tensor array at each of
    ``cycles`` in turn until the run is recomputed (the register holds a live sum only while
    its tile accumulates); every outcome on the way must be in ``allowed``. Returns the
    outcomes seen."""
    acc = _target(prepared, "tensor.array.ce0_0_sum")
    outcomes = set()
    for i, cycle in enumerate(cycles):
        outcome, _ = _run(spec, prepared, golden,
                          Fault(i, acc["id"], 0, acc["width"] - bit_from_top, cycle))
        assert outcome in allowed, (cycle, outcome)
        outcomes.add(outcome)
        if outcome == "detected-recomputed":
            break
    return outcomes


def test_corrupted_accumulator_tile_is_recomputed(correcting):
    spec, prepared, golden = correcting
    start, end = golden["window"]
    assert "detected-recomputed" in walk_accumulator(spec, prepared, golden,
                                                     range(start + 1000, end, 150), 4)


def test_corrupted_input_is_reported_uncorrectable(correcting):
    spec, prepared, golden = correcting
    start, _ = golden["window"]
    tid, word = _spm_word(prepared, "v", 2 * (5 * 4 + 1))   # V[5, 1]
    outcome, run = _run(spec, prepared, golden, Fault(0, tid, word, 14, start + 10))
    assert outcome == "detected-uncorrected", outcome
    assert run["flag"] and not run["corrected"]


def test_detection_only_reports():
    spec = target("attention", config="tiny", abft="detect")
    prepared = spec.prepare()
    golden = prepared.golden()
    start, end = golden["window"]
    tid, word = _spm_word(prepared, "o", 4 * 21)
    outcome, _ = _run(spec, prepared, golden, Fault(0, tid, word, 9, end - 3000))
    assert outcome == "detected-uncorrected", outcome
