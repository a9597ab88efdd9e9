# amaranth: UnusedElaboratable=no
"""The cluster under Verilator, 2 cores: programs loaded through the loader port (one simulator
for every program), run to the exit code, under cocotb (sim/benches/cluster_tb.py) and on the
compiled harness (sim.system); the watchdog reports a program that never exits; the Amaranth
simulator, cocotb and the compiled harness agree on every cycle count and byte of output; a batch
of runs forked from one load gives the results of separate runs."""

import json
import re

import pytest

from flows.firmware import FIRMWARE, build

from sim.cluster_amaranth import run_amaranth

TESTS = FIRMWARE / "tests"
CFG = dict(cores=2, scratchpad_kib=16, banks=4, imem_kib=8)


_SIM = {}


def _sim():
    """The cocotb simulator: the top level's ports and the cores' program counters visible
    (the watchdog reads them)."""
    if "cocotb" not in _SIM:
        from hw.cluster import Cluster
        from flows.runner import VerilatorSim
        _SIM["cocotb"] = VerilatorSim.for_component(
            Cluster(**CFG), name="cluster_2c",
            public=[f"core{c}.datapath.pc_mod.dat_r" for c in range(CFG["cores"])])
    return _SIM["cocotb"]


def _native():
    if "native" not in _SIM:
        from hw.cluster import Cluster
        from sim.system import SystemSim
        _SIM["native"] = SystemSim.for_component(Cluster(**CFG), "cluster_2c", CFG)
    return _SIM["native"]


def run_verilator(program, *, sim=None, cfg=CFG, **params):
    sim = sim or _sim()
    elf = build([TESTS / program])
    sim.run("sim.benches.cluster_tb", name=program.split(".")[0],
            params=dict(elf=str(elf), imem_size=cfg["imem_kib"] * 1024,
                        spm_size=cfg["scratchpad_kib"] * 1024, cores=cfg["cores"], **params))
    return json.loads((sim.last_run_dir / "result.json").read_text())


@pytest.mark.verilator
def test_hello_and_multicore_match_amaranth():
    # hello.c prints from both cores: their bytes interleave, often in consecutive cycles.
    hello = "hello from sentinel\ncores 2\n"
    for program, code, text in [("hello.c", 42, "".join(c + c for c in hello)),
                                ("multicore.c", 0, None)]:
        v = run_verilator(program, max_cycles=200_000)
        assert v["exit_code"] == code, v
        if text is not None:
            assert sorted(v["output"]) == sorted(text), v["output"]
        a = run_amaranth(build([TESTS / program]), **CFG)
        assert (a.exit_code, a.output, a.cycles) == (v["exit_code"], v["output"], v["cycles"])
        n = _native().run(build([TESTS / program]), max_cycles=200_000)
        assert (n["exit_code"], n["output"], n["cycles"]) == (v["exit_code"], v["output"], v["cycles"])


@pytest.mark.verilator
def test_native_batch_matches_single_runs():
    from sim.system import Run
    sim = _native()
    runs = [Run(str(build([TESTS / p])), max_cycles=m, tag=p)
            for p, m in [("hello.c", 200_000), ("spin.c", 20_000), ("multicore.c", 200_000),
                         ("hello.c", 200_000)]]
    keys = ("exit_code", "timeout", "output", "cycles", "tag")
    single = [sim.run(r.elf, max_cycles=r.max_cycles, tag=r.tag) for r in runs]
    for mode in ("pool", "fork", "serial"):
        batch = sim.run_batch(runs, jobs=2, mode=mode)
        assert [[b[k] for k in keys] for b in batch] == [[s[k] for k in keys] for s in single]
    # run(reuse=True): each image loaded once, every run restored from its snapshot
    reused = [sim.run(r.elf, max_cycles=r.max_cycles, tag=r.tag, reuse=True) for r in runs * 2]
    sim.close()
    assert [[b[k] for k in keys] for b in reused] == [[s[k] for k in keys] for s in single * 2]
    spin = single[1]
    assert spin["timeout"] and spin["exit_code"] is None and spin["output"] == "ssppiinn\n\n"
    assert spin["cycles"] >= 20_000
    from sim.system import SystemTimeout
    with pytest.raises(SystemTimeout, match="no exit after 20000 cycles"):
        sim.run_or_raise(runs[1].elf, max_cycles=20_000)


@pytest.mark.verilator
def test_watchdog_under_verilator():
    from flows.runner import SimulationFailed
    sim = _sim()
    with pytest.raises(SimulationFailed):
        run_verilator("spin.c", sim=sim, max_cycles=20_000)
    r = json.loads((sim.last_run_dir / "result.json").read_text())
    assert r["exit_code"] is None and r["output"] == "ssppiinn\n\n" and r["cycles"] >= 20_000
    log = (sim.last_run_dir / "sim.log").read_text()
    assert re.search(r"watchdog: no exit after 20000 cycles .*core 0 at 0x[0-9a-f]+ \(main\+0x[0-9a-f]+\), "
                     r"core 1 at 0x[0-9a-f]+ \(main\+", log), log[-2000:]


@pytest.mark.verilator
@pytest.mark.slow
def test_paper_cluster_eight_cores():
    # The paper configuration (8 cores, 256 KiB in 32 banks): every core sums its share and
    # meets the others at the barrier; core 0 prints the 8 partial sums.
    from hw.cluster import Cluster
    from hw.config import get_config
    from flows.runner import VerilatorSim
    c = get_config("paper").cluster
    cfg = dict(cores=c.cores, scratchpad_kib=c.scratchpad_kib, imem_kib=c.imem_kib)
    sim = VerilatorSim.for_component(Cluster(**c.to_dict()), name="cluster_paper")
    v = run_verilator("multicore.c", sim=sim, cfg=cfg, max_cycles=400_000)
    assert v["exit_code"] == 0, v
    sums = [sum(range(k + 1, 97, 8)) for k in range(8)]
    assert v["output"] == "".join(f"core {k} sum {s}\n" for k, s in enumerate(sums))
