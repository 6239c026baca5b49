"""benchmarks/scheduler_perf keeps working: every case at a tiny size, core mode."""
from __future__ import annotations

import asyncio
import json

import pytest

from benchmarks import scheduler_perf as sp


@pytest.mark.parametrize("name", sorted(sp.CASES))
def test_core_mode_tiny(name):
    base = sp.CASES[name]
    case = sp.scaled(base, 12, 12 * base.pods // base.nodes)  # the case's own pods-per-node
    r = asyncio.run(sp.run_core(case, timeout=60))
    assert r["scheduled"] == case.pods - case.unschedulable, r
    assert r["pods_per_s"] > 0 and r["attempt_p99_ms"] >= r["attempt_p50_ms"] > 0
    if name.startswith("Preemption"):
        assert r["preempted"] > 0
    if name.startswith("Unschedulable"):
        assert r["attempts"]["unschedulable"] >= case.unschedulable
    table = sp.format_table([r])
    assert name in table and "pods/s" in table


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "sched.json"
    assert sp.main(["--quick", "--case", "SchedulingBasic/500Nodes", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["results"][0]["case"] == "SchedulingBasic/500Nodes" and doc["results"][0]["scheduled"] == 100
    assert "SchedulingBasic/500Nodes" in capsys.readouterr().out
