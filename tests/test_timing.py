"""Reading nextpnr's timing log: the post-route Fmax, the critical path, the utilisation."""

import pytest

from qkspike.hw.timing import TimingReportError, parse_nextpnr_log

LOG = """\
Info: Max frequency for clock '$glbnet$cd_sync.clk': 65.28 MHz (FAIL at 100.00 MHz)
Info: Device utilisation:
Info: \t              DP16KD:      43/    208    20%
Info: \t          MULT18X18D:      16/    156    10%
Info: \t              ALU54B:       0/     78     0%
Info: Critical path report for clock '$glbnet$cd_sync.clk' (posedge -> posedge):
Info: curr total
Info:   clk-to-q  1.36  1.36 Source core.engine.weights.0.21.DOA9
Info:    routing  0.90  2.26 Net core.engine.w[3] (75,52) -> (74,53)
Info:                          Sink core.engine.mult.A3
Info:                          Defined in:
Info:                               /x/hw/sparse_engine.py:259
Info:      logic  0.28  2.54 Source core.engine.acc[15].FCO
Info:      setup  0.00 13.33 Source core.engine.acc[15]_TRELLIS_FF_Q_14.M
Info: 5.22 ns logic, 8.11 ns routing
Info: Max frequency for clock '$glbnet$cd_sync.clk': 75.02 MHz (FAIL at 100.00 MHz)
"""


def test_the_post_route_figure_is_the_last_one(tmp_path):
    log = tmp_path / "qkspike.tim"
    log.write_text(LOG)
    report = parse_nextpnr_log(log)
    assert report["fmax_mhz"] == 75.02 and report["target_mhz"] == 100.0
    assert report["timing_met"] is False
    path = report["critical_path"]
    assert path["start"] == "core.engine.weights.0.21.DOA9"
    assert path["end"] == "core.engine.acc[15]_TRELLIS_FF_Q_14.M"
    assert (path["logic_ns"], path["routing_ns"]) == (5.22, 8.11)
    assert path["sources"] == ["sparse_engine.py:259"]
    assert report["utilisation"] == {"DP16KD": {"used": 43, "available": 208},
                                     "MULT18X18D": {"used": 16, "available": 156}}


def test_a_log_without_timing_is_an_error(tmp_path):
    log = tmp_path / "qkspike.tim"
    log.write_text("Info: Packing IOs..\n")
    with pytest.raises(TimingReportError, match="no 'Max frequency' line"):
        parse_nextpnr_log(log)
