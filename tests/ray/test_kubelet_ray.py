"""Kubelets on Ray over the process runtime: a Deployment's pods run as real
processes and their output comes back through pods/log; a crashing container
restarts with back-off; a deleted pod's process ends; a killed kubelet's node
goes silent and its pods are recreated on the other node."""
from __future__ import annotations

import asyncio
import os

import pytest
import ray

from actors.apiserver.actor import NAMESPACE
from actors.apiserver.transport import RayTransport
from actors.controllers.manager import Settings, start_controller_managers
from actors.controllers.nodelifecycle import NodeLifecycleConfig
from actors.cri.actor import cri_name
from actors.election import Timing
from actors.kubelet.actor import start_kubelets
from actors.kubelet.kubelet import KubeletConfig
from actors.kubelet.node import NodeConfig
from actors.scheduler.actor import start_schedulers
from kubeapi import errors
from kubeapi.client import Client
from tests.fakes import eventually
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray

NODES = ("kn-1", "kn-2")
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
def plane(ray_cluster, data_root):
    timing = Timing(lease_duration=3, renew_deadline=2, retry_period=0.5)
    settings = Settings(node_lifecycle=NodeLifecycleConfig(grace=3.0, monitor_period=0.5), pod_gc_period=1.0)
    template = KubeletConfig(NodeConfig("t"), renew_interval=0.5, status_interval=0.5, relist_period=0.3)

    def start(apis):
        return (start_schedulers(1, first_index=800, apiservers=apis)
                + start_controller_managers(1, first_index=800, apiservers=apis, settings=settings, timing=timing)
                + start_kubelets(len(NODES), prefix="kn", apiservers=apis, template=template))
    try:
        with control_plane("kube", data_root, 800, start) as p:
            yield p
    finally:
        for node in NODES:  # the runtimes' processes first, then their actors
            try:
                cri = ray.get_actor(cri_name(node), namespace=NAMESPACE)
            except ValueError:
                continue
            try:
                ray.get(cri.close.remote(), timeout=30)
            finally:
                ray.kill(cri, no_restart=True)


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": "default"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "hello"}},
             "template": {"metadata": {"labels": {"app": "hello"}}, "spec": {
                 "terminationGracePeriodSeconds": 2,
                 "tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                  "tolerationSeconds": 1}],
                 "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Honor",
                                                "labelSelector": {"matchLabels": {"app": "hello"}}}],
                 "containers": [{"name": "c", "image": "busybox:1.36",
                                 "command": ["sh", "-c", "echo hello from $HOSTNAME; sleep 3600"]}]}}}}


async def _log(client: Client, name: str, **query: str) -> tuple[int, str]:
    r = await client.transport.request("get", "", "v1", "pods", "default", name, "log", None, None, query)
    return r["code"], r["body"] if isinstance(r["body"], str) else r["body"].get("message", "")


def test_pods_run_as_processes_log_restart_stop_and_move_off_a_dead_kubelet(plane):
    apis, handles = plane

    async def run() -> None:
        client = Client(RayTransport(apis), poll_seconds=0.3)

        async def ready_nodes() -> bool:
            nodes = (await client.list("nodes"))["items"]
            return sorted(n["metadata"]["name"] for n in nodes if any(
                c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or ())) == \
                sorted(NODES)
        await eventually(ready_nodes, "both kubelets' nodes Ready", tries=300, every=0.2)
        await client.create(DEPLOYMENT)

        async def running() -> list[dict]:
            pods = (await client.list("pods", "default", label_selector="app=hello"))["items"]
            return [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
                c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or ())]

        async def two_ready() -> bool:
            return len(await running()) == 2
        await eventually(two_ready, "2 Ready pods of real processes", tries=300, every=0.2)
        pods = await running()
        assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(NODES)  # one per node
        for p in pods:
            name = p["metadata"]["name"]
            assert p["status"]["containerStatuses"][0]["containerID"].startswith("raykube-process://")

            async def logged(name: str = name) -> bool:  # the process may still be writing it
                return await _log(client, name) == (200, f"hello from {name}\n")
            await eventually(logged, f"the output of {name} through pods/log", tries=100, every=0.1)

        # a container that exits 1 restarts, with its restart count rising
        await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash", "namespace": "default"},
                             "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                                      "command": ["sh", "-c", "echo oops; exit 1"]}]}})

        async def crash_looping() -> bool:
            p = await client.get("pods", "crash", "default")
            cs = ((p.get("status") or {}).get("containerStatuses") or [{}])[0]
            return cs.get("restartCount", 0) >= 2
        await eventually(crash_looping, "restarts of the crashing container", tries=300, every=0.2)
        assert await _log(client, "crash", previous="true") == (200, "oops\n")
        await client.delete("pods", "crash", "default", grace_period_seconds=0)

        # deleting a pod stops its process within the grace period
        victim = pods[0]
        cri = ray.get_actor(cri_name(victim["spec"]["nodeName"]), namespace=NAMESPACE)
        cid = victim["status"]["containerStatuses"][0]["containerID"].split("://")[1]
        pid = int((await cri.ContainerStatus.remote(cid)).annotations["raykube.io/pid"])
        os.kill(pid, 0)  # running now
        await client.delete("pods", victim["metadata"]["name"], "default")

        async def process_gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False
        await eventually(process_gone, "the deleted pod's process ended", tries=100, every=0.1)

        async def deleted() -> bool:
            try:
                await client.get("pods", victim["metadata"]["name"], "default")
            except errors.ApiError as e:
                return errors.is_not_found(e)
            return False
        await eventually(deleted, "the pod removed once stopped", tries=100, every=0.1)
        await eventually(two_ready, "a replacement", tries=300, every=0.2)

        # the kubelet of kn-1 dies: its node goes silent, its pod is evicted and recreated on kn-2
        ray.kill(ray.get_actor("kubelet-kn-1", namespace=NAMESPACE), no_restart=True)

        async def moved() -> bool:
            ready = await running()
            return len(ready) == 2 and all(p["spec"]["nodeName"] == "kn-2" for p in ready)
        await eventually(moved, "both of the Deployment's pods Ready on the live node", tries=300, every=0.2)
        node = await client.get("nodes", "kn-1")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "Unknown"

    asyncio.run(asyncio.wait_for(run(), 150))
