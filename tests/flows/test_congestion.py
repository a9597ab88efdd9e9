# amaranth: UnusedElaboratable=no
"""flows.congestion: reading router2's heatmap CSVs, folding net names into design blocks,
the summary tables, and one real ECP5 run of router2 with heatmaps on a tiny unit."""

import pytest

from flows.congestion import block_of, read_matrix, read_table, route_until, summarise
from flows.congestion import main as congestion_main
from flows.synth import TARGETS, Unit, prepare, synthesise

from .test_synth import AddOp


def test_read_matrix_and_tables(tmp_path):
    (tmp_path / "m.csv").write_text("0,1,0,\n3,0,5,\n")
    assert read_matrix(tmp_path / "m.csv") == [[0, 1, 0], [3, 0, 5]]
    (tmp_path / "bad.csv").write_text("0,1,\n3,\n")
    with pytest.raises(ValueError, match="not a complete congestion matrix"):
        read_matrix(tmp_path / "bad.csv")
    (tmp_path / "t.csv").write_text("type,bound=0,bound=1,bound=2,\nWIRE_TYPE_H02,10,5,2,\n"
                                    "dut.a[1],3\n")
    assert read_table(tmp_path / "t.csv") == [("WIRE_TYPE_H02", [10, 5, 2]), ("dut.a[1]", [3])]


@pytest.mark.parametrize("net, depth, block", [
    ("dut.cluster.spm.bank4.0.0_DIA1_LUT4_Z_D[2]", 3, "dut.cluster.spm"),
    ("dut.cluster.banks__b12__rdata[7]", 3, "dut.cluster.banks__b#__rdata"),
    ("dut.tensor.xq3_TRELLIS_FF_Q_DI", 3, "dut.tensor.xq#"),
    ("dut.softex.requester.held_be_TRELLIS_FF_Q_5_DI", 99, "dut.softex.requester.held_be"),
    ("capture[17]", 3, "capture"),
    ("dut.tensor.$322_LUT4_A_Z", 3, "dut.tensor"),
])
def test_block_of(net, depth, block):
    assert block_of(net, depth) == block


def test_summarise_ranks_blocks_and_wire_types():
    matrix = [[0, 4, 0], [9, 0, 2]]
    by_net = [("dut.a.x1_LUT4_Z[0]", 3), ("dut.a.x2[1]", 4), ("dut.b.y", 5), ("dut.c.z", 0)]
    by_type = [("WIRE_TYPE_V02", [100, 20, 3, 1]), ("WIRE_TYPE_H06", [50, 10, 0]),
               ("WIRE_TYPE_NONE", [900, 90, 6])]
    text = "\n".join(summarise([[v for v in row] for row in matrix],
                               [(n, [v]) for n, v in by_net], by_type, top=2))
    assert "in total (nets on over-used wires): 15 on 3 tiles" in text
    assert "hottest tiles (x, y: nets): 1, 0: 9, 0, 1: 4." in text
    # Wire types by over-used wires (two or more nets), only those with any.
    assert "| WIRE_TYPE_NONE | 996 | 96 | 6 |\n| WIRE_TYPE_V02 | 124 | 24 | 4 |" in text
    assert "WIRE_TYPE_H06" not in text
    # Blocks: dut.a.x# sums both nets of the same register array.
    assert "| `dut.a.x#` | 7 |\n| `dut.b.y` | 5 |" in text


def test_route_until_on_ecp5(tmp_path):
    """router2 with heatmaps on a tiny unit, stopped after its second iteration (even this
    design takes several: router2 starts from an over-used first pass)."""
    unit = Unit(TARGETS["ecp5"], "add8", 1, lambda: AddOp(1), (1,), tmp_path / "add8")
    _, text, script = prepare(unit)
    synthesise(unit, text, script)
    prefix, last = route_until(unit, 2, poll=0.2, log=lambda *_: None)
    assert last == 2
    matrix = read_matrix(f"{prefix}_congestion_by_coordinate_{last}.csv")
    by_type = read_table(f"{prefix}_congestion_by_wiretype_{last}.csv")
    assert len(matrix) > 90 and any(n.startswith("WIRE_TYPE_") for n, _ in by_type)
    # The per-tile sums and the per-type histograms count the same over-used wires.
    assert sum(map(sum, matrix)) == sum(k * c for _, hist in by_type
                                        for k, c in enumerate(hist) if k > 1)
    log = (tmp_path / "add8" / "congestion" / "nextpnr.log").read_text()
    assert "iter=2 " in log and "Program finished normally" not in log     # stopped


def test_cli_invalid(capsys):
    assert congestion_main(["--component", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert congestion_main(["--iterations", "0"]) == 2
    assert "iterations must be at least 1" in capsys.readouterr().err
