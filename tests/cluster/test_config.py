# amaranth: UnusedElaboratable=no
"""Clusters of the named configurations: built from the ``cluster`` section, emitted and linted
(``paper`` - 8 cores, 256 KiB in 32 banks - only in the slow suite: 35 s)."""

import pytest

from hw.catalog import ComponentSpec
from hw.cluster import Cluster
from hw.config import get_config
from flows.emit import emit


def _spec(name):
    c = get_config(name).cluster
    return ComponentSpec(Cluster, **c.to_dict())


@pytest.mark.parametrize("name", ["tiny", "default", "large", "paper"])
def test_section_is_the_constructor_arguments(name):
    cfg = get_config(name).cluster
    cl = Cluster(**cfg.to_dict())
    assert (cl.n_cores, cl.spm_size, cl.banks, cl.imem_size) == \
        (cfg.cores, cfg.scratchpad_kib * 1024, cfg.banks, cfg.imem_kib * 1024)


def test_paper_sizes():
    cl = Cluster(**get_config("paper").cluster.to_dict())
    assert (cl.n_cores, cl.spm_size) == (8, 256 * 1024)
    # The widest accelerator port of paper (tensor 24x8x3: 32 x 16 bits) fits in the banks.
    assert 32 * 16 <= 32 * cl.banks


@pytest.mark.parametrize("name", ["tiny", pytest.param("paper", marks=pytest.mark.slow)])
def test_emits_and_lints(name, tmp_path):
    manifest = emit({"cluster": _spec(name)}, tmp_path, log=None)
    assert manifest["lint"]["passed"]
    assert (tmp_path / "cluster.v").stat().st_size > 100_000


@pytest.mark.parametrize("name", ["tiny", "default", "large", "paper"])
def test_accelerator_ports_fit_the_banks(name):
    # The tensor unit (D * 16 bits) and SoftEx (lanes * 16 bits) plug in as wide ports; each
    # must span at most the banks of its configuration (the Cluster checks it).
    from hw.tensor.geometry import TensorGeometry
    cfg = get_config(name)
    t = cfg.tensor
    widths = [TensorGeometry(t.rows, t.cols, t.pipes).port_width, 16 * cfg.softex.lanes]
    cl = Cluster(**cfg.cluster.to_dict(), wide_ports=widths, accel_slots=2)
    assert cl.wide_ports == widths
    assert max(widths) <= 32 * cl.banks
