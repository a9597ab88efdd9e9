"""Verilator models with a compiled harness: the clock loop, memories and bus masters in C++,
driven from Python through ctypes, with no Python per simulated cycle.

A :class:`NativeBuild` turns one Verilog top level into ``build/native/<hash>/libsim.so``: the
Verilated model (only its top-level ports visible, C++ at ``cxx_opt``) linked with
``harness.cpp`` (this folder). The hash covers the Verilog, the top-level name, the build
options and the harness source, so an unchanged design is never rebuilt. :meth:`NativeBuild.open`
gives a :class:`Model`: ports by name, :meth:`Model.step` / :meth:`Model.run_until` (cycles run
in C++), TCDM memories attached to the design's master ports (:meth:`Model.memory`, a numpy
view of the C++ storage), bus masters on its slave ports (:meth:`Model.bus`) and byte sinks
(:meth:`Model.byte_sink`). The cycle is the one of the cocotb testbenches (``harness.cpp``
explains the phases), so cycle counts agree with them.

Typical use::

    model = NativeBuild.for_component(TensorUnit(), "tensor_unit").open()
    model.reset()
    mem = model.memory(base=0x1000_0000, size=1 << 20)
    mem.attach("tcdm__", stall=0.3, seed=1)
    ...
"""

import ctypes
import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from ..toolchain import BUILD, build_lock, restore_runtime, save_runtime, verilator_env

__all__ = ["NativeBuild", "top_ports", "registering_wrapper", "Model", "Snapshot", "Memory", "Bus",
           "ByteSink", "BuildFailed", "HARNESS", "DEFAULT_CXX_OPT"]

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
#: Bump when the recipe changes in a way the hash cannot see.
_RECIPE = "1"
#: C++ optimisation of the model's evaluation code (OPT_FAST). Measured in docs/sim_speed.md.
DEFAULT_CXX_OPT = "-O3"
#: Verilator options: the model's own optimisation; warnings that Amaranth's Verilog triggers.
_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3", "--x-assign",
                   "fast", "--x-initial", "fast")
_TOP_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:\[(\d+):(\d+)\]\s+)?([A-Za-z_]\w*)\s*;", re.M)
_PORT_DECL = re.compile(r"VL_(IN|OUT|INOUT)(8|16|32|64|W)?\(&(\w+),(\d+),(\d+)")


class BuildFailed(RuntimeError):
    pass


def _ports_inc(header_text):
    """``PORT(member, "name", width, is_input)`` lines from a Verilated ``Vtop.h`` (Verilator
    escapes characters of port names as ``__0XX``, e.g. ``loader__req`` as
    ``loader___05Freq``; the name is the Verilog one)."""
    lines = []
    for kind, _, member, msb, lsb in _PORT_DECL.findall(header_text):
        width = int(msb) - int(lsb) + 1
        name = re.sub(r"__0([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), member)
        lines.append(f'PORT({member}, "{name}", {width}, {int(kind == "IN")})')
    if not lines:
        raise BuildFailed("no top-level ports found in Vtop.h")
    return "\n".join(lines) + "\n"


def top_ports(verilog_text, toplevel):
    """``[(direction, width, name)]`` of module ``toplevel`` in Amaranth's emitted Verilog."""
    start = re.search(rf"^module {re.escape(toplevel)}\(", verilog_text, re.M)
    if not start:
        raise ValueError(f"no module {toplevel!r} in the Verilog")
    end = verilog_text.index("\nendmodule", start.end())
    return [(d, int(msb) - int(lsb) + 1 if msb else 1, name)
            for d, msb, lsb, name in _TOP_PORT.findall(verilog_text[start.end():end])]


_BUS_INPUTS = ("req", "addr", "we", "be", "wdata")
_MEMORY_INPUTS = ("gnt", "rvalid", "rdata")


def registering_wrapper(verilog_text, toplevel, wrapper, registered=(), buses=(), memories=()):
    """Verilog of module ``wrapper``: ``toplevel`` with the same ports, its inputs named in
    ``registered``, the request side of the TCDM slave ports named in ``buses`` (prefixes:
    ``req``, ``addr``, ``we``, ``be``, ``wdata``) and the response side of the TCDM master
    ports named in ``memories`` (``gnt``, ``rvalid``, ``rdata``) passing through a register
    clocked by ``clk``.

    Why: logic that depends combinationally on a top-level input is evaluated on every
    ``eval()`` of a Verilated model, the clock's falling edge included, and Amaranth's reset is
    an input of every register's next-state logic. Registered, these inputs become state.

    What it costs: a reset or start input held for whole cycles arrives one cycle later. A
    registered bus port sees each request one cycle after the master drives it; a request
    granted in one cycle is withheld from the design in the next (the master, which saw the
    grant, has dropped or replaced it by then), so no access is repeated and a request stays
    stable until granted, as the TCDM contract asks. An access takes one cycle more. A
    registered memory port loses nothing if the memory model writes its response a cycle
    ahead (``harness.cpp``, ``early``): read data is known in the cycle of the grant, and the
    grant must then not depend on the request of its own cycle.
    """
    ports = top_ports(verilog_text, toplevel)
    inputs = {n: w for d, w, n in ports if d == "input"}
    bus_inputs = {prefix + s: prefix for prefix in buses for s in _BUS_INPUTS}
    registered = set(registered) | {prefix + s for prefix in memories for s in _MEMORY_INPUTS}
    missing = (registered | set(bus_inputs)) - set(inputs)
    if missing:
        raise ValueError(f"registered inputs {sorted(missing)} are not inputs of {toplevel}")
    if "clk" not in inputs:
        raise ValueError(f"{toplevel} has no clk input")
    lines = [f"module {wrapper}({', '.join(n for _, _, n in ports)});"]
    conn = []
    for d, w, n in ports:
        rng = f"[{w - 1}:0] " if w > 1 else ""
        lines.append(f"  {d} {rng}{n};")
        if n in registered or n in bus_inputs:
            lines.append(f"  reg {rng}{n}__q = 0;")
            lines.append(f"  always @(posedge clk) {n}__q <= {n};")
            conn.append(f".{n}({n}__q)")
        else:
            conn.append(f".{n}({n})")
    for prefix in buses:
        # A request granted in the last cycle is not presented again.
        req = f"{prefix}req"
        lines.append(f"  reg {req}__done = 0;")
        lines.append(f"  wire {req}__dut = {req}__q & ~{req}__done;")
        lines.append(f"  always @(posedge clk) {req}__done <= {req}__dut & {prefix}gnt;")
        conn = [c.replace(f"({req}__q)", f"({req}__dut)") for c in conn]
    lines.append(f"  {toplevel} dut({', '.join(conn)});")
    lines.append("endmodule")
    return verilog_text + "\n" + "\n".join(lines) + "\n"


class NativeBuild:
    """One Verilog top level compiled with the harness into a shared library.

    Parameters
    ----------
    verilog_text : str
        The design (Amaranth's emitted Verilog).
    toplevel : str
        Its top module.
    cxx_opt : str
        C++ optimisation of the evaluation code (``-O0`` .. ``-O3``); the construction code is
        compiled at ``-O0`` (it runs once).
    jobs : int
        Parallel compiler processes (default: the machine's cores).
    registered_inputs : tuple of str
        Inputs that reach the design through a register (:func:`registering_wrapper`):
        ``rst`` by default.
    registered_buses : tuple of str
        TCDM slave ports (prefixes) whose requests reach the design through registers.
    registered_memories : tuple of str
        TCDM master ports (prefixes) whose responses reach the design through registers
        (the :class:`Memory` serving them writes them a cycle ahead).
    build_root : Path
        Where the hashed build folders go (default ``build/native``; benchmarks measure cold
        builds in a folder of their own).
    pgo : bool
        Profile-guided optimisation: :meth:`build` compiles an instrumented library, runs the
        ``profile`` workload it is given on it, and compiles the evaluation code again with
        the profile (gcc ``-fprofile-use``). Measured gain and cost: docs/sim_speed.md.

    Members
    -------
    build_dir : Path
        ``build/native/<hash>/``; ``library`` is ``libsim.so`` in it.
    build_seconds : float or None
        Wall-clock seconds of the last :meth:`build` that compiled (None if it was cached).
    """

    def __init__(self, verilog_text, toplevel, *, cxx_opt=None, jobs=None, verilator_args=(),
                 registered_inputs=("rst",), registered_buses=(), registered_memories=(),
                 pgo=False, build_root=None):
        self.design = toplevel
        self.pgo = bool(pgo)
        self.registered_inputs = tuple(registered_inputs)
        self.registered_buses = tuple(registered_buses)
        self.registered_memories = tuple(registered_memories)
        if self.registered_inputs or self.registered_buses or self.registered_memories:
            toplevel = toplevel + "_native"
            verilog_text = registering_wrapper(verilog_text, self.design, toplevel,
                                               self.registered_inputs, self.registered_buses,
                                               self.registered_memories)
        self.toplevel = toplevel
        self.cxx_opt = cxx_opt or os.environ.get("SIM_CXX_OPT") or DEFAULT_CXX_OPT
        if not re.fullmatch(r"-O[0-3sg]( -[\w=+.-]+)*", self.cxx_opt):
            raise ValueError(f"cxx_opt must be -O0..-O3, -Os or -Og, optionally followed by "
                             f"more compiler flags; got {self.cxx_opt!r}")
        self.jobs = jobs or os.cpu_count() or 1
        self.verilator_args = list(_VERILATOR_ARGS) + list(verilator_args)
        key = hashlib.sha256("\0".join(
            [_RECIPE, toplevel, self.cxx_opt, str(self.pgo), *self.verilator_args,
             HARNESS.read_text(),
             verilog_text]).encode()).hexdigest()[:16]
        self.build_root = Path(build_root) if build_root else BUILD / "native"
        self.build_dir = self.build_root / key
        self.library = self.build_dir / "libsim.so"
        self._verilog_text = verilog_text
        self.build_seconds = None

    @classmethod
    def for_component(cls, component, name, **kwargs):
        from .. import emit             # here: a batch worker loads no Amaranth
        return cls(emit.verilog_text(component, name), name, **kwargs)

    @property
    def built(self):
        return (self.build_dir / ".built").exists() and self.library.exists()

    def build(self, profile=None):
        """Compile unless an identical library exists. Returns self.

        ``profile`` (needed the first time if ``pgo``): a function of a :class:`Model` that
        runs a representative workload on it (the instrumented library's model)."""
        with build_lock(self.build_root / f".{self.build_dir.name}.lock"):
            if self.built:
                return self
            if self.pgo and profile is None:
                raise ValueError("a pgo build needs a profile workload: build(profile=fn)")
            t0 = time.perf_counter()
            d = self.build_dir
            d.mkdir(parents=True, exist_ok=True)
            source = d / f"{self.toplevel}.v"
            source.write_text(self._verilog_text)
            env = verilator_env()
            log = d / "build.log"
            verilate = ["verilator", "--cc", "--exe", "-Mdir", str(d), "--top-module",
                        self.toplevel, "--prefix", "Vtop", "-o", "libsim.so",
                        "-CFLAGS", "-fPIC", "-LDFLAGS", "-shared", *self.verilator_args,
                        str(HARNESS), str(source)]

            def make(opt_fast, *extra):
                return ["make", "-j", str(self.jobs), "-C", str(d), "-f", "Vtop.mk",
                        f"OPT_FAST={opt_fast}", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1", *extra]
            with open(log, "w") as out:
                self._call(verilate, env, out, log)
                (d / "ports.inc").write_text(_ports_inc((d / "Vtop.h").read_text()))
                restore_runtime(d, "-O1")          # verilated.o & co. of an earlier build
                if not self.pgo:
                    self._call(make(self.cxx_opt), env, out, log)
                else:
                    self._call(make(f"{self.cxx_opt} -fprofile-generate -fprofile-update=single",
                                    "USER_LDFLAGS=-fprofile-generate -Wl,-u,__gcov_dump "
                                    "-Wl,-u,__gcov_reset"),
                               env, out, log)
                    instrumented = d / "libsim-profile.so"
                    self.library.rename(instrumented)
                    t1 = time.perf_counter()
                    with Model(instrumented, self.registered_memories,
                               self.registered_inputs) as model:
                        profile(model)
                    if not _library(instrumented).sim_profile_dump():
                        raise BuildFailed("the instrumented library wrote no profile")
                    out.write(f"profile workload: {time.perf_counter() - t1:.1f} s\n")
                    # Recompile the evaluation code (and the harness) with the profile; the
                    # construction code (*__Slow*) and the Verilated runtime stay as they are.
                    for f in d.iterdir():
                        if (f.suffix in (".o", ".a", ".gch") and "slow" not in f.name.lower()
                                and not f.name.startswith("verilated")):
                            f.unlink()
                    self._call(make(f"{self.cxx_opt} -fprofile-use -fprofile-correction "
                                    "-Wno-missing-profile"), env, out, log)
            save_runtime(d, "-O1")
            self.build_seconds = time.perf_counter() - t0
            (d / ".built").write_text(f"{self.build_seconds:.1f}\n")
        return self

    @staticmethod
    def _call(cmd, env, out, log):
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        if subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode:
            tail = log.read_text()[-4000:]
            raise BuildFailed(f"{cmd[0]} failed; {log} (tail):\n{tail}")

    def open(self, profile=None):
        """A fresh :class:`Model` (builds first if needed; ``profile``: see :meth:`build`),
        clock low, not yet reset."""
        return Model(self.build(profile).library, self.registered_memories,
                     self.registered_inputs)


_LIBS = {}


def _library(path):
    """The ctypes library at ``path`` with the harness's signatures (loaded once)."""
    path = str(path)
    if path in _LIBS:
        return _LIBS[path]
    lib = ctypes.CDLL(path)
    P, I, U64, D, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_double, ctypes.c_char_p
    B = ctypes.POINTER(ctypes.c_uint8)
    sig = {
        "sim_new": (P, []), "sim_profile_dump": (I, []), "sim_free": (None, [P]), "sim_port_count": (I, [P]),
        "sim_snapshot": (P, [P]), "sim_restore": (I, [P, P]), "sim_snapshot_free": (None, [P]),
        "sim_port_name": (S, [P, I]), "sim_port_width": (I, [P, I]),
        "sim_port_is_input": (I, [P, I]), "sim_port": (I, [P, S]),
        "sim_get": (U64, [P, I]), "sim_set": (None, [P, I, U64]),
        "sim_get_bytes": (None, [P, I, B]), "sim_set_bytes": (None, [P, I, B]),
        "sim_cycle": (U64, [P]), "sim_evals": (U64, [P]), "sim_settle": (None, [P]),
        "sim_edge": (None, [P]), "sim_step": (None, [P, U64]),
        "sim_run_until": (U64, [P, I, U64, U64, ctypes.POINTER(I)]),
        "sim_memory": (I, [P, U64, U64]), "sim_memory_data": (B, [P, I]),
        "sim_memory_port": (I, [P, I, S, D, I, I, U64]),
        "sim_memory_port_stats": (None, [P, I, ctypes.POINTER(U64)]),
        "sim_byte_sink": (I, [P, I, I]), "sim_byte_sink_read": (U64, [P, I, B, U64]),
        "sim_byte_sink_clear": (None, [P, I]), "sim_bus": (I, [P, S]),
        "sim_bus_access": (I, [P, I, U64, I, B, U64, B, U64]),
        "sim_bus_write_words": (I, [P, I, ctypes.POINTER(U64), ctypes.POINTER(ctypes.c_uint32),
                                    U64, I, U64, ctypes.POINTER(U64)]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    _LIBS[path] = lib
    return lib


class Model:
    """One instance of a compiled design (see the module docstring). Ports are read and written
    by name: ``model["exit_code"]``, ``model["fetch_enable"] = 1`` (widths up to 64 bits;
    :meth:`get_bytes` / :meth:`set_bytes` for any width)."""

    def __init__(self, library, registered_memories=(), registered_inputs=()):
        self.registered_memories = tuple(registered_memories)
        self.registered_inputs = tuple(registered_inputs)
        self._lib = lib = _library(library)
        self._h = lib.sim_new()
        if not self._h:
            raise ValueError(f"{library}: the design has no 'clk' port")
        self.ports = {}
        for i in range(lib.sim_port_count(self._h)):
            self.ports[lib.sim_port_name(self._h, i).decode()] = (
                i, lib.sim_port_width(self._h, i), bool(lib.sim_port_is_input(self._h, i)))

    def close(self):
        if self._h:
            self._lib.sim_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _port(self, name, width_max=64):
        try:
            i, width, _ = self.ports[name]
        except KeyError:
            stem = name.split("__")[0]
            near = sorted(n for n in self.ports if n.startswith(stem)) or sorted(self.ports)
            raise KeyError(f"no port {name!r}; ports: {', '.join(near)}") from None
        if width > width_max:
            raise ValueError(f"port {name!r} is {width} bits wide: use get_bytes/set_bytes")
        return i

    def __getitem__(self, name):
        return self._lib.sim_get(self._h, self._port(name))

    def __setitem__(self, name, value):
        self._lib.sim_set(self._h, self._port(name), int(value) & (2 ** 64 - 1))

    def get_bytes(self, name):
        i, width, _ = self.ports[name]
        buf = (ctypes.c_uint8 * ((width + 7) // 8))()
        self._lib.sim_get_bytes(self._h, i, buf)
        return bytes(buf)

    def set_bytes(self, name, data):
        i, width, _ = self.ports[name]
        buf = (ctypes.c_uint8 * ((width + 7) // 8)).from_buffer_copy(
            bytes(data).ljust((width + 7) // 8, b"\0"))
        self._lib.sim_set_bytes(self._h, i, buf)

    @property
    def cycle(self):
        """Clock edges run since this model was created."""
        return self._lib.sim_cycle(self._h)

    @property
    def evals(self):
        return self._lib.sim_evals(self._h)

    def step(self, cycles=1):
        self._lib.sim_step(self._h, int(cycles))

    def snapshot(self):
        """A :class:`Snapshot` of this model's whole state now (design, cycle count, memories,
        memory ports, byte sinks): :meth:`restore` returns to it, any number of times."""
        return Snapshot(self)

    def restore(self, snapshot):
        """Back to ``snapshot`` (one of this model's). The agents created since are gone from
        the harness (a byte sink created after the snapshot collects nothing more); memories
        or memory ports added since make it a ValueError."""
        if snapshot.model is not self or not self._lib.sim_restore(self._h, snapshot._h):
            raise ValueError("restore: not a snapshot of this model, or memories or memory "
                             "ports were added after it")

    def reset(self, cycles=2, rst="rst"):
        """Synchronous reset: ``rst`` high for ``cycles`` edges (as sim.tb.clock.reset);
        returns in the first cycle out of reset (one edge later if ``rst`` is registered)."""
        self[rst] = 1
        self.step(max(1, cycles))
        self[rst] = 0
        if rst in self.registered_inputs:
            self.step(1)

    def run_until(self, name, value, max_cycles):
        """Run until port ``name`` reads ``value`` in a settled cycle (the model is left in that
        cycle, before its edge) or ``max_cycles`` edges have passed. Returns ``(cycles, hit)``."""
        hit = ctypes.c_int(0)
        n = self._lib.sim_run_until(self._h, self._port(name), int(value), int(max_cycles),
                                    ctypes.byref(hit))
        return n, bool(hit.value)

    def memory(self, base, size):
        """A new zeroed :class:`Memory` of ``size`` bytes at byte address ``base``."""
        return Memory(self, base, size)

    def bus(self, prefix):
        """A :class:`Bus` master on the design's slave port ``prefix`` (e.g. ``"loader__"``)."""
        return Bus(self, prefix)

    def byte_sink(self, valid, data):
        """A :class:`ByteSink` taking ``data`` in every cycle with ``valid`` high."""
        return ByteSink(self, valid, data)


class Snapshot:
    """A saved state of one :class:`Model` (:meth:`Model.snapshot`); freed with the object."""

    def __init__(self, model):
        self.model = model
        self._lib = model._lib
        self._h = model._lib.sim_snapshot(model._h)

    def __del__(self):
        if getattr(self, "_h", None):
            self._lib.sim_snapshot_free(self._h)
            self._h = None


class Memory:
    """A byte-addressed memory in C++; ``array`` is a numpy uint8 view of it (read and write
    freely between runs). :meth:`attach` serves a design's TCDM master port from it."""

    def __init__(self, model, base, size):
        self.model, self.base, self.size = model, int(base), int(size)
        lib = model._lib
        self._id = lib.sim_memory(model._h, self.base, self.size)
        ptr = lib.sim_memory_data(model._h, self._id)
        self.array = np.ctypeslib.as_array(ptr, shape=(self.size,))
        self._ports = []

    def attach(self, prefix, *, stall=0.0, comb_gnt=None, seed=0):
        """Serve port ``prefix`` (``prefix + "req"`` ...) with grant stalls of probability
        ``stall`` per cycle. ``comb_gnt``: ``gnt = req & ~stall`` within the cycle, else
        ``~stall`` whatever req (one evaluation less per cycle). If the build registers the
        port's inputs (``NativeBuild(registered_memories=...)``) the memory writes them a cycle
        ahead, and the grant cannot depend on req: ``comb_gnt`` is False by default then and
        True otherwise. Returns the port index."""
        if not 0.0 <= stall < 1.0:
            raise ValueError(f"stall must be in [0, 1), got {stall}")
        early = prefix in self.model.registered_memories
        if comb_gnt is None:
            comb_gnt = not early
        if early and comb_gnt:
            raise ValueError(f"port {prefix!r} reaches the design through registers "
                             f"(registered_memories): its grant cannot depend on req "
                             f"(comb_gnt=True)")
        k = self.model._lib.sim_memory_port(self.model._h, self._id, prefix.encode(), float(stall),
                                            int(bool(comb_gnt)), int(early), int(seed))
        if k == -1:
            raise KeyError(f"the design has no TCDM master port {prefix!r} (req, gnt, addr, "
                           f"we, be, wdata, rdata, rvalid)")
        if k == -2:
            raise ValueError(f"port {prefix!r}: wider than 2048 bits")
        if k < 0:
            raise ValueError(f"port {prefix!r}: could not attach (error {k})")
        self._ports.append(k)
        return k

    def stats(self):
        """Per attached port: grants, stall cycles, errors, first error address."""
        out = []
        for k in self._ports:
            buf = (ctypes.c_uint64 * 4)()
            self.model._lib.sim_memory_port_stats(self.model._h, k, buf)
            out.append(dict(grants=buf[0], stall_cycles=buf[1], errors=buf[2],
                            first_error_addr=buf[3]))
        return out

    def _slice(self, addr, nbytes):
        off = int(addr) - self.base
        if off < 0 or off + nbytes > self.size:
            raise IndexError(f"[{int(addr):#x}, {int(addr) + nbytes:#x}) is outside the memory "
                             f"[{self.base:#x}, {self.base + self.size:#x})")
        return slice(off, off + nbytes)

    def write(self, addr, data):
        data = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) \
            else np.ascontiguousarray(data).view(np.uint8).ravel()
        self.array[self._slice(addr, data.size)] = data

    def read(self, addr, nbytes):
        return self.array[self._slice(addr, nbytes)].tobytes()


class Bus:
    """A TCDM-protocol master on one of the design's slave ports (e.g. a loader or a register
    file port). Accesses run whole cycles in C++."""

    def __init__(self, model, prefix, max_wait=1000):
        self.model, self.prefix, self.max_wait = model, prefix, max_wait
        self._id = model._lib.sim_bus(model._h, prefix.encode())
        if self._id < 0:
            raise KeyError(f"the design has no TCDM slave port {prefix!r}")
        self.width = model.ports[prefix + "wdata"][1]

    def _check(self, r, addr):
        if r == -1:
            raise TimeoutError(f"{self.prefix}: no grant for {addr:#x} in {self.max_wait} cycles")
        if r == -2:
            raise AssertionError(f"{self.prefix}: no rvalid after the granted read of {addr:#x}")

    def write(self, addr, value, be=None):
        n = (self.width + 7) // 8
        data = (ctypes.c_uint8 * n).from_buffer_copy(int(value).to_bytes(n, "little"))
        be = (1 << n) - 1 if be is None else be
        self._check(self.model._lib.sim_bus_access(self.model._h, self._id, int(addr), 1, data,
                                                   be, None, self.max_wait), addr)

    def read(self, addr):
        n = (self.width + 7) // 8
        data = (ctypes.c_uint8 * n)()
        self._check(self.model._lib.sim_bus_access(self.model._h, self._id, int(addr), 0, None,
                                                   (1 << n) - 1, data, self.max_wait), addr)
        return int.from_bytes(bytes(data), "little")

    def write_words(self, addrs, words, verify=False):
        """32-bit writes of ``words`` to ``addrs`` back to back (one cycle each without
        stalls); ``verify``: read each back afterwards (AssertionError on a difference)."""
        addrs = np.ascontiguousarray(addrs, dtype=np.uint64)
        words = np.ascontiguousarray(words, dtype=np.uint32)
        where = ctypes.c_uint64(0)
        r = self.model._lib.sim_bus_write_words(
            self.model._h, self._id, addrs.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)),
            words.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)), len(words), int(verify),
            self.max_wait, ctypes.byref(where))
        if r == -4:
            i = where.value
            raise AssertionError(f"{self.prefix}: word at {int(addrs[i]):#x} read back differs "
                                 f"from {int(words[i]):#x}")
        if r:
            self._check(r, int(addrs[where.value]))


class ByteSink:
    """Collects ``data`` (a port of at most 8 bits) in every cycle that ``valid`` is high."""

    def __init__(self, model, valid, data):
        self.model = model
        self._id = model._lib.sim_byte_sink(model._h, model._port(valid), model._port(data))

    def bytes(self):
        lib, h = self.model._lib, self.model._h
        n = lib.sim_byte_sink_read(h, self._id, None, 0)
        buf = (ctypes.c_uint8 * max(1, n))()
        lib.sim_byte_sink_read(h, self._id, buf, n)
        return bytes(buf[:n])

    def clear(self):
        self.model._lib.sim_byte_sink_clear(self.model._h, self._id)
