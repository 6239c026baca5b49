"""The cloud on Ray: a Node registered for an external cloud provider is
initialized from its instance; a LoadBalancer Service gets an external IP
the cloud allocated, released when the Service goes; an instance the cloud
loses takes its (NotReady) Node with it."""
from __future__ import annotations

import asyncio

import pytest
import ray

from actors.apiserver.transport import RayTransport
from actors.cloud.manager import CLOUD_ACTOR, RemoteCloud, start_cloud_controller_managers
from actors.apiserver.actor import NAMESPACE
from actors.election import Timing
from kubeapi import errors
from kubeapi.client import Client
from tests.fakes import eventually
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray


@pytest.fixture
def plane(ray_cluster, data_root):
    started: list = []

    def start(apis):
        started.extend(start_cloud_controller_managers(
            1, first_index=700, apiservers=apis, timing=Timing(lease_duration=3, renew_deadline=2, retry_period=0.5)))
        return started
    try:
        with control_plane("cloud", data_root, 700, start) as p:
            yield p
    finally:
        try:
            ray.kill(ray.get_actor(CLOUD_ACTOR, namespace=NAMESPACE), no_restart=True)
        except ValueError:
            pass


def test_nodes_load_balancers_and_lost_instances(plane):
    apis, _ = plane
    cloud = RemoteCloud(ray.get_actor(CLOUD_ACTOR, namespace=NAMESPACE))

    async def run() -> None:
        client = Client(RayTransport(apis), poll_seconds=0.5)
        inst = await cloud.create_instance("vm-1", zone="rk-central-1b")
        await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "vm-1"},
                             "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized",
                                                  "value": "true", "effect": "NoSchedule"}]},
                             "status": {"conditions": [{"type": "Ready", "status": "True"}]}})

        async def initialized() -> bool:
            n = await client.get("nodes", "vm-1")
            return n["spec"].get("providerID") == inst.provider_id and not n["spec"].get("taints") \
                and n["metadata"]["labels"].get("topology.kubernetes.io/zone") == "rk-central-1b" \
                and any(a["type"] == "InternalIP" for a in (n["status"].get("addresses") or ()))
        await eventually(initialized, "the node initialized from its instance", tries=240, every=0.25)

        await client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                             "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                                      "ports": [{"port": 80, "targetPort": 8080}]}})

        async def ingress() -> str | None:
            svc = await client.get("services", "web", "default")
            lb = (svc.get("status") or {}).get("loadBalancer") or {}
            return (lb.get("ingress") or [{}])[0].get("ip")
        await eventually(ingress, "an external IP", tries=240, every=0.25)
        ip = await ingress()
        lbs = await cloud.list_load_balancers()
        assert [(lb.ip, lb.hosts) for lb in lbs] == [(ip, ("vm-1",))]
        await client.delete("services", "web", "default")

        async def released() -> bool:
            try:
                await client.get("services", "web", "default")
                return False
            except errors.ApiError as e:
                return errors.is_not_found(e) and await cloud.list_load_balancers() == []
        await eventually(released, "the load balancer released and the Service gone", tries=240, every=0.25)

        # the machine is lost and its kubelet silent: the Node goes with it
        await cloud.delete_instance(inst.id)
        node = await client.get("nodes", "vm-1")
        node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
        await client.update_status(node)

        async def node_gone() -> bool:
            try:
                await client.get("nodes", "vm-1")
                return False
            except errors.ApiError as e:
                return errors.is_not_found(e)
        await eventually(node_gone, "the node of the lost instance deleted", tries=240, every=0.25)

    asyncio.run(asyncio.wait_for(run(), 120))
