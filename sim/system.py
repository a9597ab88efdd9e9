"""System runs: a firmware image on a cluster top, from load to exit code, with no Python per
cycle (the compiled harness of :mod:`flows.native`), one run or a batch of runs per build.

A run loads the ELF's instruction-memory and preloaded-scratchpad words through the cluster's
``loader`` port while the cores are held (``fetch_enable`` low), raises ``fetch_enable``,
collects the mailbox bytes (``putc_valid``/``putc_data``) and stops at ``exit_valid`` or after
``max_cycles`` cycles (a timeout, not an error: fault campaigns count them). Afterwards the
memory named by ``dump`` ({symbol: bytes}) is read back through the loader. This is the protocol
of the cocotb testbench ``sim/benches/cluster_tb.py``, with the same cycle counts (the cluster's
own counter, read in the exit cycle); tests/cluster/test_native_system.py checks that the two
agree.

:meth:`SystemSim.run_batch` runs a list of :class:`Run` on one build, several at a time: in
lean worker processes (default) or in this process, each run restored from a snapshot of the
model taken after reset and the image's load (:meth:`flows.native.Model.snapshot`: a copy of
the whole state, so a run starts exactly as on a fresh model and the load is paid once per
image and process), or forked from one loaded model (``os.fork``: copied on write).
"""

import gc
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from flows.elf import load_elf
from flows.native import NativeBuild, top_ports
from flows.toolchain import ROOT

__all__ = ["IMEM_BASE", "SPM_BASE", "LoadImage", "Run", "SystemResult", "SystemSim",
           "SystemTimeout"]

def __getattr__(name):
    """IMEM_BASE and SPM_BASE, the cluster's address map's, read on first use: a batch worker
    (:func:`_worker`) imports this module without Amaranth and the hardware library."""
    if name in ("IMEM_BASE", "SPM_BASE"):
        from hw.cluster.regs import ADDRESS_MAP
        return ADDRESS_MAP[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SystemTimeout(AssertionError):
    """A run that had to finish did not exit within its cycle limit."""


@dataclass
class Run:
    """One system run: ``elf`` (path), ``dump`` ({symbol: bytes} read back after the exit),
    ``max_cycles`` (the watchdog), ``tag`` (anything, returned with the result)."""

    elf: str
    dump: dict = field(default_factory=dict)
    max_cycles: int = 2_000_000
    tag: object = None


class SystemResult(dict):
    """Result of one run: ``exit_code`` (None on a timeout), ``timeout``, ``output`` (the mailbox
    text), ``cycles`` (the cluster's counter in the exit cycle), ``load_cycles``, ``seconds``
    (the run from ``fetch_enable``), ``load_seconds``, ``cycles_per_second``, ``dump``
    ({symbol: hex}), ``tag``. The same keys as the cocotb bench's result.json."""

    def array(self, name, dtype=np.uint16):
        return np.frombuffer(bytes.fromhex(self["dump"][name]), dtype=dtype)


class LoadImage:
    """The words of an ELF that a run loads through the cluster's loader port: its instruction
    memory and its preloaded scratchpad data (``.spm_data``, firmware/link.ld); ``addrs`` and
    ``words`` (numpy, in address order of the ELF), ``symbols``, ``image`` (flows.elf)."""

    def __init__(self, elf, imem_size, spm_size, imem_base=None, spm_base=None):
        imem_base = __getattr__("IMEM_BASE") if imem_base is None else imem_base
        spm_base = __getattr__("SPM_BASE") if spm_base is None else spm_base
        self.image = load_elf(elf)
        self.image.check_fits({"imem": (imem_base, imem_size), "spm": (spm_base, spm_size)})
        words = self.image.words(imem_base, imem_size)
        words.update(self.image.words(spm_base, spm_size))         # .spm_data (firmware/link.ld)
        self.addrs = np.fromiter(words.keys(), dtype=np.uint64, count=len(words))
        self.words = np.fromiter(words.values(), dtype=np.uint32, count=len(words))
        self.symbols = self.image.symbols


class SystemSim:
    """The compiled simulator of one cluster top (ports ``loader__*``, ``fetch_enable``,
    ``putc_*``, ``exit_*``, ``cycles``).

    Parameters
    ----------
    build : flows.native.NativeBuild
        The cluster's build.
    params : dict
        The cluster's parameters (``imem_kib``, ``scratchpad_kib``, ``cores``).
    """

    def __init__(self, build, params):
        self.build = build
        self.params = params
        self.imem_size = params["imem_kib"] * 1024
        self.spm_size = params["scratchpad_kib"] * 1024
        from hw.cluster.regs import ADDRESS_MAP   # kept: a pickled copy needs no import
        self.imem_base, self.spm_base = ADDRESS_MAP["IMEM_BASE"], ADDRESS_MAP["SPM_BASE"]
        self._images = {}
        self._starts = {}                   # image key -> (model, loader, cycles, s, snapshot)

    #: Inputs registered on the way in (flows.native.registering_wrapper), and the loader's
    #: requests: then no logic depends combinationally on a top-level input. The inputs are
    #: held for whole cycles, and the cluster's counter starts with the registered
    #: fetch_enable, so cycle counts are unchanged; a loader access takes one cycle more.
    REGISTERED_INPUTS = ("rst", "fetch_enable", "events")

    #: Cycles of the profile workload of a profile-guided build (``pgo=True`` or SIM_PGO=1 in
    #: the environment: about 5-8 % faster runs for twice the build time, docs/sim_speed.md):
    #: the first requested run, cut here (the instrumented model runs at about half speed).
    PROFILE_CYCLES = 200_000

    @classmethod
    def for_component(cls, component, name, params, **kwargs):
        from flows.emit import verilog_text
        return cls.for_verilog(verilog_text(component, name), name, params, **kwargs)

    @classmethod
    def for_verilog(cls, verilog, name, params, **kwargs):
        """The simulator of a cluster's emitted Verilog: its inputs of REGISTERED_INPUTS and
        the loader's requests registered, profile-guided if SIM_PGO=1; ``kwargs`` (NativeBuild
        options) override these."""
        inputs = {n for d, _, n in top_ports(verilog, name) if d == "input"}
        kwargs.setdefault("registered_inputs", [n for n in cls.REGISTERED_INPUTS if n in inputs])
        kwargs.setdefault("registered_buses", ["loader__"])
        kwargs.setdefault("pgo", os.environ.get("SIM_PGO", "0") == "1")
        return cls(NativeBuild(verilog, name, **kwargs), params)

    @staticmethod
    def _image_key(elf):
        return (str(elf), os.stat(elf).st_mtime_ns)

    def _image(self, elf):
        key = self._image_key(elf)
        if key not in self._images:
            self._images[key] = LoadImage(elf, self.imem_size, self.spm_size, self.imem_base,
                                          self.spm_base)
        return self._images[key]

    # -- one run ---------------------------------------------------------------------------
    def _ensure_built(self, image, run):
        """Build (with ``pgo``, profiled on ``run`` of ``image``, its own first run, for at
        most PROFILE_CYCLES cycles)."""
        if self.build.built:
            return

        def profile(model):
            loader, load_cycles, load_seconds = self._load(model, image, False)
            sample = Run(run.elf, {}, min(run.max_cycles, self.PROFILE_CYCLES))
            self._execute(model, loader, image, sample, load_cycles, load_seconds)
        self.build.build(profile=profile if self.build.pgo else None)

    def _loaded(self, image, verify, run):
        """A fresh model, reset, with ``image`` loaded; returns (model, loader, load cycles,
        load seconds)."""
        self._ensure_built(image, run)
        model = self.build.open()
        return (model, *self._load(model, image, verify))

    @staticmethod
    def _load(model, image, verify):
        model["fetch_enable"] = 0
        model.reset()
        model.step(1)
        loader = model.bus("loader__")
        t0 = time.perf_counter()
        c0 = model.cycle
        loader.write_words(image.addrs, image.words, verify=verify)
        return loader, model.cycle - c0, time.perf_counter() - t0

    @staticmethod
    def _execute(model, loader, image, run, load_cycles, load_seconds):
        """From the loaded model to the result (the model is left after the run)."""
        sink = model.byte_sink("putc_valid", "putc_data")
        model["fetch_enable"] = 1
        if "fetch_enable" in model.registered_inputs:
            model.step(1)                       # it reaches the cluster one edge later
        t1 = time.perf_counter()
        _, exited = model.run_until("exit_valid", 1, run.max_cycles)
        seconds = time.perf_counter() - t1
        cycles = model["cycles"]
        result = SystemResult(
            exit_code=model["exit_code"] if exited else None, timeout=not exited,
            output=sink.bytes().decode(errors="replace"), cycles=cycles, seconds=seconds,
            cycles_per_second=cycles / seconds if seconds > 0 else None,
            load_cycles=load_cycles, load_seconds=load_seconds, dump={}, tag=run.tag)
        if exited and run.dump:
            model.step(1)                       # leave the exit cycle
            for sym, nbytes in run.dump.items():
                if sym not in image.symbols:
                    raise KeyError(f"dump: no symbol {sym!r} in {run.elf}")
                base = image.symbols[sym]
                data = b"".join(loader.read(a).to_bytes(4, "little")
                                for a in range(base & ~3, base + nbytes, 4))
                result["dump"][sym] = data[base & 3:(base & 3) + nbytes].hex()
        return result

    def run(self, elf, dump=None, *, max_cycles=2_000_000, verify_load=False, tag=None,
            setup=None, inspect=None, reuse=False):
        """One run of ``elf`` in a fresh model; returns a :class:`SystemResult`.
        ``verify_load``: read every loaded word back before starting (as the cocotb bench).
        ``setup(model)``: called once the image is loaded, before the cores start (e.g. to
        program a design's other inputs); ``inspect(model, result)``: called after the run,
        before the model is freed (e.g. to read other outputs into the result). ``reuse``:
        keep one loaded model per image in this object and start each run from its snapshot
        after the load (the same result, without the load; :meth:`close` frees them)."""
        run = Run(str(elf), dict(dump or {}), max_cycles, tag)
        if reuse:
            model, loader, image, load_cycles, load_seconds = self._restored(run)
        else:
            image = self._image(elf)
            model, loader, load_cycles, load_seconds = self._loaded(image, verify_load, run)
        try:
            if setup is not None:
                setup(model)
            result = self._execute(model, loader, image, run, load_cycles, load_seconds)
            if inspect is not None:
                inspect(model, result)
            return result
        finally:
            if not reuse:
                model.close()

    def run_or_raise(self, elf, dump=None, *, max_cycles=2_000_000, **kwargs):
        """:meth:`run`, raising :class:`SystemTimeout` (with the output so far) on a timeout."""
        r = self.run(elf, dump, max_cycles=max_cycles, **kwargs)
        if r["timeout"]:
            raise SystemTimeout(f"watchdog: no exit after {max_cycles} cycles (cycle counter "
                                f"{r['cycles']}); output so far: {r['output']!r}")
        return r

    # -- batches ---------------------------------------------------------------------------
    def __getstate__(self):              # sent to batch workers: without the caches
        return dict(self.__dict__, _images={}, _starts={})

    def _restored(self, run):
        """(model, loader, image, load cycles, load seconds): this process's model of the
        run's image, restored to the snapshot taken after reset and the load (made on first
        use)."""
        image = self._image(run.elf)
        key = self._image_key(run.elf)
        if key not in self._starts:
            model, loader, load_cycles, load_seconds = self._loaded(image, False, run)
            self._starts[key] = (model, loader, load_cycles, load_seconds, model.snapshot())
        model, loader, load_cycles, load_seconds, snap = self._starts[key]
        model.restore(snap)
        return model, loader, image, load_cycles, load_seconds

    def _from_snapshot(self, run):
        model, loader, image, load_cycles, load_seconds = self._restored(run)
        return self._execute(model, loader, image, run, load_cycles, load_seconds)

    def close(self):
        """Free the loaded models kept for ``reuse`` and batches."""
        for model, *_ in self._starts.values():
            model.close()
        self._starts.clear()


    def run_batch(self, runs, *, jobs=None, mode="pool", progress=None):
        """Results of ``runs`` (a list of :class:`Run`), in order.

        ``mode``: ``"pool"``, worker processes (``jobs`` of them, default the machine's cores,
        fresh interpreters), each loading an image once and starting every run of it from the
        snapshot taken after the load; ``"serial"``, the same one run after the other in this
        process; ``"fork"``, each distinct image loaded once here and its runs started from
        copies of the loaded model (``os.fork``, ``jobs`` at once; this process's page tables
        are copied per run). A run gives the same result in every mode as :meth:`run` on a
        fresh model. ``progress``: called with the number of runs done.
        """
        runs = list(runs)
        jobs = max(1, jobs or os.cpu_count() or 1)
        if mode not in ("pool", "fork", "serial"):
            raise ValueError(f"mode must be 'pool', 'fork' or 'serial', got {mode!r}")
        results = [None] * len(runs)
        if not runs:
            return results
        self._ensure_built(self._image(runs[0].elf), runs[0])
        done = 0

        def finished(i, result):
            nonlocal done
            results[i] = result
            done += 1
            if progress:
                progress(done)

        if mode == "serial":
            try:
                for i, run in enumerate(runs):
                    finished(i, self._from_snapshot(run))
            finally:
                self.close()
        elif mode == "pool":
            for i, result in _pooled(self, runs, jobs):
                finished(i, result)
        else:
            by_image = {}
            for i, run in enumerate(runs):
                by_image.setdefault(str(run.elf), []).append(i)
            for elf, indices in by_image.items():
                image = self._image(elf)
                model, loader, load_cycles, load_seconds = self._loaded(image, False,
                                                                        runs[indices[0]])
                try:
                    for i, result in _forked(indices, jobs, lambda i: self._execute(
                            model, loader, image, runs[i], load_cycles, load_seconds)):
                        finished(i, result)
                finally:
                    model.close()
        return results


def _send(stream, obj):
    payload = pickle.dumps(obj)
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    return pickle.loads(stream.read(struct.unpack("<Q", head)[0]))


def _pooled(system_sim, runs, jobs):
    """Yield ``(i, result)`` for every run, computed by ``jobs`` worker processes (fresh
    interpreters running :func:`_worker`: small, so nothing of this process is copied), each
    given the next run as soon as it returns one."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    workers = [subprocess.Popen([sys.executable, "-c", "from sim.system import _worker; _worker()"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
               for _ in range(min(jobs, len(runs)))]
    pending = list(enumerate(runs))
    busy = {}                                   # worker stdout fd -> (worker, run index)
    try:
        for w in workers:
            _send(w.stdin, system_sim)
            if pending:
                i, run = pending.pop(0)
                _send(w.stdin, run)
                busy[w.stdout.fileno()] = (w, i)
        while busy:
            ready, _, _ = select.select(list(busy), [], [])
            w, i = busy.pop(ready[0])
            try:
                ok, value = _receive(w.stdout)
            except EOFError:
                raise RuntimeError(f"run {i}: the worker process died "
                                   f"(exit status {w.wait()})") from None
            if not ok:
                raise RuntimeError(f"run {i}: {value}")
            yield i, value
            if pending:
                j, run = pending.pop(0)
                _send(w.stdin, run)
                busy[w.stdout.fileno()] = (w, j)
    finally:
        for w in workers:
            try:
                _send(w.stdin, None)
                w.stdin.close()
            except OSError:
                pass
            w.wait()


def _worker():
    """A batch worker: reads a SystemSim, then runs until None, answering each with
    ``(True, result)`` or ``(False, error text)``."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    system_sim = _receive(inp)
    while (run := _receive(inp)) is not None:
        try:
            reply = (True, system_sim._from_snapshot(run))
        except Exception as e:  # noqa: BLE001 - reported by the parent
            reply = (False, f"{type(e).__name__}: {e}")
        _send(out, reply)
    system_sim.close()


def _forked(indices, jobs, work):
    """Yield ``(i, work(i))`` for each index, each computed in a forked child (at most ``jobs``
    at once) that sends its pickled result through a pipe."""
    pending = list(indices)
    running = {}                       # pid -> (i, read fd)
    # The children share the parent's memory copy-on-write; a garbage collection in a child
    # would touch (and so copy) every object: keep the collector out of the children.
    gc.freeze()

    def start(i):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                   # child: the parent's loaded model, copied on write
            gc.disable()
            os.close(r)
            try:
                payload = pickle.dumps((True, work(i)))
            except BaseException as e:  # noqa: BLE001 - reported by the parent
                payload = pickle.dumps((False, f"{type(e).__name__}: {e}"))
            with os.fdopen(w, "wb") as f:
                f.write(struct.pack("<Q", len(payload)) + payload)
            os._exit(0)
        os.close(w)
        running[pid] = (i, r)

    try:
        while pending or running:
            while pending and len(running) < jobs:
                start(pending.pop(0))
            # Read a result to its end before reaping the child: a child blocks on a full pipe.
            ready, _, _ = select.select([r for _, r in running.values()], [], [])
            pid = next(p for p, (_, r) in running.items() if r == ready[0])
            i, r = running.pop(pid)
            with os.fdopen(r, "rb") as f:
                payload = f.read()
            _, status = os.waitpid(pid, 0)
            if len(payload) < 8 or len(payload) != 8 + struct.unpack("<Q", payload[:8])[0]:
                raise RuntimeError(f"run {i}: the simulation process died (status {status:#x})")
            ok, value = pickle.loads(payload[8:])
            if not ok:
                raise RuntimeError(f"run {i}: {value}")
            yield i, value
    finally:
        gc.unfreeze()
