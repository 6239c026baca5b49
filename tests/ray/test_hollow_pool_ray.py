"""A node pool of 200 hollow nodes on Ray runs 2,000 pods: every one reaches
Running (through the scheduler and the node IPAM controller), measured with
benchmarks/pod_startup's watch; and the benchmark's memory figure works."""
from __future__ import annotations

import asyncio

import pytest

from actors.controllers.manager import start_controller_managers
from actors.kubelet.actor import start_node_pools
from actors.kubelet.kubelet import KubeletConfig
from actors.kubelet.node import NodeConfig
from actors.scheduler.actor import start_schedulers
from benchmarks import node_scale, pod_startup
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray

NODES, PODS = 200, 2000


@pytest.fixture
def plane(ray_cluster, data_root):
    template = KubeletConfig(NodeConfig("t"), status_interval=2.0, relist_period=1.0)

    def start(apis):
        return (start_schedulers(1, first_index=850, apiservers=apis, events=False)
                + start_controller_managers(1, first_index=850, apiservers=apis, controllers=["nodeipam"])
                + start_node_pools(NODES, first_index=850, apiservers=apis, template=template, pool_size=100,
                                   prefix="hollow"))
    with control_plane("hollow", data_root, 850, start) as p:
        yield p


@pytest.mark.timeout(420)
def test_two_hundred_hollow_nodes_run_two_thousand_pods(plane):
    apis, handles = plane
    r = asyncio.run(pod_startup.measure_startup(apis, [f"hollow-{i}" for i in range(NODES)], PODS, rate=15.0,
                                                timeout=400))
    assert r["running"] == PODS and r["p99_s"] >= r["p50_s"] > 0, r
    print(pod_startup.format_table(r, None))


def test_the_memory_figure():
    m = pod_startup.hollow_node_bytes(20)
    assert m["nodes"] == 20 and m["bytes_per_node"] > 0 and m["bytes_total"] >= 20 * m["bytes_per_node"]


@pytest.fixture
def small_pools(ray_cluster, data_root):
    def start(apis):
        return (start_controller_managers(1, first_index=860, apiservers=apis,
                                          controllers=["nodeipam", "nodelifecycle"])
                + start_node_pools(6, first_index=860, apiservers=apis, pool_size=3, prefix="tiny"))
    with control_plane("tiny", data_root, 860, start) as p:
        yield p


def test_node_scale_benchmark_at_a_tiny_size(small_pools):
    apis, handles = small_pools
    pools = [h for h in handles if "NodePoolActor" in repr(h)]
    r = node_scale.measure_nodes(apis, pools, 6, observe_s=3.0, sample_every=1.0, timeout=120)
    assert r["pools"] == 2 and r["leases"] == 6 and r["not_ready_nodes"] == 0, r
    assert 0 <= r["lease_lag_p50_s"] <= r["lease_lag_max_s"] < 40 and r["samples"] >= 3, r
    assert r["pool_rss_mb"] > 0 and r["api_requests_per_s"] > 0, r
    assert node_scale.format_table(r).splitlines()[1].split()[0] == "6"
