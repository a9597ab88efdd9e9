"""A board's wiring check without the cluster: a fixed text sent over the UART again and
again, the LEDs counting the repeats (``make bitstream BOARD=... APP=hello``)."""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from .core import LEDS
from .uart import UartTx

__all__ = ["UartHello"]


class UartHello(wiring.Component):
    """Sends ``text`` (bytes) over and over.

    Parameters
    ----------
    text : bytes
        1 .. 4096 bytes.
    divisor : int
        Clock cycles per UART bit.

    Members
    -------
    tx : ``Out(1, init=1)``
    leds : ``Out(3)``
        The count of texts sent, modulo 8.
    """

    def __init__(self, text, *, divisor):
        if not isinstance(text, (bytes, bytearray)) or not 1 <= len(text) <= 4096:
            raise ValueError(f"text must be 1 .. 4096 bytes, got {text!r:.40}")
        self.text = bytes(text)
        self.uart = UartTx(divisor)
        super().__init__({"tx": Out(1, init=1), "leds": Out(len(LEDS))})

    def elaborate(self, platform):
        m = Module()
        uart = m.submodules.uart = self.uart
        m.submodules.rom = rom = Memory(shape=8, depth=len(self.text), init=list(self.text))
        rd = rom.read_port(domain="comb")
        index = Signal(range(len(self.text)))
        m.d.comb += [rd.addr.eq(index), uart.i.payload.eq(rd.data), uart.i.valid.eq(1),
                     self.tx.eq(uart.tx)]
        with m.If(uart.i.ready):
            with m.If(index == len(self.text) - 1):
                m.d.sync += [index.eq(0), self.leds.eq(self.leds + 1)]
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
