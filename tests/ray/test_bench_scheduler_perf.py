"""benchmarks/scheduler_perf's actor mode keeps working (tiny size) on the session's Ray."""
from __future__ import annotations

import asyncio

import pytest

from actors.scheduler.actor import start_schedulers
from benchmarks import scheduler_perf as sp
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray


@pytest.mark.parametrize("name,nodes,pods", [("SchedulingBasic/500Nodes", 10, 40), ("Preemption/500Nodes", 10, 10)])
def test_actor_mode_tiny(ray_cluster, data_root, name, nodes, pods):
    case = sp.scaled(sp.CASES[name], nodes, pods)
    with control_plane("benchsched", data_root, 400, lambda apis: start_schedulers(
            1, first_index=400, apiservers=apis, events=False)) as (apis, scheds):
        r = asyncio.run(sp.run_actor(case, apis, scheds[0], timeout=120))
    assert r["mode"] == "actor" and r["scheduled"] == pods and r["pods_per_s"] > 0, r
    assert r["scheduled_by_scheduler"] == pods and r["attempt_p99_ms"] >= r["attempt_p50_ms"] > 0
    if case.init_pods:  # every high-priority pod had to preempt low ones to get in
        assert r["preemptions"] >= pods, r
