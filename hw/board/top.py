"""Board tops: a :class:`~.core.BoardCore` on an amaranth-boards platform, with the cluster clock
from the FPGA's PLL, reset from a button (with the PLL's lock, through a reset synchroniser),
the report on the board's serial port and the run's state on its LEDs.

:data:`BOARDS` names the supported boards and how each is wired (docs/boards.md);
:func:`ecp5_pll` and :func:`ice40_pll` choose the PLL's dividers for a frequency
(:func:`pll_setting` by the board's family).
"""

from dataclasses import dataclass

from amaranth import ClockDomain, Instance, Module, Signal
from amaranth.build import Attrs, Pins, Resource, Subsignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["Board", "BOARDS", "BoardTop", "ecp5_pll", "ice40_pll", "pll_setting"]


@dataclass(frozen=True)
class Board:
    """How a board is wired.

    Members
    -------
    name : str
    platform : str
        ``module:class`` of its amaranth-boards platform.
    family : str
        ``ecp5`` or ``ice40``.
    clock, reset : str
        Resources: the oscillator, the reset button.
    leds : tuple
        Per LED of :data:`~hw.board.core.LEDS`: (resource, number, subsignal or None), or
        None where the board has no LED for it.
    uart_tx : tuple or None
        An extra resource for the serial line's TX pin: (connector, number, pin), when the
        board has no serial port of its own (a USB-serial adapter on that pin).
    extra_high : tuple of str
        Output resources held high (e.g. an enable of the serial port's buffer).
    plain_cluster : dict or None
        For an FPGA too small for the accelerators: the arguments of the plain
        :class:`hw.cluster.Cluster` it gets instead (None: the configuration's accelerated
        cluster).
    fifo_depth : int
        Bytes of the report FIFO (:class:`~hw.board.core.BoardCore`).
    nextpnr_args : tuple of str
        Extra nextpnr options of its builds (the placer, the router).
    spread_brams : bool
        Its builds fix the block RAMs to evenly spaced sites before placement (ECP5; the build
        flow's platform mixin, ``flows.board.BramSpread``).
    seed : int
        nextpnr's seed of its builds (``make bitstream``; ``--seed`` overrides it).
    """
    name: str
    platform: str
    family: str
    clock: str
    reset: str
    leds: tuple
    uart_tx: tuple = None
    extra_high: tuple = ()
    plain_cluster: dict = None
    fifo_depth: int = 4096
    nextpnr_args: tuple = ()
    spread_brams: bool = False
    seed: int = 1

    def make_platform(self, mixins=()):
        """An instance of its platform, of a subclass with ``mixins`` first when given (the
        build flow's steps), with the extra serial resource."""
        module, cls = self.platform.split(":")
        import importlib
        cls = getattr(importlib.import_module(module), cls)
        if mixins:
            cls = type(cls.__name__, (*mixins, cls), {})
        platform = cls()
        if self.uart_tx is not None:
            conn, number, pin = self.uart_tx
            platform.add_resources([Resource("uart", 0, Subsignal(
                "tx", Pins(pin, dir="o", conn=(conn, number))), Attrs(IO_TYPE="LVCMOS33"))])
        return platform


#: The boards of ``make bitstream BOARD=...``.
BOARDS = {b.name: b for b in [
    # make synth's recipe for the cluster rows on the same device and package: block RAMs
    # spread, the static placer. Router1 after the default placer had 80,000 arcs left after an
    # hour; after the static one without the spread 8,000 after 7 minutes, its tail stalling at
    # about 7,000; with the spread 4,900 after 11 minutes (seed 1) and 9,100 after 15 (seed 2),
    # both then stalled (docs/boards.md). Not routed yet.
    Board("ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "ecp5", "clk25",
          "button_fire", (("led", 0, None), ("led", 1, None), ("led", 2, None)),
          nextpnr_args=("--placer", "static"), spread_brams=True),
    # No serial port of its own: a USB-serial adapter's RX on the Feather header's TX pin (1).
    Board("orangecrab-85f", "amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_85FPlatform", "ecp5",
          "clk", "button", (("rgb_led", 0, "b"), ("rgb_led", 0, "g"), ("rgb_led", 0, "r")),
          uart_tx=("io", 0, "1")),
    # Two LEDs: green passed, red failed (none while running). The UP5K's 30 block RAMs of
    # 512 bytes hold one core (6), 4 KiB of instructions (8), a 4 KiB scratchpad (8) and a
    # 512-byte report FIFO (1); the cluster's logic takes about 1,600 of its 5,280 LUTs.
    Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40", "clk12",
          "button", (None, ("led_g", 0, None), ("led_r", 0, None)),
          plain_cluster=dict(cores=1, scratchpad_kib=4, banks=2, imem_kib=4), fifo_depth=512),
]}


def ecp5_pll(f_in, f_out):
    """(CLKI_DIV, CLKFB_DIV, CLKOP_DIV, f) of an ECP5 EHXPLLL (feedback from CLKOP) giving the
    frequency f closest to ``f_out`` (Hz) from ``f_in``: PFD >= 3.125 MHz, VCO 400..800 MHz."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if pfd < 3.125e6:
            break
        for fb in range(1, 81):
            f = pfd * fb
            for op in range(1, 129):
                if 400e6 <= f * op <= 800e6:
                    if best is None or abs(f - f_out) < abs(best[3] - f_out):
                        best = (clki, fb, op, f)
                    break
    if best is None or abs(best[3] - f_out) > 0.01 * f_out:
        raise ValueError(f"f_out: no ECP5 PLL setting within 1 % of {f_out / 1e6:.3f} MHz from "
                         f"{f_in / 1e6:.3f} MHz")
    return best


def ice40_pll(f_in, f_out):
    """(DIVR, DIVF, DIVQ, FILTER_RANGE, f) of an iCE40 SB_PLL40 (simple feedback) giving the
    frequency f closest to ``f_out`` (Hz): PFD 10..133 MHz, VCO 533..1066 MHz, f >= 16 MHz."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if best is None or abs(f - f_out) < abs(best[4] - f_out):
                    filt = next(i for i, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6,
                                                           1e12), 1) if pfd < lim)
                    best = (divr, divf, divq, filt, f)
    if best is None or abs(best[4] - f_out) > 0.01 * f_out:
        raise ValueError(f"f_out: no iCE40 PLL setting within 1 % of {f_out / 1e6:.3f} MHz "
                         f"from {f_in / 1e6:.3f} MHz (16 .. 275 MHz)")
    return best


def pll_setting(board, f_in, f_out):
    """The PLL setting of ``board``'s family closest to ``f_out`` (Hz) from ``f_in``: the
    dividers and, last, the frequency (:func:`ecp5_pll`, :func:`ice40_pll`)."""
    return (ecp5_pll if board.family == "ecp5" else ice40_pll)(f_in, f_out)


class BoardTop(wiring.Component):
    """``core`` (a :class:`~.core.BoardCore`, or anything with ``tx`` and ``leds``) on ``board``,
    clocked by the PLL, reset by a button through a synchroniser.

    With ``board=None`` the same top for simulation: the PLL replaced by the simulation clock
    (the ``clk`` port, always locked), the button, the serial line and the LEDs as ports.

    Parameters
    ----------
    board : :class:`Board` or None
    core : the board-independent design
    f_hz, f_in_hz : float
        The cluster clock asked for, the board's oscillator (unused without a board).

    Members
    -------
    f_hz : float or None
        The PLL's frequency closest to the one asked for (within 1 %).
    pll : tuple or None
        Its dividers (:func:`ecp5_pll`, :func:`ice40_pll`).
    clk, button : ``In(1)``; tx : ``Out(1, init=1)``; leds : ``Out(3)``
        Without a board only.
    """

    def __init__(self, board, core, f_hz=None, f_in_hz=None):
        self.board = board
        self.core = core
        self.f_in_hz = f_in_hz
        self.pll = self.f_hz = None
        if board is None:
            super().__init__({"clk": In(1), "button": In(1), "tx": Out(1, init=1),
                              "leds": Out(len(core.leds))})
            core_record = getattr(core, "catalog_record", None)
            if core_record is not None:     # the Verilog cache's key (flows.emit.verilog_text)
                self.catalog_record = {"class": f"{__name__}.BoardTop", "board": None,
                                       "core": core_record}
            return
        self.pll = pll_setting(board, f_in_hz, f_hz)
        self.f_hz = self.pll[-1]
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        if self.board is None:
            m.d.comb += sync.clk.eq(self.clk)   # the simulation's clock; always locked
            arst = self.button
        else:
            button, locked = self._clock(m, platform, sync)
            arst = button | ~locked
        m.submodules.reset_sync = ResetSynchronizer(arst, domain="sync")
        m.submodules.core = core = self.core
        if self.board is None:
            m.d.comb += [self.tx.eq(core.tx), self.leds.eq(core.leds)]
        else:
            self._pins(m, platform, core)
        return m

    def _clock(self, m, platform, sync):
        """The PLL into ``sync``; the reset button and the lock."""
        b = self.board
        locked = Signal()
        if b.family == "ecp5":
            clk_in = platform.request(b.clock, 0).i
            clki, fb, op, _ = self.pll
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=clki, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=op,
                p_CLKOP_CPHASE=op - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=fb,
                i_RST=0, i_STDBY=0, i_CLKI=clk_in, i_CLKFB=sync.clk, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0,
                i_ENCLKOP=0, o_CLKOP=sync.clk, o_LOCK=locked,
                a_FREQUENCY_PIN_CLKI=f"{self.f_in_hz / 1e6:.6f}",
                a_FREQUENCY_PIN_CLKOP=f"{self.f_hz / 1e6:.6f}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8")
        else:
            divr, divf, divq, filt, _ = self.pll
            # The oscillator's pin is the PLL's own input (SB_PLL40_PAD): a PLL_CORE fed from
            # the pin's buffer cannot be placed, the pin's site being the PLL's.
            pad = platform.request(b.clock, 0, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
                p_FILTER_RANGE=filt, io_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=sync.clk, o_LOCK=locked)
        # No constraint of our own on the PLL's output: nextpnr derives it from the
        # oscillator's (the platform's Clock) and the PLL's dividers (report.json's
        # constraint_mhz); one on sync.clk would name a net that synthesis renames.
        return platform.request(b.reset, 0).i, locked

    def _pins(self, m, platform, core):
        """The serial line and the LEDs on the board's pins."""
        b = self.board
        m.d.comb += platform.request("uart", 0).tx.o.eq(core.tx)
        requested = {}                        # a resource is requested once (RGB LEDs)
        for i, led in enumerate(b.leds):
            if led is None:
                continue
            resource, number, sub = led
            if (resource, number) not in requested:
                requested[resource, number] = platform.request(resource, number)
            pin = requested[resource, number]
            m.d.comb += (getattr(pin, sub) if sub else pin).o.eq(core.leds[i])
        for name in b.extra_high:
            m.d.comb += platform.request(name, 0).o.eq(1)
