"""A hollow node pool in-process: twenty kubelets share one pod watch; the
node IPAM controller gives each node its /24, pods bound round-robin all
reach Running with an IP from their node's range, and each node's Lease is
renewed."""
from __future__ import annotations

import asyncio
import ipaddress

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.nodeipam import NodeIPAMController
from actors.kubelet.kubelet import KubeletConfig
from actors.kubelet.node import NodeConfig
from actors.kubelet.pool import NodePool
from kubeapi.client import Client
from kubeapi.informer import SharedInformer
from tests.fakes import eventually

from .ctrl_fakes import run

NODES, PODS = 20, 100


def test_a_pool_of_hollow_nodes_runs_pods_with_ips_from_each_nodes_cidr():
    async def go() -> None:
        server = APIServer(LocalKV())
        await server.ensure_system_objects()
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        names = [f"hollow-{i}" for i in range(NODES)]
        pool = NodePool(client, names, template=KubeletConfig(NodeConfig("t"), renew_interval=0.3,
                                                              status_interval=0.2, relist_period=0.2))
        nodes = SharedInformer(client, "nodes")
        ipam = NodeIPAMController(nodes.indexer, client)
        nodes.add_event_handler(ipam.on_node, ipam.on_node_update, ipam.on_node_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(pool.run(stop)), asyncio.create_task(nodes.run(stop)),
                 asyncio.create_task(ipam.run(2, stop))]
        for i in range(PODS):
            await client.create({"apiVersion": "v1", "kind": "Pod",
                                 "metadata": {"name": f"p{i}", "namespace": "ns"},
                                 "spec": {"nodeName": names[i % NODES],
                                          "containers": [{"name": "c", "image": "busybox:1.36",
                                                          "command": ["sleep", "3600"]}]}})

        async def all_running() -> bool:
            items = (await client.list("pods", "ns"))["items"]
            return sum((p.get("status") or {}).get("phase") == "Running" for p in items) == PODS
        await eventually(all_running, f"{PODS} pods Running", tries=600, every=0.05)
        cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
                 for n in (await client.list("nodes"))["items"]}
        pods = (await client.list("pods", "ns"))["items"]
        ips = [p["status"]["podIP"] for p in pods]
        assert len(set(ips)) == PODS
        assert all(ipaddress.ip_address(p["status"]["podIP"]) in cidrs[p["spec"]["nodeName"]] for p in pods)
        leases = (await client.list("leases", "kube-node-lease"))["items"]
        assert sorted(x["metadata"]["name"] for x in leases) == sorted(names)
        assert pool.status() == {"nodes": NODES, "pods": PODS, "informer_pods": PODS}
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go(), timeout=60)
