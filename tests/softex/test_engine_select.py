# amaranth: UnusedElaboratable=no
"""Configuration section softex.engine chooses the SoftEx engine (hw.softex.build_engine with the section's fields)."""

import pytest

from hw.config import get_config
from flows.regmaps.cheader import c_header
from hw.softex import LutSoftmaxEngine, SoftmaxEngine, build_engine


def test_default_is_expp():
    engine = build_engine(**get_config("default").softex.to_dict())
    assert type(engine) is SoftmaxEngine and engine.lanes == get_config("default").softex.lanes
    assert engine.expp_latency == get_config("default").softex.expp_latency == 4


@pytest.mark.parametrize("method", ["a", "b"])
def test_lut_engines(method):
    config = get_config("tiny", **{"softex.engine": f"lut_{method}"})
    engine = build_engine(**config.softex.to_dict(), mem_base=0x1000, mem_size=0x1000)
    assert type(engine) is LutSoftmaxEngine
    assert (engine.method, engine.lanes, engine.mem_base) == (method, 4, 0x1000)
    # both engines share the register map and the port shape
    ref = SoftmaxEngine(4)
    assert c_header(engine.regmap) == c_header(ref.regmap)
    assert engine.signature.members["tcdm"].signature == ref.signature.members["tcdm"].signature


def test_table_bytes_within_budget():
    total = sum(sum(LutSoftmaxEngine(8, method=m).table_bytes.values()) for m in "ab")
    assert total == 685 and total <= 700
