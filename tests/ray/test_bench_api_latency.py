"""benchmarks/api_latency keeps working (tiny size) on the session's Ray."""
from __future__ import annotations

import asyncio

import pytest
import ray

from actors.apiserver.actor import start_apiservers
from benchmarks import api_latency
from raftstore.cluster import EtcdCluster

pytestmark = pytest.mark.ray


def test_creates_through_the_ray_and_http_transports(ray_cluster, data_root):
    from actors import pki
    from actors.apiserver.auth import MASTERS, UserInfo

    etcd = EtcdCluster.start("benchapi", 3, data_root=data_root)
    apis = start_apiservers(2, "benchapi", first_index=200, http_port=0, ca=pki.new_ca(), admin_token="t",
                            tokens={"t": UserInfo("bench", (MASTERS,))})
    try:
        res = asyncio.run(api_latency.run_creates(api_latency.ray_clients(apis), creates=40, concurrency=8))
        over_http = asyncio.run(api_latency.run_creates(api_latency.http_clients(apis), creates=30,
                                                        concurrency=8, namespace="bench-http"))
        listed = ray.get(apis[1].request.remote("list", "", "v1", "pods", "bench"))
        listed_http = ray.get(apis[0].request.remote("list", "", "v1", "pods", "bench-http"))
    finally:
        for h in apis:
            ray.kill(h, no_restart=True)
        etcd.down()
    assert res["creates"] == 40 and res["creates_per_s"] > 0 and res["p99_ms"] >= res["p50_ms"] > 0
    assert len(listed["body"]["items"]) == 40 and len(listed_http["body"]["items"]) == 30
    assert over_http["creates"] == 30 and over_http["p99_ms"] >= over_http["p50_ms"] > 0
    table = api_latency.format_table(res)
    assert "creates/s" in table and "SLO p99" in table
