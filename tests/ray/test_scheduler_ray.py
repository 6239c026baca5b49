"""The scheduler actor on Ray: two replicas over an apiserver, the leader killed
mid-stream of 500 pods — every pod ends bound, exactly once."""
from __future__ import annotations

import asyncio
import time

import pytest
import ray

from actors.apiserver.transport import RayTransport
from actors.scheduler.actor import start_schedulers
from kubeapi.client import Client
from tests.ray.plane import control_plane

pytestmark = pytest.mark.ray


def _node(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n{i}", "labels": {"zone": f"z{i % 2}"}},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


def _pod(name: str, cpu: str = "100m") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "load"},
            "spec": {"containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu}}}]}}


@pytest.fixture
def plane(ray_cluster, data_root):
    with control_plane("sched", data_root, 300, lambda apis: start_schedulers(
            2, first_index=300, apiservers=apis, lease_duration=3, renew_deadline=2, retry_period=0.5)) as p:
        yield p


def _leader(scheds: list) -> tuple[int, dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sts = ray.get([s.status.remote() for s in scheds])
        for i, st in enumerate(sts):
            if st["leading"]:
                return i, st
        time.sleep(0.2)
    raise AssertionError("no scheduler leads")


def test_leader_killed_mid_stream_every_pod_bound_exactly_once(plane):
    apis, scheds = plane
    first, _ = _leader(scheds)

    async def run() -> None:
        client = Client(RayTransport(apis))
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}})
        for i in range(20):
            await client.create(_node(i))
        rv = (await client.list("pods", "load"))["metadata"]["resourceVersion"]
        assigned: dict[str, list[str]] = {}

        async def watch() -> None:
            async for ev in client.watch("pods", "load", resource_version=rv, timeout_seconds=240):
                o = ev["object"]
                node = (o.get("spec") or {}).get("nodeName")
                if node:
                    seen = assigned.setdefault(o["metadata"]["name"], [])
                    if not seen or seen[-1] != node:
                        seen.append(node)
                if len(assigned) == 500:
                    return
        watcher = asyncio.create_task(watch())
        for i in range(500):
            if i == 150:
                ray.kill(scheds[first], no_restart=True)  # the leader dies mid-stream
            await client.create(_pod(f"p{i:03}"))
        await asyncio.wait_for(watcher, 120)
        assert sorted(assigned) == [f"p{i:03}" for i in range(500)]
        moved = {k: v for k, v in assigned.items() if len(v) != 1}
        assert not moved, f"pods bound more than once: {moved}"
        per_node = {}
        for nodes in assigned.values():
            per_node[nodes[0]] = per_node.get(nodes[0], 0) + 1
        assert len(per_node) == 20 and max(per_node.values()) <= 80  # 8 CPU / 100m, spread out
        # a pod that fits nowhere is told why
        await client.create(_pod("huge", cpu="64"))
        deadline = time.monotonic() + 30
        cond = None
        while time.monotonic() < deadline and cond is None:
            p = await client.get("pods", "huge", "load")
            cond = next((c for c in (p.get("status") or {}).get("conditions") or []
                         if c["type"] == "PodScheduled"), None)
            await asyncio.sleep(0.2)
        assert cond is not None and cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert cond["message"].startswith("0/20 nodes are available: 20 Insufficient cpu.")
        events = await client.list("events", "load", field_selector="involvedObject.name=huge")
        assert any(e["reason"] == "FailedScheduling" for e in events["items"])

    asyncio.run(run())
    survivor = scheds[1 - first]
    st = ray.get(survivor.status.remote())
    assert st["leading"] and st["metrics"]["scheduled"] > 0
