"""The host side of a board: flows.board.read_report on a pseudo-terminal standing in for the
board's USB serial port (the report arrives in pieces; the reading ends at the last line or
after a silence), and `scripts.board program`'s message without openFPGALoader."""

import os
import threading
import time

from flows.board import program_command, read_report

REPORT = "stage scale cycles 1\ntotal cycles 4\no fletcher32 0123abcd\n"


def _board(master, text, pause):
    time.sleep(1.0)                     # after the console has opened the port
    for i in range(0, len(text), 7):
        os.write(master, text[i:i + 7].encode())
        time.sleep(pause)


def test_report_read_from_a_serial_port():
    master, slave = os.openpty()
    try:
        writer = threading.Thread(target=_board, args=(master, REPORT, 0.01))
        writer.start()
        seen = []
        text = read_report(os.ttyname(slave), timeout=5, until="o fletcher32 0123abcd",
                           echo=seen.append)
        writer.join()
        assert text == REPORT and "".join(seen) == REPORT
    finally:
        os.close(master)
        os.close(slave)


def test_reading_ends_after_a_silence():
    master, slave = os.openpty()
    try:
        writer = threading.Thread(target=_board, args=(master, "partial", 0))
        writer.start()
        t = time.perf_counter()
        assert read_report(os.ttyname(slave), timeout=2.0, until="never") == "partial"
        assert time.perf_counter() - t < 10
        writer.join()
    finally:
        os.close(master)
        os.close(slave)


def test_program_command_and_missing_programmer(tmp_path, monkeypatch, capsys):
    assert program_command("ulx3s-85f", "x/top.bit") == ["openFPGALoader", "-b", "ulx3s",
                                                          "x/top.bit"]
    from scripts import board
    monkeypatch.setattr(board, "BOARDS_DIR", tmp_path)
    assert board.main(["program", "--board", "icebreaker"]) == 2
    assert "make bitstream BOARD=icebreaker" in capsys.readouterr().out
    (tmp_path / "icebreaker").mkdir()
    (tmp_path / "icebreaker" / "top.bin").write_bytes(b"\0")
    monkeypatch.setenv("PATH", str(tmp_path))                # no openFPGALoader on it
    assert board.main(["program", "--board", "icebreaker"]) == 2
    assert "openFPGALoader is not installed" in capsys.readouterr().out
