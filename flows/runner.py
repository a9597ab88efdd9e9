"""Build-once, run-many Verilator simulations of Amaranth components under cocotb.

Amaranth emits monomorphic Verilog, so each (component, configuration) is its own simulator.
The build folder is ``build/sim/<hash>/`` where the hash covers the emitted Verilog, the
top-level name and the build options: an unchanged design is never rebuilt, not even across
pytest runs, and any change to the generator that changes the Verilog gets a fresh build.

Typical use from pytest::

    sim = VerilatorSim.for_component(BF16FMA(latency=3), name="fma")
    sim.run("sim.benches.fp_tb", params={"cases": 200_000, "seed": 1})

The cocotb test module reads ``params`` with :func:`sim.tb.params.load_params`.
"""

import hashlib
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import subprocess
import time

import cocotb_tools.config
from cocotb_tools.runner import get_runner

from . import emit
from .native import top_ports
from .toolchain import (BUILD, ROOT, build_lock, restore_runtime, save_runtime,
                        setup_verilator, verilator_env)

__all__ = ["VerilatorSim", "SimulationFailed", "emit_verilog", "DEFAULT_CXX_OPT"]

# Bump when the build recipe changes in a way the hash below cannot see.
_RECIPE = "4"  # 4: own build, only the top level's ports public (public.vlt)
_DEFAULT_BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3", "--x-assign", "fast")
#: C++ optimisation of the Verilated model's evaluation code (verilated.mk's OPT_FAST; its
#: construction code is compiled at -O0, it runs once). ``SIM_CXX_OPT`` in the environment or
#: ``cxx_opt=`` overrides it (part of the build hash). Compile times and speeds of each level:
#: docs/sim_speed.md.
DEFAULT_CXX_OPT = "-O1"


class SimulationFailed(AssertionError):
    pass


def emit_verilog(component, name):
    """Verilog-2005 text of an Amaranth component (ports from its signature): the same text as
    ``make verilog`` writes (flows.emit.verilog_text: kept for catalogue components)."""
    return emit.verilog_text(component, name)


#: The environment of a cocotb run besides TB_PARAMS. cocotb rewrites the assertions of every
#: module it imports by default (``COCOTB_REWRITE_ASSERTION_FILES=*.py``), through pytest's
#: import hook, which compiles each module from source with no bytecode cache: about a second
#: of imports (Amaranth, numpy) per run. Only the benches and their helpers are rewritten here
#: (their failed assertions still show the values), and pytest's plugins are not loaded for
#: the hook's configuration.
_COCOTB_ENV = {"COCOTB_REWRITE_ASSERTION_FILES": "*_tb.py sim/tb/*.py",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


class VerilatorSim:
    """A built Verilator simulator of one Verilog top level, ready to run cocotb modules."""

    def __init__(self, verilog_text, toplevel, *, waves=False, build_args=(), cxx_opt=None,
                 public_flat=False, public=(), jobs=None, build_root=None):
        """``public_flat``: make every signal of the design visible to cocotb (Verilator's
        ``--public-flat-rw``, what cocotb's own runner always adds). The model is then several
        times slower and larger; only the top-level ports are public otherwise, which is all
        the project's testbenches drive. ``public``: further signals to make visible, as dotted
        paths under the top (``"core0.datapath.pc_mod.dat_r"``: the signal ``dat_r`` of the
        submodule ``core0.datapath.pc_mod``; the cluster bench's watchdog reads the cores'
        program counters so). ``jobs``: parallel compiler processes (default: the
        machine's cores). ``build_root``: where the hashed build folders go (default
        ``build/sim``)."""
        self.toplevel = toplevel
        self.waves = waves
        self.public_flat = bool(public_flat)
        self.public = tuple(public)
        for path in self.public:
            if not re.fullmatch(r"\w+(\.\w+)+", path):
                raise ValueError(f"public: dotted paths module.signal under the top, got {path!r}")
        self.jobs = jobs or os.cpu_count() or 1
        self.build_args = list(_DEFAULT_BUILD_ARGS) + list(build_args)
        self.cxx_opt = cxx_opt or os.environ.get("SIM_CXX_OPT") or DEFAULT_CXX_OPT
        if not re.fullmatch(r"-O[0-3sg]", self.cxx_opt):
            raise ValueError(f"cxx_opt must be one of -O0..-O3, -Os, -Og; got {self.cxx_opt!r}")
        key = hashlib.sha256("\0".join(
            [_RECIPE, toplevel, str(waves), str(self.public_flat), *self.public, self.cxx_opt,
             *self.build_args, verilog_text]).encode()).hexdigest()[:16]
        self.build_root = Path(build_root) if build_root else BUILD / "sim"
        self.build_dir = self.build_root / key
        self.source = self.build_dir / f"{toplevel}.v"
        self._verilog_text = verilog_text
        self.last_run_dir = None
        self.build_seconds = None

    @classmethod
    def for_component(cls, component, name, **kwargs):
        return cls(emit_verilog(component, name), name, **kwargs)

    @property
    def binary(self):
        return self.build_dir / self.toplevel

    def build(self):
        """Compile the simulator unless an identical one is already built. Returns self.

        The commands are those of cocotb's runner (``cocotb_tools.runner.Verilator``: the
        model with cocotb's ``verilator.cpp`` main and VPI library) without its
        ``--public-flat-rw`` unless ``public_flat``; the runner's ``test()`` runs the result.
        """
        setup_verilator()
        stamp = self.build_dir / ".built"
        with build_lock(self.build_root / f".{self.build_dir.name}.lock"):
            if stamp.exists() and self.binary.exists():
                return self
            t0 = time.perf_counter()
            self.build_dir.mkdir(parents=True, exist_ok=True)
            self.source.write_text(self._verilog_text)
            visibility = ["--public-flat-rw"]
            if not self.public_flat:
                # Only the top level's ports, which is all cocotb needs to find and drive them.
                vlt = self.build_dir / "public.vlt"
                signals = [(self.toplevel, name)
                           for _, _, name in top_ports(self._verilog_text, self.toplevel)]
                signals += [(f"{self.toplevel}.{module}", name)
                            for module, _, name in (p.rpartition(".") for p in self.public)]
                vlt.write_text("`verilator_config\n" + "".join(
                    f'public_flat_rw -module "{module}" -var "{name}"\n'
                    for module, name in signals))
                visibility = [str(vlt)]
            libs = cocotb_tools.config.libs_dir
            main = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
            verilate = (["verilator", "-cc", "--exe", "-Mdir", str(self.build_dir),
                         "--top-module", self.toplevel, "--vpi"]
                        + visibility
                        + ["--prefix", "Vtop", "-o", self.toplevel, "-LDFLAGS",
                           f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator"]
                        + (["--trace"] if self.waves else []) + self.build_args
                        + [str(main), str(self.source)])
            make = ["make", "-j", str(self.jobs), "-C", str(self.build_dir), "-f", "Vtop.mk",
                    f"VM_TRACE={int(self.waves)}", f"OPT_FAST={self.cxx_opt}", "OPT_SLOW=-O0",
                    "OPT_GLOBAL=-O1"]
            log = self.build_dir / "build.log"
            env = verilator_env()
            with open(log, "w") as out:
                for cmd in (verilate, make):
                    if cmd is make:
                        restore_runtime(self.build_dir, "-O1", f"trace={self.waves}")
                    out.write("$ " + " ".join(cmd) + "\n")
                    out.flush()
                    if subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode:
                        raise SimulationFailed(f"{cmd[0]} failed; {log} (tail):\n"
                                               + log.read_text()[-4000:])
                save_runtime(self.build_dir, "-O1", f"trace={self.waves}")
            self.build_seconds = time.perf_counter() - t0
            stamp.write_text(f"{self.build_seconds:.1f}\n")
        return self

    def run(self, test_module, *, params=None, testcase=None, seed=None, waves=None, name=None):
        """Run a cocotb test module against this simulator; raise SimulationFailed on any failure.

        ``params`` (JSON-serialisable) reach the test module through the TB_PARAMS file.
        Returns the list of (test name, passed) pairs. ``self.last_run_dir`` is the run folder
        (the test's working directory), set before the simulation starts.
        """
        self.build()
        setup_verilator()
        run_name = name or test_module.rsplit(".", 1)[-1]
        run_dir = self.build_dir / "runs" / f"{run_name}-{os.getpid()}"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.last_run_dir = run_dir  # the cocotb process's cwd: test modules may leave files there
        params_file = run_dir / "params.json"
        params_file.write_text(json.dumps(params or {}))
        results = run_dir / "results.xml"
        results.unlink(missing_ok=True)  # never judge a run by a previous run's results
        env = {"TB_PARAMS": str(params_file), **_COCOTB_ENV}
        # The runner hands sys.path to the simulator as PYTHONPATH: the test modules live
        # in this project, so its root must be on it whatever the caller's working folder.
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        runner = get_runner("verilator")
        try:
            runner.test(test_module=test_module, hdl_toplevel=self.toplevel, hdl_toplevel_lang="verilog",
                        build_dir=self.build_dir,
                        test_dir=run_dir, testcase=testcase, seed=seed, extra_env=env,
                        waves=bool(self.waves if waves is None else waves), results_xml=str(results),
                        log_file=run_dir / "sim.log")
        except SystemExit:
            pass  # under pytest cocotb's runner sys.exit()s on failures: judged from results below
        return self._check(results, run_dir)

    @staticmethod
    def _check(results, run_dir):
        if not results.exists():
            raise SimulationFailed(f"simulation produced no results; see {run_dir / 'sim.log'}")
        outcome = []
        for case in ET.parse(results).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            outcome.append((case.get("name"), not failed))
        if not outcome:
            raise SimulationFailed(f"no cocotb test ran; see {run_dir / 'sim.log'}")
        bad = [n for n, ok in outcome if not ok]
        if bad:
            log = (run_dir / "sim.log")
            tail = log.read_text()[-6000:] if log.exists() else ""
            raise SimulationFailed(f"cocotb tests failed: {', '.join(bad)}\n--- {log} (tail) ---\n{tail}")
        return outcome
