"""The pod garbage collector: terminated pods over the threshold (oldest
first), pods of vanished nodes (after quarantine and a confirming read),
unscheduled and out-of-service terminating pods."""
from __future__ import annotations

from actors.controllers.podgc import PodGCController
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0


def pod(name: str, phase: str = "Running", node: str = "n1", age: float = 100, deleting: bool = False) -> dict:
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": format_time(NOW - age)}
    if deleting:
        meta["deletionTimestamp"] = format_time(NOW)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


def node(name: str, ready: str = "True", taints: list | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"taints": taints or []}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def gc(pods: list[dict], nodes: list[dict], **kw):
    pi, ni = Indexer(), Indexer()
    for p in pods:
        pi.add(p)
    for n in nodes:
        ni.add(n)
    api = Recorder(*nodes, *pods)
    t = [0.0]
    return PodGCController(pi, ni, api, clock=lambda: t[0], wall=lambda: NOW, **kw), api, t


def _deleted(api: Recorder) -> list[str]:
    return [a[3] for a in api.verbs("delete")]


def test_terminated_pods_beyond_the_threshold_go_oldest_first():
    pods = [pod("old", "Succeeded", age=300), pod("mid", "Failed", age=200), pod("new", "Succeeded", age=10),
            pod("running", age=1000), pod("gone", "Failed", age=900, deleting=True)]
    c, api, _ = gc(pods, [node("n1")], threshold=1)
    run(c.collect())
    assert _deleted(api) == ["old", "mid"]
    c, api, _ = gc(pods, [node("n1")], threshold=0)  # off
    run(c.collect())
    assert _deleted(api) == []


def test_pods_of_a_vanished_node_go_after_quarantine_and_a_confirming_read():
    pods = [pod("a", node="ghost"), pod("b", node="n1"), pod("done", "Succeeded", node="ghost")]
    c, api, t = gc(pods, [node("n1")], quarantine=40)
    run(c.collect())
    assert _deleted(api) == []  # just noticed
    t[0] = 41.0
    run(c.collect())
    assert sorted(_deleted(api)) == ["a", "done"]
    marked = [a[3] for a in api.verbs("update")]
    assert [(m["metadata"]["name"], m["status"]["conditions"][-1]["reason"]) for m in marked] == [
        ("a", "DeletionByPodGC")]  # a finished pod is not marked
    # a node the lister lost but the API still has: its pods stay
    c, api, t = gc([pod("a", node="back")], [node("n1")], quarantine=0)
    api.objects[("Node", None, "back")] = node("back")
    run(c.collect())
    assert _deleted(api) == []


def test_unscheduled_and_out_of_service_terminating_pods_are_force_deleted():
    oos = [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]
    pods = [pod("never-bound", node="", deleting=True), pod("stuck", node="down", deleting=True),
            pod("draining", node="n1", deleting=True), pod("on-down-not-deleting", node="down")]
    c, api, _ = gc(pods, [node("n1"), node("down", ready="Unknown", taints=oos)])
    run(c.collect())
    assert sorted(_deleted(api)) == ["never-bound", "stuck"]
