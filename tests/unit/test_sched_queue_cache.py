"""The scheduling queue (priority order, back-off, unschedulable pods moved by
events) and the cache (assume, confirm, forget, expire), on virtual time."""
from __future__ import annotations

import asyncio

import pytest

from actors.scheduler.cache import SchedulerCache
from actors.scheduler.framework import ClusterEvent
from actors.scheduler.nodeinfo import PodInfo
from actors.scheduler.queue import SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pod(name: str, priority: int = 0, cpu: str = "100m", node: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}],
                  "priority": priority}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def node(name: str, cpu: str = "4") -> dict:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def test_active_queue_orders_by_priority_then_arrival():
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    for name, prio in (("low", 0), ("high", 10), ("mid", 5), ("high2", 10)):
        q.add(PodInfo.of(pod(name, prio)))
        clock.t += 1
    order = [q.pop_nowait().key for _ in range(4)]
    assert order == ["ns/high", "ns/high2", "ns/mid", "ns/low"]
    assert q.pop_nowait() is None and q.depths()["in_flight"] == 4


def test_backoff_doubles_to_the_cap_and_flush_moves_pods_back():
    clock = Clock()
    q = SchedulingQueue(clock=clock, initial_backoff=1, max_backoff=10)
    q.add(PodInfo.of(pod("a")))
    expiries = []
    for _ in range(6):
        item = q.pop_nowait()
        assert item is not None
        q.requeue_after_error(item)
        expiries.append(q.backoff_expiry(item) - clock.t)
        assert q.pop_nowait() is None  # still backing off
        assert q.next_flush_in() == pytest.approx(expiries[-1])
        clock.t += expiries[-1]
        assert q.flush() == 1
    assert expiries == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pods_move_only_on_events_their_rejecting_plugins_care_about():
    clock = Clock()
    q = SchedulingQueue(clock=clock, unschedulable_timeout=300, plugin_events={
        "NodeResourcesFit": [ClusterEvent("Node", "Add"), ClusterEvent("Pod", "Delete")],
        "TaintToleration": [ClusterEvent("Node", "Update")]})
    q.add(PodInfo.of(pod("a")))
    q.add(PodInfo.of(pod("b")))
    a, b = q.pop_nowait(), q.pop_nowait()
    q.add_unschedulable(a, ["NodeResourcesFit"])
    q.add_unschedulable(b, ["TaintToleration"])
    assert q.depths()["unschedulable"] == 2
    clock.t += 20  # past the back-off: a moved pod is active at once
    assert q.on_event(ClusterEvent("Node", "Update")) == 1
    assert q.pop_nowait().key == "ns/b"
    assert q.on_event(ClusterEvent("Pod", "Delete")) == 1
    assert q.pop_nowait().key == "ns/a"


def test_an_event_during_the_attempt_sends_the_pod_to_backoff_not_unschedulable():
    clock = Clock()
    q = SchedulingQueue(clock=clock, plugin_events={"F": [ClusterEvent("Node", "Add")]})
    q.add(PodInfo.of(pod("a")))
    item = q.pop_nowait()
    q.on_event(ClusterEvent("Node", "Add"))  # while "a" was being scheduled
    q.add_unschedulable(item, ["F"])
    assert q.depths() == {"active": 0, "backoff": 1, "unschedulable": 0, "in_flight": 0}


def test_unschedulable_timeout_retries_anyway_and_delete_removes():
    clock = Clock()
    q = SchedulingQueue(clock=clock, unschedulable_timeout=60, plugin_events={"F": [ClusterEvent("Node")]})
    for n in ("a", "b"):
        q.add(PodInfo.of(pod(n)))
    a, b = q.pop_nowait(), q.pop_nowait()
    q.add_unschedulable(a, ["F"])
    q.add_unschedulable(b, ["F"])
    q.delete("ns/b")
    clock.t += 61
    assert q.flush() == 1 and q.pop_nowait().key == "ns/a" and len(q) == 0


def test_pop_waits_for_a_pod_and_times_out():
    async def go():
        q = SchedulingQueue()
        assert await q.pop(timeout=0.01) is None
        asyncio.get_running_loop().call_later(0.01, q.add, PodInfo.of(pod("late")))
        got = await q.pop(timeout=5)
        assert got is not None and got.key == "ns/late"
    asyncio.run(go())


def test_cache_assume_confirm_forget_and_expire():
    clock = Clock()
    c = SchedulerCache(clock=clock, assumed_ttl=30)
    c.add_node(node("n1", cpu="1"))
    a = PodInfo.of(pod("a", cpu="600m"))
    c.assume_pod(a, "n1")
    assert c.node("n1").requested.milli_cpu == 600 and c.is_assumed("ns/a")
    with pytest.raises(ValueError):
        c.assume_pod(a, "n1")
    c.forget_pod("ns/a")
    assert c.node("n1").requested.milli_cpu == 0
    c.assume_pod(a, "n1")
    c.finish_binding("ns/a")
    c.add_pod(pod("a", cpu="600m", node="n1"))  # the informer confirms it
    assert not c.is_assumed("ns/a") and c.node("n1").requested.milli_cpu == 600
    clock.t += 100
    assert c.cleanup_expired() == []  # confirmed pods never expire
    b = PodInfo.of(pod("b", cpu="300m"))
    c.assume_pod(b, "n1")
    c.finish_binding("ns/b")
    clock.t += 31
    assert c.cleanup_expired() == ["ns/b"] and c.node("n1").requested.milli_cpu == 600
    c.remove_pod("ns/a")
    assert c.node("n1").requested.milli_cpu == 0 and len(c.node("n1").pods) == 0


def test_cache_snapshot_follows_nodes_and_placeholders():
    c = SchedulerCache()
    c.add_node(node("n1"))
    c.add_pod(pod("p", node="ghost"))  # a pod on a node not seen yet: a placeholder, not schedulable
    assert [n.name for n in c.snapshot().list()] == ["n1"]
    c.add_node(node("ghost"))
    assert sorted(n.name for n in c.snapshot().list()) == ["ghost", "n1"]
    assert c.node("ghost").requested.milli_cpu == 100
    c.remove_node("ghost")  # its pod is still there: kept aside, not offered
    assert [n.name for n in c.snapshot().list()] == ["n1"] and c.node("ghost") is not None
    c.remove_pod("ns/p")
    assert c.node("ghost") is None
    c.update_node(node("n1", cpu="8"))
    assert c.snapshot().get("n1").allocatable.milli_cpu == 8000


def _with_anti_affinity(p: dict) -> dict:
    p["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    return p


def test_snapshot_keeps_derived_views_until_the_cache_changes_them():
    c = SchedulerCache()
    c.add_node(node("n1"))
    c.add_node(node("n2"))
    snap = c.snapshot()
    assert snap.have_pods_with_affinity() == [] and snap.have_pods_with_required_anti_affinity() == []
    c.add_pod(_with_anti_affinity(pod("a", node="n2")))  # same snapshot object, views refreshed
    assert c.snapshot() is snap
    assert [n.name for n in snap.have_pods_with_required_anti_affinity()] == ["n2"]
    assert [n.name for n in snap.have_pods_with_affinity()] == ["n2"]
    c.add_pod(pod("plain", node="n1"))  # no affinity: the views stay as they are
    assert [n.name for n in snap.have_pods_with_affinity()] == ["n2"]
    c.remove_pod("ns/a")
    assert snap.have_pods_with_affinity() == [] and snap.have_pods_with_required_anti_affinity() == []
    # an assumed pod counts as soon as it is assumed, and stops counting when forgotten
    c.assume_pod(PodInfo.of(_with_anti_affinity(pod("b"))), "n1")
    assert [n.name for n in snap.have_pods_with_required_anti_affinity()] == ["n1"]
    c.forget_pod("ns/b")
    assert snap.have_pods_with_required_anti_affinity() == []

    assert snap.image_node_counts() == {}
    with_images = node("n1")
    with_images["status"]["images"] = [{"names": ["img:1", "img@sha256:aa"], "sizeBytes": 10}]
    c.update_node(with_images)
    assert snap.image_node_counts() == {"img:1": 1, "img@sha256:aa": 1}
    with_images = node("n2")
    with_images["status"]["images"] = [{"names": ["img:1"], "sizeBytes": 10}]
    c.update_node(with_images)
    assert snap.image_node_counts()["img:1"] == 2
    c.update_node(node("n2"))  # the image went away
    assert snap.image_node_counts()["img:1"] == 1
