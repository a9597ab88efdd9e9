# amaranth: UnusedElaboratable=no
"""flows.emit.verilog_text: the Verilog of a catalogue component comes from build/verilog/ once
elaborated, is the text to_verilog gives, differs with the arguments and the name, and is never
taken for another design (other arguments, a tapped design, a component built outside the
catalogue)."""

import pytest

from flows import emit
from hw.catalog import build
from hw.faults import FaultTapped
from hw.fp import FPAdd
from hw.fp.format import BF16


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(emit, "VERILOG_CACHE", tmp_path)
    return tmp_path


def test_catalogue_component_is_elaborated_once(cache, monkeypatch):
    first = emit.verilog_text(build("tiny", "add_bf16"), "adder")
    assert first == emit.to_verilog(build("tiny", "add_bf16"), "adder")[0]
    assert len(list(cache.glob("adder-*.v"))) == 1

    def no_elaboration(*args):
        raise AssertionError("elaborated again")
    monkeypatch.setattr(emit, "to_verilog", no_elaboration)
    assert emit.verilog_text(build("tiny", "add_bf16"), "adder") == first


def test_other_arguments_names_and_designs_are_not_shared(cache):
    base = emit.verilog_text(build("tiny", "add_bf16"), "adder")
    other = emit.verilog_text(build("tiny", "add_bf16", latency=0), "adder")
    renamed = emit.verilog_text(build("tiny", "add_bf16"), "adder2")
    assert other != base and "module adder2" in renamed
    assert len(list(cache.glob("*.v"))) == 3
    tapped = FaultTapped(build("tiny", "add_bf16"))
    assert tapped.catalog_record is None
    assert emit.verilog_text(tapped, "adder") != base
    plain = FPAdd(BF16, latency=2)                       # not from the catalogue: no record
    assert not hasattr(plain, "catalog_record")
    emit.verilog_text(plain, "adder3")
    assert not list(cache.glob("adder3-*.v"))


def test_key_follows_the_hardware_sources(cache, monkeypatch):
    emit.verilog_text(build("tiny", "add_bf16"), "adder")
    monkeypatch.setattr(emit, "_SOURCES", "another version of hw/")
    emit.verilog_text(build("tiny", "add_bf16"), "adder")
    assert len(list(cache.glob("adder-*.v"))) == 2
