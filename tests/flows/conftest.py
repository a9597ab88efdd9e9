import pytest

from flows.toolchain import icarus


@pytest.fixture(scope="session")
def iverilog():
    """``(iverilog, vvp)``: Icarus Verilog, found or installed (flows.toolchain.icarus)."""
    return icarus()
