# amaranth: UnusedElaboratable=no
"""TCDMInterconnect + Scratchpad under the Amaranth simulator: random traffic from narrow and wide
masters with random request gaps against a byte-level memory model (every read checked), the
TCDM contract (rvalid exactly one cycle after a granted read), all-or-nothing wide grants,
round-robin fairness under full contention, and parameter validation."""

import random

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.cluster import Scratchpad, TCDMInterconnect


class _Top(wiring.Component):
    def __init__(self, widths, n_banks, bank_words):
        self.xbar = TCDMInterconnect(widths, n_banks, bank_words)
        self.spm = Scratchpad(n_banks, bank_words)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.xbar, m.submodules.spm = self.xbar, self.spm
        for b in range(self.xbar.n_banks):
            wiring.connect(m, self.xbar.bank(b), self.spm.bank(b))
        return m


def _simulate(widths, n_banks, bank_words, *, cycles, seed, req_prob=0.6, addr_span=None,
              check_fairness=False):
    top = _Top(widths, n_banks, bank_words)
    xbar = top.xbar
    size = xbar.size
    span = addr_span or size
    rng = random.Random(seed)
    mem = bytearray(size)
    stats = {"reads": 0, "writes": 0, "wide": 0, "waits": [0] * len(widths),
             "max_wait": [0] * len(widths), "grants": [0] * len(widths)}

    async def bench(ctx):
        ports = [xbar.master(i) for i in range(len(widths))]
        cur = [None] * len(widths)       # the request each master holds until granted
        waited = [0] * len(widths)
        expect = [None] * len(widths)    # (bytes expected) for the read granted last cycle
        for _ in range(cycles):
            for i, (p, w) in enumerate(zip(ports, widths)):
                if cur[i] is None and rng.random() < req_prob:
                    nb = w // 8
                    addr = rng.randrange(0, span, nb)
                    we = rng.random() < 0.5
                    be = rng.getrandbits(nb) if we else (1 << nb) - 1
                    cur[i] = (addr, we, be, rng.getrandbits(w))
                if cur[i] is not None:
                    addr, we, be, wd = cur[i]
                    ctx.set(p.req, 1)
                    ctx.set(p.addr, addr)
                    ctx.set(p.we, we)
                    ctx.set(p.be, be)
                    ctx.set(p.wdata, wd)
                else:
                    ctx.set(p.req, 0)
            # Settle the combinational grants, then apply the granted accesses to the model.
            granted = [bool(ctx.get(p.gnt)) for p in ports]
            taken = set()
            for i, (p, w) in enumerate(zip(ports, widths)):
                if cur[i] is None:
                    assert not granted[i], f"master {i} granted without a request"
                    continue
                addr, we, be, wd = cur[i]
                nb = w // 8
                if granted[i]:
                    first = (addr // 4) % n_banks
                    banks = set(((first + k) % n_banks) for k in range(max(1, nb // 4)))
                    assert not banks & taken, f"bank granted twice in one cycle: {banks & taken}"
                    taken |= banks
                    stats["grants"][i] += 1
                    stats["max_wait"][i] = max(stats["max_wait"][i], waited[i])
                    waited[i] = 0
                else:
                    stats["waits"][i] += 1
                    waited[i] += 1
            # Read responses of last cycle's grants (sampled before this cycle's edge).
            for i, p in enumerate(ports):
                rv = ctx.get(p.rvalid)
                if expect[i] is None:
                    assert not rv, f"master {i}: rvalid without a granted read"
                else:
                    assert rv, f"master {i}: rvalid low one cycle after a granted read"
                    got = ctx.get(p.rdata)
                    assert got == expect[i], (f"master {i}: read {got:#x}, expected "
                                              f"{expect[i]:#x}")
                    stats["reads"] += 1
                    expect[i] = None
            for i, (p, w) in enumerate(zip(ports, widths)):
                if cur[i] is None or not granted[i]:
                    continue
                addr, we, be, wd = cur[i]
                nb = w // 8
                if we:
                    for k in range(nb):
                        if be >> k & 1:
                            mem[addr + k] = (wd >> (8 * k)) & 0xFF
                    stats["writes"] += 1
                    if nb > 4:
                        stats["wide"] += 1
                else:
                    expect[i] = int.from_bytes(mem[addr:addr + nb], "little")
                cur[i] = None
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return stats


@pytest.mark.parametrize("widths,banks,seed", [
    ([32, 32, 32], 4, 1),                 # cores only
    ([32, 32, 128], 4, 2),                # a wide port covering every bank
    ([32, 32, 64, 128], 8, 3),            # two wide ports of different widths
    ([32, 16, 8, 64], 4, 4),              # sub-word masters
    ([32, 32, 32, 32], 1, 5),             # one bank: pure arbitration
])
def test_random_traffic_matches_memory(widths, banks, seed):
    stats = _simulate(widths, banks, 16, cycles=1500, seed=seed)
    assert stats["reads"] > 300 and stats["writes"] > 300
    assert sum(stats["waits"]) > 0, "the traffic never contended: the test checks nothing"
    if any(w > 32 for w in widths):
        assert stats["wide"] > 20


def test_round_robin_fairness_under_full_contention():
    # Every master requests every cycle, all on two banks: nobody waits more than n - 1
    # cycles, the narrow masters share equally, and the wide master (both banks at once) is
    # granted at least once per n cycles (each time it reaches the top of the order).
    widths = [32, 32, 32, 64]
    cycles = 2000
    stats = _simulate(widths, 2, 16, cycles=cycles, seed=9, req_prob=1.0)
    n = len(widths)
    assert max(stats["max_wait"]) <= n - 1, stats["max_wait"]
    narrow = stats["grants"][:3]
    assert min(narrow) > 0.9 * max(narrow), narrow
    assert stats["grants"][3] >= cycles // n - 1, stats["grants"]


def test_wide_port_not_starved_by_narrow_masters():
    widths = [32, 32, 32, 128]
    stats = _simulate(widths, 4, 16, cycles=1500, seed=11, req_prob=1.0)
    assert stats["grants"][3] > 1500 / 8, stats["grants"]
    assert stats["max_wait"][3] <= 3


def test_parameters_validated():
    with pytest.raises(ValueError, match="n_banks must be a power of two"):
        TCDMInterconnect([32], 3, 16)
    with pytest.raises(ValueError, match=r"widths\[1\] must be an integer in \[8, 128\], got 256"):
        TCDMInterconnect([32, 256], 4, 16)
    with pytest.raises(ValueError, match="bank_words"):
        TCDMInterconnect([32], 4, 0)
    with pytest.raises(ValueError, match="number of masters"):
        TCDMInterconnect([], 4, 16)
