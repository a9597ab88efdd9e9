"""The cluster's ``abft`` option: off adds nothing (no checker, no tap, no snoop in the
Verilog), on adds them; bad values are refused with the parameter's name."""

import pytest

from hw.catalog import build
from flows.emit import verilog_text


def test_off_adds_no_logic():
    text = verilog_text(build("tiny", "cluster"), "cluster_off")
    for name in ("abft", "check_tap", "z_acc", "softex_snoop", "tap_ready"):
        assert name not in text, name


def test_on_adds_the_checker():
    top = build("tiny", "cluster", abft=True)
    assert top.abft is not None and top.tensor.check_tap and top.params["abft"]["max_seq"] == 256
    text = verilog_text(top, "cluster_on")
    for name in ("abft", "check_tap", "softex_snoop"):
        assert name in text, name


@pytest.mark.parametrize("value, match", [
    ("yes", "abft must be True, False or a dict"),
    ({"max_sq": 4}, "abft takes the keys"),
    ({"max_seq": 100}, "max_seq"),
])
def test_bad_values_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        build("tiny", "cluster", abft=value)


def test_events_must_reach_the_checker():
    with pytest.raises(ValueError, match="events must be at least 3 with abft"):
        build("tiny", "cluster", abft=True, events=2)


def test_checker_shares_softex_port():
    """No interconnect master of its own: the cluster keeps the two accelerator ports."""
    off, on = build("tiny", "cluster"), build("tiny", "cluster", abft=True)
    assert on.cluster.wide_ports == off.cluster.wide_ports and len(on.cluster.wide_ports) == 2


def test_one_lane_softex_is_refused():
    from hw.cluster.system import AcceleratedCluster
    with pytest.raises(ValueError, match="softex lanes must be at least 2 with abft"):
        AcceleratedCluster(1, 16, softex={"lanes": 1}, abft=True)
