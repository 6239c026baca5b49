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
from benchmarks import pod_startup
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
