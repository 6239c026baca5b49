"""The pod network benchmark at a tiny size, so it keeps working."""
from __future__ import annotations

import json

from benchmarks import netsim_flows


def test_netsim_benchmark_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "netsim.json"
    assert netsim_flows.main(["--hosts", "2", "--nodes", "4", "--pods", "20", "--services", "10",
                              "--flows", "30", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["flows"]) == {"pod_to_pod_same_host", "pod_to_pod_across_hosts", "pod_to_clusterip",
                                    "pod_to_service_by_name"}
    assert all(r["answered"] == 30 and r["per_second"] > 0 for r in report["flows"].values())
    assert report["memory"]["bytes_per_pod"] > 0 and report["memory"]["bytes_per_service_rules"] > 0
    assert "pod_to_service_by_name" in capsys.readouterr().out
    assert netsim_flows.main(["--nodes", "1", "--hosts", "2"]) == 2
