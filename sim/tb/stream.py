"""``amaranth.lib.stream`` agents: a driver with random valid gaps, a passive monitor and a sink
with random ready stalls; monitors and sinks check the stream rules on every cycle.

Ports are found by prefix, as Amaranth flattens them: ``<prefix>__valid``, ``<prefix>__ready``
and ``<prefix>__payload`` (one flat vector; see :mod:`sim.tb.layout`). A stream without
``ready`` (``always_ready``) or without payload (zero width) is supported.

Rules checked (lib.stream): once ``valid`` is high it stays high, with an unchanged
``payload``, until the cycle in which ``ready`` is high (the transfer). A violation raises
:class:`StreamProtocolError` (an AssertionError: the cocotb test fails) and is kept in
``errors``; pass ``strict=False`` to only record it.

The agents are meant for :meth:`sim.tb.clock.Ticker.run`, which calls ``drive()`` after each
rising edge and ``sample()`` in the ReadOnly phase of the same cycle; one coroutine serves all
agents, and each port is read or written at most once per cycle (reads only when needed)::

    ticker = await Ticker(dut).start()
    drv = StreamDriver(dut, "i", payloads, gap=0.3, seed=1)
    sink = StreamSink(dut, "o", count=len(payloads), stall=0.3, seed=2)
    await ticker.run(drv, sink)
    assert sink.received == expected

Payloads are Python ints (the flat vector); with ``layout=`` the driver also accepts dicts
(packed with :func:`sim.tb.layout.pack`) and ``sink.unpacked()`` returns numpy columns.
"""

import random

import numpy as np

from .clock import Sig, has_signal
from .layout import pack, unpack_array

__all__ = ["StreamProtocolError", "StreamDriver", "StreamMonitor", "StreamSink"]


class StreamProtocolError(AssertionError):
    pass


def _rng(rng, seed):
    if rng is not None:
        return rng
    return random.Random(seed)


def _port(dut, prefix, field, sep, required=True):
    name = f"{prefix}{sep}{field}"
    if has_signal(dut, name):
        return Sig(dut, name)
    if required:
        return Sig(dut, name)  # raises AttributeError naming similar ports
    return None


class _Agent:
    def _error(self, message):
        text = f"{self.name}: cycle {self.cycles}: {message}"
        self.errors.append(text)
        if self.strict:
            raise StreamProtocolError(text)

    def check(self):
        """Raise StreamProtocolError if any violation was recorded."""
        if self.errors:
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise StreamProtocolError(self.errors[0] + more)


class StreamDriver(_Agent):
    """Drives a stream into the DUT (``valid``, ``payload`` written; ``ready`` read).

    ``items``: ints (flat payloads), dicts (need ``layout``) or a numpy integer array.
    ``gap``: probability that the driver, free to present its next item, keeps ``valid`` low for
    a cycle instead. While ``valid`` is low the payload carries random bits (``garbage=True``),
    so a DUT that samples the payload without ``valid`` is caught. More items can be queued
    with :meth:`extend` at any time; ``done`` is true once every queued item was transferred.
    """

    def __init__(self, dut, prefix, items=(), *, layout=None, gap=0.0, rng=None, seed=None,
                 garbage=True, sep="__", name=None, strict=True):
        self.name = name or f"{prefix} driver"
        self.layout = layout
        self.valid = _port(dut, prefix, "valid", sep)
        self.ready = _port(dut, prefix, "ready", sep, required=False)
        self.payload = _port(dut, prefix, "payload", sep, required=False)
        self.gap = float(gap)
        if not 0.0 <= self.gap < 1.0:
            raise ValueError(f"gap must be a probability in [0, 1), got {gap!r}")
        self.rng = _rng(rng, seed)
        self.garbage = garbage and self.payload is not None
        self._set_valid = self.valid.put
        self._set_payload = self.payload.put if self.payload is not None else None
        self._get_ready = self.ready.get if self.ready is not None else None
        self.strict = strict
        self.errors = []
        self.items = []
        self.sent = 0          # items transferred
        self.cycles = 0
        self.valid_cycles = 0  # cycles with valid high (for throughput statistics)
        self._valid = 0
        self._hold = False     # valid & ~ready at the last sample: keep everything as is
        self.extend(items)
        self.idle()

    def _convert(self, item):
        if isinstance(item, dict):
            if self.layout is None:
                raise TypeError(f"{self.name}: dict payloads need layout=")
            return pack(self.layout, item)
        return int(item)

    def extend(self, items):
        if isinstance(items, np.ndarray):
            items = items.tolist()
        conv = self._convert
        new = [x if type(x) is int else conv(x) for x in items]
        if new and self.payload is not None:
            lo, hi = min(new), max(new)
            if lo < 0 or hi > self.payload.mask:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{self.name}: payload {bad:#x} does not fit in {self.payload.width} bits")
        self.items.extend(new)

    def append(self, item):
        self.extend([item])

    def replace(self, items):
        """Start over with a new queue ``items`` (once every queued item was sent): long test
        sets go through in chunks without keeping every payload in memory."""
        if not self.done or self._hold:
            raise RuntimeError(f"{self.name}: replace() while items are still queued")
        self.items = []
        self.sent = 0
        self.extend(items)

    @property
    def done(self):
        return self.sent >= len(self.items)

    @property
    def progress(self):
        return self.sent

    def idle(self):
        """Drop ``valid`` unless an item is waiting for its transfer (it must stay valid)."""
        if not self._hold and self._valid:
            self.valid.set(0)
            self._valid = 0
        elif not self._valid:
            self.valid.set(0)

    def drive(self):
        if self._hold:
            return  # valid and payload stay as they are until the transfer
        i = self.sent
        if i < len(self.items) and (self.gap == 0.0 or self.rng.random() >= self.gap):
            if self._set_payload is not None:
                self._set_payload(self.items[i])
            if not self._valid:
                self._set_valid(1)
                self._valid = 1
        else:
            if self._valid:
                self._set_valid(0)
                self._valid = 0
            if self.garbage:
                self._set_payload(self.rng.getrandbits(self.payload.width))

    def sample(self):
        self.cycles += 1
        if self._valid:
            self.valid_cycles += 1
            if self._get_ready is None or self._get_ready():
                self.sent += 1
                self._hold = False
            else:
                self._hold = True

    def __repr__(self):
        return f"<{self.name}: {self.sent}/{len(self.items)} sent>"


class StreamMonitor(_Agent):
    """Passive observer of a stream: records every transfer and checks the stream rules.

    ``count``: number of transfers after which ``done`` is true (None: never done).
    ``callback(payload)``: called on each transfer (in the ReadOnly phase: read, don't write).
    """

    def __init__(self, dut, prefix, *, layout=None, count=None, callback=None, sep="__",
                 name=None, strict=True):
        self.name = name or f"{prefix} monitor"
        self.layout = layout
        self.valid = _port(dut, prefix, "valid", sep)
        self.ready = _port(dut, prefix, "ready", sep, required=False)
        self.payload = _port(dut, prefix, "payload", sep, required=False)
        self.count = count
        self.callback = callback
        self.strict = strict
        self.errors = []
        self.received = []
        self.cycles = 0
        self.stall_cycles = 0   # valid & ~ready
        self._held = None       # payload seen with valid & ~ready, pending its transfer
        self._drives_ready = False
        self._get_valid = self.valid.get
        self._get_payload = self.payload.get if self.payload is not None else None
        self._get_ready = self.ready.get if self.ready is not None else None

    @property
    def done(self):
        return None if self.count is None else len(self.received) >= self.count

    @property
    def progress(self):
        return len(self.received)

    def sample(self):
        self.cycles += 1
        held = self._held
        if self._get_valid():
            p = self._get_payload() if self._get_payload is not None else 0
            if held is not None and p != held:
                self._error(f"payload changed from {held:#x} to {p:#x} while valid & ~ready")
            if self._ready if self._drives_ready else (self._get_ready is None or self._get_ready()):
                self.received.append(p)
                self._held = None
                if self.callback is not None:
                    self.callback(p)
            else:
                self._held = p
                self.stall_cycles += 1
        elif held is not None:
            self._error(f"valid dropped before the transfer of payload {held:#x}")
            self._held = None

    def take(self, count=None):
        """Return the transfers received so far and start a new list; ``count`` becomes the
        number of further transfers after which ``done`` is true (default: unchanged)."""
        got, self.received = self.received, []
        if count is not None:
            self.count = count
        elif self.count is not None:
            self.count = max(0, self.count - len(got))
        return got

    def unpacked(self, depth=None):
        """Received payloads as numpy columns (needs ``layout``; else a uint64/object array)."""
        if self.layout is None:
            return np.array(self.received, dtype=np.uint64 if self.payload is None or self.payload.width <= 64 else object)
        return unpack_array(self.layout, self.received, depth)

    def __repr__(self):
        want = "" if self.count is None else f"/{self.count}"
        return f"<{self.name}: {len(self.received)}{want} received>"


class StreamSink(StreamMonitor):
    """A consumer: drives ``ready`` (low with probability ``stall`` each cycle) and checks the
    stream rules like :class:`StreamMonitor`.

    ``lazy=True`` raises ``ready`` only while ``valid`` is already high (and then still with
    the random stalls): a legal consumer that deadlocks a DUT whose ``valid`` waits for ``ready``.
    """

    def __init__(self, dut, prefix, *, layout=None, count=None, stall=0.0, rng=None, seed=None,
                 lazy=False, callback=None, sep="__", name=None, strict=True):
        super().__init__(dut, prefix, layout=layout, count=count, callback=callback, sep=sep,
                         name=name or f"{prefix} sink", strict=strict)
        if self.ready is None:
            raise AttributeError(f"{self.name}: no {prefix}{sep}ready port to drive")
        self.stall = float(stall)
        if not 0.0 <= self.stall < 1.0:
            raise ValueError(f"stall must be a probability in [0, 1), got {stall!r}")
        self.rng = _rng(rng, seed)
        self.lazy = lazy
        self._drives_ready = True
        self._set_ready = self.ready.put
        self._ready = 0
        self.idle()

    def idle(self):
        """Stop accepting (ready low): no transfer can happen unobserved."""
        self.ready.set(0)
        self._ready = 0

    def drive(self):
        r = 1 if self.stall == 0.0 or self.rng.random() >= self.stall else 0
        if self.lazy and self._held is None:
            r = 0
        if r != self._ready:
            self._set_ready(r)
            self._ready = r
