"""The ReplicaSet controller: given the listers' state, the API calls it makes;
then the controller against an in-process apiserver with real informers."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.expectations import Expectations
from actors.controllers.podutil import deletion_order
from actors.controllers.replicaset import ReplicaSetController, slow_start_batch
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0


def rs(name: str = "web", replicas: int = 3, uid: str = "rs-uid", **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 2, "resourceVersion": "10"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "tier": "t"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, **spec}}


def pod(name: str, owner: dict | None = None, *, labels: dict | None = None, node: str = "",
        phase: str = "Running", ready: bool | None = None, created: float = NOW - 100,
        ready_at: float | None = None, **meta: Any) -> dict:
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5",
                      "labels": labels if labels is not None else {"app": "web", "tier": "t"},
                      "creationTimestamp": format_time(created), **meta},
         "spec": {"nodeName": node} if node else {},
         "status": {"phase": phase}}
    if owner is not None:
        p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": owner["metadata"]["name"],
                                             "uid": owner["metadata"]["uid"], "controller": True}]
    if ready is None:
        ready = phase == "Running" and bool(node)
    p["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                  "lastTransitionTime": format_time(ready_at or NOW - 50)}]
    return p


def controller(rs_objs: list[dict], pods: list[dict], api: Recorder | None = None):
    rsi, podi = Indexer(), Indexer()
    for o in rs_objs:
        rsi.add(o)
    for p in pods:
        podi.add(p)
    api = api or Recorder(*rs_objs, *pods)
    clock = [0.0]
    c = ReplicaSetController(rsi, podi, api, clock=lambda: clock[0], wall=lambda: NOW)
    return c, api, clock


# -------------------------------------------------------------------- scaling
def test_scale_up_creates_from_the_template_and_waits_for_its_creates_to_be_seen():
    owner = rs(replicas=3)
    c, api, _ = controller([owner], [pod("keep", owner, node="n1")])
    run(c.sync("ns/web"))
    creates = api.verbs("create")
    assert len(creates) == 2
    made = creates[0][3]
    assert made["metadata"]["generateName"] == "web-" and made["metadata"]["labels"] == {"app": "web", "tier": "t"}
    assert made["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                     "uid": "rs-uid", "controller": True,
                                                     "blockOwnerDeletion": True}]
    assert made["spec"] == owner["spec"]["template"]["spec"]
    assert c.expectations.pending("ns/web") == (2, 0)
    run(c.sync("ns/web"))  # the informer has not seen them yet: no second round of creates
    assert len(api.verbs("create")) == 2
    created = pod("web-a", owner)
    c.pods.add(created)
    c.on_pod_add(created)
    assert c.expectations.pending("ns/web") == (1, 0)
    # status: what the informers show (one ready pod of the two)
    status = api.verbs("update")[0][3]["status"]
    assert status == {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                      "observedGeneration": 2}


def test_scale_down_deletes_the_least_valuable_pods_first():
    owner = rs(replicas=2)
    pods = [pod("old-ready", owner, node="n1", created=NOW - 500),
            pod("new-ready", owner, node="n2", created=NOW - 10),
            pod("not-ready", owner, node="n3", ready=False),
            pod("pending", owner, node="n4", phase="Pending"),
            pod("unscheduled", owner, phase="Pending")]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/web"))
    assert [a[3] for a in api.verbs("delete")] == ["unscheduled", "pending", "not-ready"]
    assert c.expectations.pending("ns/web") == (0, 3)
    c.on_pod_delete(pods[4])
    assert c.expectations.pending("ns/web") == (0, 2)


@pytest.mark.parametrize("pods,first", [
    # doubled-up on a node before alone; then shorter-ready before longer; then more restarts; then newer
    ([pod("alone", node="n1"), pod("crowd-1", node="n2", created=NOW - 300), pod("crowd-2", node="n2",
                                                                                 created=NOW - 200)], "crowd-2"),
    ([pod("long", node="n1", ready_at=NOW - 900), pod("short", node="n2", ready_at=NOW - 5)], "short"),
    ([pod("calm", node="n1"), dict(pod("flappy", node="n2"),
                                   status={"phase": "Running", "conditions": pod("x", node="n")["status"]["conditions"],
                                           "containerStatuses": [{"restartCount": 4}]})], "flappy"),
    ([pod("cheap", node="n1", annotations={"controller.kubernetes.io/pod-deletion-cost": "-5"}),
      pod("dear", node="n2", created=NOW)], "cheap"),
])
def test_deletion_order_ranks(pods, first):
    assert deletion_order(pods)[0]["metadata"]["name"] == first


# ------------------------------------------------------------ adopt / release
def test_adopts_orphans_releases_strays_and_leaves_others_alone():
    owner = rs(replicas=3)
    other = rs("other", uid="other-uid")
    orphan = pod("orphan", node="n1")
    stray = pod("stray", owner, labels={"app": "moved"}, node="n2")
    foreign = pod("foreign", other, node="n3")  # matches our selector, but another controller's
    c, api, _ = controller([owner, other], [orphan, stray, foreign])
    run(c.sync("ns/web"))
    patches = {a[3]: a[5] for a in api.verbs("patch")}
    assert patches["orphan"] == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-orphan"},
        {"op": "add", "path": "/metadata/ownerReferences",
         "value": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid",
                    "controller": True, "blockOwnerDeletion": True}]}]
    assert patches["stray"][-1] == {"op": "remove", "path": "/metadata/ownerReferences/0"}
    assert "foreign" not in patches
    assert len(api.verbs("create")) == 2  # the orphan counts: 1 of 3


def test_no_adoption_for_a_replicaset_being_deleted_or_replaced():
    owner = rs(replicas=1)
    c, api, _ = controller([owner], [pod("orphan", node="n1")])
    api.objects[("ReplicaSet", "ns", "web")] = dict(rs(uid="new-incarnation"))
    run(c.sync("ns/web"))
    assert api.verbs("patch") == [] and len(api.verbs("create")) == 1
    going = rs(replicas=1)
    going["metadata"]["deletionTimestamp"] = format_time(NOW)
    c, api, _ = controller([going], [pod("orphan", node="n1")])
    run(c.sync("ns/web"))
    assert api.verbs("patch") == [] and api.verbs("create") == []  # nor any replica management


# ---------------------------------------------------------------- failures
def test_create_failures_stop_the_slow_start_and_set_replica_failure():
    owner = rs(replicas=10)
    c, api, _ = controller([owner], [])
    quota = errors.forbidden("pods", "", "exceeded quota: compute")
    api.fail["create"] = [None, None, quota, None]  # batch 1 ok; batch 2: 1 ok, 1 fails -> stop
    with pytest.raises(errors.ApiError):
        run(c.sync("ns/web"))
    assert len(api.verbs("create")) == 3
    assert c.expectations.pending("ns/web") == (2, 0)  # the 8 never made are not waited for
    cond = api.verbs("update")[0][3]["status"]["conditions"][0]
    assert (cond["type"], cond["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert "exceeded quota" in cond["message"]


def test_slow_start_batch_doubles_and_stops_after_a_failing_batch():
    calls = []

    async def ok() -> None:
        calls.append(1)
    assert run(slow_start_batch(10, 1, ok)) == (10, None) and len(calls) == 10
    calls.clear()
    boom = RuntimeError("boom")

    async def fourth_fails() -> None:
        calls.append(1)
        if len(calls) == 4:
            raise boom
    # batches of 1 and 2 succeed; the batch of 4 has one failure: 6 made, no batch of 3 after it
    assert run(slow_start_batch(10, 1, fourth_fails)) == (6, boom) and len(calls) == 7


def test_status_counts_availability_after_min_ready_seconds():
    owner = rs(replicas=2, minReadySeconds=30)
    owner["status"] = {"replicas": 2}
    pods = [pod("old", owner, node="n1", ready_at=NOW - 100), pod("fresh", owner, node="n2", ready_at=NOW - 10)]
    c, api, _ = controller([owner], pods)
    run(c.sync("ns/web"))
    st = api.verbs("update")[0][3]["status"]
    assert (st["readyReplicas"], st["availableReplicas"]) == (2, 1)
    assert len(c.queue.core) == 0 and c.queue.core.next_deadline() is not None  # looks again when it is due
    api.actions.clear()
    c.replicasets.add(dict(owner, status=st))
    run(c.sync("ns/web"))
    assert api.verbs("update") == []  # unchanged status: no write


def test_expectations_expire():
    t = [0.0]
    e = Expectations(clock=lambda: t[0], ttl=300)
    e.expect_creations("k", 2)
    assert not e.satisfied("k")
    e.creation_observed("k")
    assert not e.satisfied("k")
    t[0] = 301
    assert e.satisfied("k")  # an event was lost: act again rather than never
    e.expect_deletions("k", ["ns/a"])
    e.deletion_observed("k", "ns/a")
    assert e.satisfied("k")


# ------------------------------------------------ against an in-process apiserver
def test_keeps_replicas_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        rsi, podi = SharedInformer(client, "replicasets"), SharedInformer(client, "pods")
        c = ReplicaSetController(rsi.indexer, podi.indexer, client)
        rsi.add_event_handler(c.on_owner, c.on_owner_update, c.on_owner_delete)
        podi.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(rsi.run(stop)), asyncio.create_task(podi.run(stop)),
                 asyncio.create_task(c.run(2, stop))]
        orphan = pod("orphan")
        for k in ("uid", "resourceVersion", "creationTimestamp"):
            orphan["metadata"].pop(k)
        orphan["spec"] = {"containers": [{"name": "c", "image": "nginx"}]}
        orphan.pop("status")
        await client.create(orphan)
        body = rs(replicas=3)
        for k in ("uid", "resourceVersion", "generation"):
            body["metadata"].pop(k)
        made = await client.create(body)

        async def owned() -> list[dict]:
            items = (await client.list("pods", "ns"))["items"]
            return [p for p in items if any(r.get("uid") == made["metadata"]["uid"]
                                            for r in p["metadata"].get("ownerReferences") or ())
                    and not p["metadata"].get("deletionTimestamp")]

        await eventually(lambda: _count(owned, 3), "3 pods")
        names = {p["metadata"]["name"] for p in await owned()}
        assert "orphan" in names  # adopted, and only 2 created
        victim = sorted(names - {"orphan"})[0]
        await client.delete("pods", victim, "ns", grace_period_seconds=0)
        await eventually(lambda: _count(owned, 3, without=victim), "a replacement")
        await client.patch("replicasets", "web", {"spec": {"replicas": 1}}, "ns")
        await eventually(lambda: _count(owned, 1), "scale down to 1")
        got = await client.get("replicasets", "web", "ns")
        await eventually(lambda: _status_replicas(client, 1), "status.replicas 1")
        assert got["metadata"]["uid"] == made["metadata"]["uid"]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())


async def _count(owned, n: int, without: str | None = None) -> bool:
    pods = await owned()
    return len(pods) == n and all(p["metadata"]["name"] != without for p in pods)


async def _status_replicas(client: Client, n: int) -> bool:
    got = await client.get("replicasets", "web", "ns")
    return (got.get("status") or {}).get("replicas") == n
