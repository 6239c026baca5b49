"""Node lifecycle on Ray: two fake nodes whose Leases a test renews (playing
their kubelets) run a Deployment's pods; one node's renewals stop — it goes
Unknown, is tainted unreachable, its pods are evicted and the ReplicaSet
replaces them on the other node. Then deleting the namespace (after the dead
node is marked out-of-service, upstream's non-graceful shutdown procedure)
removes everything in it, and the namespace itself."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from actors.apiserver.transport import RayTransport
from actors.controllers.manager import Settings, start_controller_managers
from actors.controllers.nodelifecycle import NodeLifecycleConfig
from actors.election import Timing
from actors.scheduler.actor import start_schedulers
from kubeapi import errors
from kubeapi.client import Client
from tests.fakes import eventually, finish_deletion, mark_ready
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray

NS, REPLICAS = "life", 10
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
def plane(ray_cluster, data_root):
    settings = Settings(node_lifecycle=NodeLifecycleConfig(grace=2.0, monitor_period=0.5),
                        pod_gc_period=0.5, namespace_recheck=0.5)

    def start(apis):
        return start_schedulers(1, first_index=600, apiservers=apis) + start_controller_managers(
            1, first_index=600, apiservers=apis, settings=settings,
            timing=Timing(lease_duration=3, renew_deadline=2, retry_period=0.5))
    with control_plane("life", data_root, 600, start) as p:
        yield p


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": _micro_now()[:19] + "Z"}]}}


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
    "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                 "containers": [{"name": "c", "image": "app:v1"}],
                 "tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                  "tolerationSeconds": 1}]}}}}


def test_a_silent_node_is_tainted_its_pods_replaced_and_the_namespace_deleted(plane):
    apis, _ = plane

    async def run() -> None:
        client = Client(RayTransport(apis), poll_seconds=0.5)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        alive = {"n-alive": True, "n-silent": True}
        for name in alive:
            await client.create(_node(name))
            await client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                                 "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                          "renewTime": _micro_now()}})

        async def kubelets() -> None:
            """Each live node renews its Lease, runs its new pods and finishes its deleted ones."""
            while True:
                for name, up in alive.items():
                    if not up:
                        continue
                    lease = await client.get("leases", name, "kube-node-lease")
                    lease["spec"]["renewTime"] = _micro_now()
                    await client.update(lease)
                    pods = (await client.list("pods", NS, field_selector=f"spec.nodeName={name}"))["items"]
                    for pod in pods:
                        if pod["metadata"].get("deletionTimestamp"):
                            await finish_deletion(client, pod)
                        elif (pod.get("status") or {}).get("phase") != "Running":
                            await mark_ready(client, pod)
                await asyncio.sleep(0.3)
        kubelet = asyncio.create_task(kubelets())

        async def pods() -> list[dict]:
            return (await client.list("pods", NS))["items"]

        def running_on(items: list[dict], node: str) -> list[str]:
            return [p["metadata"]["name"] for p in items if p["spec"].get("nodeName") == node
                    and not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running"]

        await client.create(DEPLOYMENT)

        async def spread() -> bool:
            items = await pods()
            return len(running_on(items, "n-alive")) + len(running_on(items, "n-silent")) == REPLICAS
        await eventually(spread, f"{REPLICAS} running pods", tries=240, every=0.25)
        doomed = running_on(await pods(), "n-silent")
        assert doomed, "the scheduler put no pod on n-silent"

        alive["n-silent"] = False  # its kubelet dies

        async def replaced() -> bool:
            items = await pods()
            evicted = all(p["metadata"].get("deletionTimestamp") for p in items if p["metadata"]["name"] in doomed)
            return evicted and len(running_on(items, "n-alive")) == REPLICAS
        await eventually(replaced, "the silent node's pods evicted and replaced on n-alive", tries=240, every=0.25)
        silent = await client.get("nodes", "n-silent")
        ready = next(c for c in silent["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
        assert {(t["key"], t["effect"]) for t in silent["spec"]["taints"]} >= {
            (UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}
        evicted = [p for p in await pods() if p["metadata"]["name"] in doomed]
        assert all(any(c.get("reason") == "DeletionByTaintManager" for c in p["status"].get("conditions") or ())
                   for p in evicted)
        assert not (await client.get("nodes", "n-alive"))["spec"].get("taints")

        # non-graceful shutdown: the operator marks the dead node out of service
        silent["spec"]["taints"].append({"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute",
                                         "value": "nodeshutdown"})
        await client.update(silent)
        await client.delete("namespaces", NS)

        async def namespace_gone() -> bool:
            try:
                await client.get("namespaces", NS)
            except errors.ApiError as e:
                return errors.is_not_found(e)
            return False
        await eventually(namespace_gone, "the namespace and all in it deleted", tries=240, every=0.25)
        for kind in ("pods", "replicasets", "deployments"):
            assert (await client.list(kind, NS))["items"] == [], kind
        kubelet.cancel()

    asyncio.run(asyncio.wait_for(run(), 150))
