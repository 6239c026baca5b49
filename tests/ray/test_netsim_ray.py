"""The pod network over Ray: a kubelet node (its network in its CRI actor,
programmed by its kube-proxy actor) and two hollow nodes in a pool (their
network in the pool), the cluster DNS actor, and flows between them — pod to
pod across actors, pod to Service by name, outside to a NodePort — and a
dead machine: flows to its pods time out."""
from __future__ import annotations

import asyncio

import pytest
import ray

from actors.addons.dns.actor import start_cluster_dns
from actors.apiserver.actor import NAMESPACE
from actors.apiserver.transport import RayTransport
from actors.controllers.manager import start_controller_managers
from actors.cri.actor import cri_name
from actors.kubelet.actor import pool_name, start_kubelets, start_node_pools
from actors.kubelet.kubelet import KubeletConfig
from actors.kubelet.node import NodeConfig
from actors.proxy.curl import curl
from actors.proxy.remote import ray_links
from actors.scheduler.actor import start_schedulers
from kubeapi.client import Client
from netsim.traffic import http_request_bytes, parse_http_response
from tests.fakes import eventually
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"


@pytest.fixture
def plane(ray_cluster, data_root):
    template = KubeletConfig(NodeConfig("t"), renew_interval=0.5, status_interval=0.5, relist_period=0.2)

    def start(apis):
        return (start_schedulers(1, first_index=870, apiservers=apis)
                + start_controller_managers(1, first_index=870, apiservers=apis,
                                            controllers=["deployment", "replicaset", "endpointslice", "nodeipam"])
                + [start_cluster_dns(apis)]
                + start_kubelets(1, prefix="nk", runtime="sim", apiservers=apis, template=template)
                + start_node_pools(2, first_index=870, apiservers=apis, template=template, prefix="np"))
    try:
        with control_plane("netsim", data_root, 870, start) as p:
            yield p
    finally:
        try:
            cri = ray.get_actor(cri_name("nk-1"), namespace=NAMESPACE)
            ray.get(cri.close.remote(), timeout=30)
            ray.kill(cri, no_restart=True)
        except ValueError:
            pass


async def get(host_actor, source_ip: str, host: str, port: int, path: str = "/hostname", timeout: float = 5.0):
    reply = await host_actor.netsim_request.remote(source_ip, host, port, http_request_bytes("GET", host, port, path),
                                                   timeout=timeout)
    if not reply.ok:
        return 0, "", reply
    status, _, body = parse_http_response(reply.payload)
    return status, body.decode(), reply


def test_flows_cross_actors_reach_services_by_name_and_time_out_at_a_dead_machine(plane):
    apis, _ = plane
    cri = ray.get_actor(cri_name("nk-1"), namespace=NAMESPACE)
    pool = ray.get_actor(pool_name(870), namespace=NAMESPACE)

    async def run() -> None:
        client = Client(RayTransport(apis), poll_seconds=0.3)
        await client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": "web", "namespace": "default"},
                             "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                                      "template": {"metadata": {"labels": {"app": "web"}},
                                                   "spec": {"containers": [{"name": "web", "image": AGNHOST,
                                                                            "args": ["netexec"]}]}}}})
        svc = await client.create({"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "web", "namespace": "default"},
                                   "spec": {"type": "NodePort", "selector": {"app": "web"},
                                            "ports": [{"port": 80, "targetPort": 8080}]}})

        async def spread() -> dict[str, dict] | None:
            pods = (await client.list("pods", "default", label_selector="app=web"))["items"]
            up = [p for p in pods if (p.get("status") or {}).get("phase") == "Running" and p["status"].get("podIP")]
            by_node = {p["spec"]["nodeName"]: p for p in up}
            return by_node if len(up) == 6 and len(by_node) == 3 else None
        by_node = await eventually(spread, "6 pods running on all 3 nodes", tries=300, every=0.3)
        on_cri, on_pool = by_node["nk-1"], by_node["np-0"]
        names = {p["metadata"]["name"] for p in (await client.list("pods", "default",
                                                                    label_selector="app=web"))["items"]}

        async def answered(actor, src: str, host: str, port: int, want: str | None = None):
            async def check():
                status, body, reply = await get(actor, src, host, port)
                return reply if status == 200 and (want is None or body == want) else None
            return await eventually(check, f"{host}:{port} from {src}", tries=100, every=0.3)
        # pod to pod, both ways across the two actors
        reply = await answered(cri, on_cri["status"]["podIP"], on_pool["status"]["podIP"], 8080,
                               on_pool["metadata"]["name"])
        assert "node np-0: receives" in reply.path()
        await answered(pool, on_pool["status"]["podIP"], on_cri["status"]["podIP"], 8080, on_cri["metadata"]["name"])
        # pod to Service by name, through the cluster DNS actor
        reply = await answered(pool, on_pool["status"]["podIP"], "web", 80)
        assert "dns: web -> web.default.svc.cluster.local A " + svc["spec"]["clusterIP"] in reply.path()
        # outside to a NodePort, through the CLI's path
        node = await client.get("nodes", "np-1")
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")

        async def send_from(host, src, dest, port, payload, timeout):
            return await ray.get_actor(host, namespace=NAMESPACE).netsim_request.remote(src, dest, port, payload,
                                                                                         timeout=timeout)

        async def external() -> object:
            got = await curl(client, f"http://{ip}:{svc['spec']['ports'][0]['nodePort']}/hostname",
                             links=ray_links(), send_from=send_from)
            return got if got.exit_code == 0 else None
        result = await eventually(external, "the NodePort from outside", tries=100, every=0.3)
        assert result.body.decode() in names and "external client" in result.render()
        # the pool's machine dies: flows to its pods go nowhere
        ray.kill(pool, no_restart=True)
        status, _, reply = await get(cri, on_cri["status"]["podIP"], on_pool["status"]["podIP"], 8080, timeout=1.0)
        assert status == 0 and reply.error == "timeout", reply
    asyncio.run(asyncio.wait_for(run(), 180))
