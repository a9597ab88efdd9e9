"""flows/runner.py build options (no compile): the C++ optimisation level, overridable,
validated, and part of the build hash with the visibility of the design's signals (all, or
the top level's ports and the signals named)."""

import pytest

from flows.runner import DEFAULT_CXX_OPT, VerilatorSim

SMALL = "module t(input a, output b); assign b = a; endmodule\n"


def test_default_level(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    assert VerilatorSim(SMALL, "t").cxx_opt == DEFAULT_CXX_OPT
    assert VerilatorSim(SMALL + "// " + "x" * 2_000_000, "t").cxx_opt == DEFAULT_CXX_OPT


def test_override_changes_the_build_folder(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    a, b = VerilatorSim(SMALL, "t"), VerilatorSim(SMALL, "t", cxx_opt="-Os")
    assert b.cxx_opt == "-Os" and a.build_dir != b.build_dir
    monkeypatch.setenv("SIM_CXX_OPT", "-O2")
    assert VerilatorSim(SMALL, "t").cxx_opt == "-O2"


def test_public_flat_is_its_own_build(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    assert VerilatorSim(SMALL, "t").build_dir != VerilatorSim(SMALL, "t", public_flat=True).build_dir


@pytest.mark.parametrize("bad", ["O2", "-O9", "-march=native", "-O1 -g"])
def test_bad_level_rejected(bad):
    with pytest.raises(ValueError, match="cxx_opt"):
        VerilatorSim(SMALL, "t", cxx_opt=bad)


def test_public_signals_are_part_of_the_build(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    plain, pc = VerilatorSim(SMALL, "t"), VerilatorSim(SMALL, "t", public=["core0.pc.dat_r"])
    assert pc.public == ("core0.pc.dat_r",) and plain.build_dir != pc.build_dir


@pytest.mark.parametrize("bad", ["dat_r", "core0.", "core0.pc dat_r", ".x"])
def test_bad_public_path_rejected(bad):
    with pytest.raises(ValueError, match="public"):
        VerilatorSim(SMALL, "t", public=[bad])
