"""benchmarks/scheduler_perf's actor mode keeps working (tiny size) on the session's Ray."""
from __future__ import annotations

import asyncio

import pytest
import ray

from actors.apiserver.actor import start_apiservers
from actors.scheduler.actor import start_schedulers
from benchmarks import scheduler_perf as sp
from raftstore.cluster import EtcdCluster

pytestmark = pytest.mark.ray


def test_actor_mode_tiny(ray_cluster, data_root):
    etcd = EtcdCluster.start("benchsched", 3, data_root=data_root)
    apis = start_apiservers(1, "benchsched", first_index=400)
    scheds = start_schedulers(1, first_index=400, apiservers=apis, events=False)
    try:
        case = sp.scaled(sp.CASES["SchedulingBasic/500Nodes"], 10, 40)
        r = asyncio.run(sp.run_actor(case, apis, scheds[0], timeout=120))
    finally:
        for h in scheds + apis:
            ray.kill(h, no_restart=True)
        etcd.down()
    assert r["mode"] == "actor" and r["scheduled"] == 40 and r["pods_per_s"] > 0, r
    assert r["scheduled_by_scheduler"] == 40 and r["attempt_p99_ms"] >= r["attempt_p50_ms"] > 0
