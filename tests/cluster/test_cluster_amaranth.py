# amaranth: UnusedElaboratable=no
"""The cluster running firmware under the Amaranth simulator: hello world to its exit code
(mailbox output, .data copy, .bss clear), the multi-core split + barrier program on 2 cores,
interrupts and events, bus errors, traps, and the watchdog on a program that never exits."""

import pytest

from hw.cluster import Cluster
from flows.firmware import FIRMWARE, build

from sim.cluster_amaranth import Watchdog, run_amaranth

TESTS = FIRMWARE / "tests"


def test_hello_world():
    r = run_amaranth(build([TESTS / "hello.c"]))
    assert r.output == "hello from sentinel\ncores 1\n"
    assert r.exit_code == 42
    assert 500 < r.cycles < 20_000


@pytest.mark.parametrize("slots", [0, 2])
def test_multicore_split_and_barrier(slots):
    # With 2 accelerator slots the peripheral window is 16 KiB with a hole at 0x2000_3000 (the
    # peripheral demux reports core 1); without slots the core's own demux does.
    r = run_amaranth(build([TESTS / "multicore.c"]), cores=2, banks=4, accel_slots=slots)
    assert r.exit_code == 0, r.output
    sums = [sum(range(c + 1, 97, 2)) for c in range(2)]
    assert r.output == "".join(f"core {c} sum {s}\n" for c, s in enumerate(sums))


def test_events_interrupt_and_bus_error():
    r = run_amaranth(build([TESTS / "events.c"]), event_pulses={3000: 0b0010, 6000: 0b0100},
                     max_cycles=60_000)
    assert r.exit_code == 0, f"exit {r.exit_code:#x}, output {r.output!r}"
    assert "irq 4\n" in r.output and "poll 2\n" in r.output and "buserr ok\n" in r.output


def test_trap_reports_cause():
    r = run_amaranth(build([TESTS / "trap.c"]))
    assert r.exit_code == 0xDEAD0002, hex(r.exit_code)      # illegal instruction


def test_watchdog_reports_a_program_that_never_exits():
    with pytest.raises(Watchdog, match=r"no exit after 3000 cycles; output so far: 'spin\\n'; core 0 at 0x[0-9a-f]+ \(main\+0x[0-9a-f]+\)"):
        run_amaranth(build([TESTS / "spin.c"]), max_cycles=3000)


def test_parameters_validated():
    with pytest.raises(ValueError, match=r"cores must be an integer in \[1, 8\], got 9"):
        Cluster(9)
    with pytest.raises(ValueError, match=r"scratchpad_kib must be a power of two"):
        Cluster(1, 48)
    with pytest.raises(ValueError, match=r"wide_ports\[0\] must be an integer in \[8, 128\]"):
        Cluster(1, 16, banks=4, wide_ports=[256])


def test_hwpe_sequence_on_an_accelerator_slot():
    from .copy_accel import ClusterWithCopy
    r = run_amaranth(build([TESTS / "hwpe_copy.c"]), top=ClusterWithCopy, imem_kib=8,
                     max_cycles=80_000)
    assert r.exit_code == 0, f"exit {r.exit_code}, output {r.output!r}"
    assert r.output == "copy ok\nb2b ok\nerrors ok\n"
