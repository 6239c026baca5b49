"""The scheduling loop with small stand-in plugins: feasible-node search window,
scoring and host selection, assume/bind/forget, unschedulable pods retried on
cluster events, FitError messages."""
from __future__ import annotations

import asyncio
import random

import pytest

from actors.scheduler.framework import ClusterEvent, PluginSpec, Profile, Status
from actors.scheduler.scheduler import Scheduler, num_feasible_nodes_to_find


class CpuFit:
    """Fits when the node has the pod's CPU left."""
    name = "CpuFit"

    def __init__(self, args, handle):
        pass

    def filter(self, state, pod, node):
        if node.requested.milli_cpu + pod.requests.milli_cpu > node.allocatable.milli_cpu:
            return Status.unschedulable("Insufficient cpu")
        return Status()

    def score(self, state, pod, node):  # least allocated
        free = node.allocatable.milli_cpu - node.requested.milli_cpu - pod.requests.milli_cpu
        return (free * 100 // node.allocatable.milli_cpu if node.allocatable.milli_cpu else 0), Status()

    def events_to_register(self):
        return [ClusterEvent("Node", "Add"), ClusterEvent("Pod", "Delete")]


class Zone:
    """Rejects nodes outside the pod's wanted zone, for ever."""
    name = "Zone"

    def __init__(self, args, handle):
        pass

    def filter(self, state, pod, node):
        want = pod.spec.get("nodeSelector", {}).get("zone")
        if want and node.labels.get("zone") != want:
            return Status.unschedulable("node(s) didn't match Pod's node affinity/selector", resolvable=False)
        return Status()

    def events_to_register(self):
        return [ClusterEvent("Node", "Update")]


REGISTRY = {"CpuFit": CpuFit, "Zone": Zone}


def node(name: str, cpu: str = "1", zone: str = "a") -> dict:
    return {"metadata": {"name": name, "labels": {"zone": zone}},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"}}}


def pod(name: str, cpu: str = "400m", zone: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}
    if zone:
        spec["nodeSelector"] = {"zone": zone}
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


class Binder:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.bound: dict[str, str] = {}
        self.sched: Scheduler | None = None

    async def bind(self, p: dict, node_name: str) -> None:
        name = p["metadata"]["name"]
        if name in self.fail:
            self.fail.discard(name)
            raise RuntimeError("the apiserver said no")
        self.bound[name] = node_name
        self.sched.on_pod("MODIFIED", dict(p, spec=dict(p["spec"], nodeName=node_name)))


def make(binder: Binder, **kw) -> Scheduler:
    s = Scheduler(Profile(plugins=[PluginSpec("Zone"), PluginSpec("CpuFit")], **kw), REGISTRY, binder,
                  rng=random.Random(1))
    s.queue.initial_backoff = s.queue.max_backoff = 0.01
    binder.sched = s
    return s


async def drain(s: Scheduler, until, timeout: float = 5.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(s.run(stop, flush_interval=0.01))
    try:
        await asyncio.wait_for(_poll(until), timeout)
    finally:
        stop.set()  # the loop notices within its flush interval
        await task


async def _poll(until) -> None:
    while not until():
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("nodes,pct,want", [
    (50, 0, 50), (100, 0, 100), (1000, 0, 420), (5000, 0, 500), (10_000, 0, 500), (6000, 0, 300),
    (1000, 30, 300), (1000, 5, 100), (200, 100, 200),
])
def test_num_feasible_nodes_to_find(nodes, pct, want):
    assert num_feasible_nodes_to_find(nodes, pct) == want


def test_pods_spread_by_score_and_bind():
    async def go():
        b = Binder()
        s = make(b)
        for i in range(3):
            s.on_node("ADDED", node(f"n{i}"))
        for i in range(6):
            s.on_pod("ADDED", pod(f"p{i}"))
        await drain(s, lambda: len(b.bound) == 6)
        per_node = sorted(list(b.bound.values()).count(f"n{i}") for i in range(3))
        assert per_node == [2, 2, 2]  # least-allocated spreads them evenly
        assert s.metrics.scheduled == 6 and s.metrics.attempts["scheduled"] == 6
        assert all(s.cache.node(f"n{i}").requested.milli_cpu == 800 for i in range(3))
    asyncio.run(go())


def test_unschedulable_pod_waits_for_a_node_and_gets_a_fit_error():
    async def go():
        b = Binder()
        messages = []

        async def unsched(p, msg):
            messages.append((p["metadata"]["name"], msg))
        s = make(b)
        s.on_unschedulable = unsched
        s.on_node("ADDED", node("small", cpu="500m"))
        s.on_node("ADDED", node("other", cpu="4", zone="b"))
        s.on_pod("ADDED", pod("big", cpu="2", zone="a"))
        await drain(s, lambda: messages)
        assert messages == [("big", "0/2 nodes are available: 1 Insufficient cpu, "
                                    "1 node(s) didn't match Pod's node affinity/selector.")]
        assert s.queue.depths()["unschedulable"] == 1
        s.on_node("ADDED", node("large", cpu="4", zone="a"))  # a Node Add helps CpuFit's rejects
        await drain(s, lambda: "big" in b.bound)
        assert b.bound["big"] == "large"
    asyncio.run(go())


def test_failed_binding_is_forgotten_and_retried():
    async def go():
        b = Binder(fail={"p0"})
        s = make(b)
        s.on_node("ADDED", node("n0"))
        s.on_pod("ADDED", pod("p0"))
        await drain(s, lambda: "p0" in b.bound)
        assert s.metrics.attempts["error"] == 1 and s.metrics.scheduled == 1
        assert s.cache.node("n0").requested.milli_cpu == 400  # counted once, not twice
    asyncio.run(go())


def test_feasible_search_rotates_through_the_nodes():
    async def go():
        b = Binder()
        s = make(b)
        for i in range(300):
            s.on_node("ADDED", node(f"n{i:03}", cpu="100"))
        s.on_pod("ADDED", pod("a"))
        await drain(s, lambda: "a" in b.bound)
        # 300 nodes: 48% of them (50 - 300/125) are enough to stop the search
        assert s.next_start_node_index == 144
        s2 = make(Binder(), percentage_of_nodes_to_score=10)
        for i in range(2000):
            s2.on_node("ADDED", node(f"n{i:04}", cpu="100"))
        s2.on_pod("ADDED", pod("b"))
        await drain(s2, lambda: s2.metrics.scheduled == 1)
        assert s2.next_start_node_index == 200  # the next pod starts where this one stopped
    asyncio.run(go())


def test_pods_for_other_schedulers_and_gated_pods_are_not_queued():
    s = make(Binder())
    other = pod("x")
    other["spec"]["schedulerName"] = "my-scheduler"
    gated = pod("g")
    gated["spec"]["schedulingGates"] = [{"name": "wait"}]
    s.on_pod("ADDED", other)
    s.on_pod("ADDED", gated)
    assert len(s.queue) == 0
    s.on_pod("ADDED", pod("normal"))
    assert len(s.queue) == 1
    s.on_pod("DELETED", pod("normal"))
    assert len(s.queue) == 0
