"""A UART transmitter for the boards' USB serial ports: 8N1 bytes from a stream.

``UartTx(divisor)`` sends each byte it takes as one start bit (0), eight data bits (least
significant first) and one stop bit (1), every bit ``divisor`` clock cycles long; the line is
high when idle. :func:`uart_divisor` picks the divisor of a clock and a baud rate and refuses
a pair whose rate would be off by more than :data:`MAX_BAUD_ERROR` (a receiver samples the
middle of each bit: 10 bits may drift by less than half a bit).
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["UartTx", "uart_divisor", "MAX_BAUD_ERROR", "MAX_DIVISOR"]

#: Largest relative difference between the baud rate asked for and the one a divisor gives.
MAX_BAUD_ERROR = 0.02
#: Largest divisor (cycles per bit) the transmitter counts.
MAX_DIVISOR = 1 << 16


def uart_divisor(clk_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clk_hz`` (rounded to the nearest).

    Raises
    ------
    ValueError
        ``clk_hz`` or ``baud`` not a positive integer, a divisor outside 1 ..
        :data:`MAX_DIVISOR`, or a rate more than :data:`MAX_BAUD_ERROR` away from ``baud``.
    """
    clk_hz = check_int("clk_hz", clk_hz, min=1)
    baud = check_int("baud", baud, min=1)
    divisor = round(clk_hz / baud)
    if not 1 <= divisor <= MAX_DIVISOR:
        raise ValueError(f"baud must give 1 .. {MAX_DIVISOR} clock cycles per bit at "
                         f"clk_hz={clk_hz}, got baud={baud} ({clk_hz / baud:.2f} cycles)")
    error = abs(clk_hz / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"baud={baud} at clk_hz={clk_hz} is off by {100 * error:.1f} % with "
                         f"{divisor} cycles per bit (at most {100 * MAX_BAUD_ERROR:.0f} %)")
    return divisor


class UartTx(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, 1 .. :data:`MAX_DIVISOR` (:func:`uart_divisor`).

    Members
    -------
    i : ``In(stream.Signature(8))``
        The bytes to send, one per ``10 * divisor`` cycles at most (ready while the line is
        idle and in the last cycle of a stop bit).
    tx : ``Out(1, init=1)``
        The serial line.
    """

    def __init__(self, divisor):
        self.divisor = check_int("divisor", divisor, min=1, max=MAX_DIVISOR)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10, init=1)            # the bits still to send, the next one at bit 0
        bits = Signal(range(11))              # bits left in the frame (0: idle)
        timer = Signal(range(self.divisor))   # cycles left of the current bit
        # ready when idle, and in the stop bit's last cycle: frames follow back to back
        m.d.comb += [self.i.ready.eq((bits == 0) | ((bits == 1) & (timer == 0))),
                     self.tx.eq(frame[0] | (bits == 0))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), bits.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), bits.eq(bits - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
