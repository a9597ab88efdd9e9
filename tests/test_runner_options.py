"""flows/runner.py build options (no compile): the C++ optimisation level chosen per design
size, overridable, validated, and part of the build hash."""

import pytest

from flows.runner import LARGE_DESIGN, VerilatorSim

SMALL = "module t(input a, output b); assign b = a; endmodule\n"
LARGE = SMALL + "// " + "x" * LARGE_DESIGN + "\n"


def test_level_by_design_size(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    assert VerilatorSim(SMALL, "t").cxx_opt == "-O1"
    assert VerilatorSim(LARGE, "t").cxx_opt == "-O0"


def test_override_changes_the_build_folder(monkeypatch):
    monkeypatch.delenv("SIM_CXX_OPT", raising=False)
    a, b = VerilatorSim(SMALL, "t"), VerilatorSim(SMALL, "t", cxx_opt="-Os")
    assert b.cxx_opt == "-Os" and a.build_dir != b.build_dir
    monkeypatch.setenv("SIM_CXX_OPT", "-O2")
    assert VerilatorSim(SMALL, "t").cxx_opt == "-O2"


@pytest.mark.parametrize("bad", ["O2", "-O9", "-march=native", "-O1 -g"])
def test_bad_level_rejected(bad):
    with pytest.raises(ValueError, match="cxx_opt"):
        VerilatorSim(SMALL, "t", cxx_opt=bad)
