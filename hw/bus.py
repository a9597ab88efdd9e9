"""The TCDM-style memory port, used for scratchpad ports and for the peripheral bus that reaches
accelerator register files.

Master's view: ``req`` with ``addr`` (byte address), ``we``, ``be`` (byte enables) and ``wdata``;
the slave answers ``gnt`` in the same cycle (a master must tolerate any number of cycles without
``gnt`` and must hold its request stable until granted). Read data arrives exactly one cycle
after a granted read, flagged by ``rvalid``.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import check_int

__all__ = ["TCDMSignature"]


class TCDMSignature(wiring.Signature):
    def __init__(self, *, addr_width=32, data_width=32):
        self.addr_width = check_int("addr_width", addr_width, min=1, max=64)
        self.data_width = check_int("data_width", data_width, min=8)
        if data_width % 8 or data_width & (data_width - 1):
            raise ValueError(f"data_width must be a power of two multiple of 8 (8, 16, 32, ...), got {data_width}")
        super().__init__({
            "req":    Out(1),
            "gnt":    In(1),
            "addr":   Out(addr_width),
            "we":     Out(1),
            "be":     Out(data_width // 8),
            "wdata":  Out(data_width),
            "rdata":  In(data_width),
            "rvalid": In(1),
        })

    def __eq__(self, other):
        return (isinstance(other, TCDMSignature) and self.addr_width == other.addr_width
                and self.data_width == other.data_width)

    def __repr__(self):
        return f"TCDMSignature(addr_width={self.addr_width}, data_width={self.data_width})"
