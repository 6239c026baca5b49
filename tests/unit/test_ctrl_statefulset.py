"""The StatefulSet controller: given the listers' state, the API calls it makes;
then the controller against an in-process apiserver with real informers."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.base import template_hash
from actors.controllers.statefulset import (POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL, StatefulSetController,
                                            revision_name)
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually, is_ready, mark_ready

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
OLD = "web-oldrev"
OWNER_REF = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-uid",
             "controller": True, "blockOwnerDeletion": True}


def sts(replicas: int = 3, policy: str = "OrderedReady", status: dict | None = None, **spec: Any) -> dict:
    s = {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "web", "namespace": "ns", "uid": "sts-uid", "generation": 2, "resourceVersion": "10"},
         "spec": {"replicas": replicas, "serviceName": "web-svc", "podManagementPolicy": policy,
                  "selector": {"matchLabels": {"app": "web"}}, "template": copy.deepcopy(TEMPLATE), **spec}}
    if status is not None:
        s["status"] = status
    return s


NEW = revision_name(sts())


def pod(ordinal: int, *, owned: bool = True, rev: str = NEW, phase: str = "Running", ready: bool = True,
        ready_at: float = NOW - 50, terminating: bool = False, labels: dict | None = None,
        name: str | None = None) -> dict:
    name = name or f"web-{ordinal}"
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5",
                            "labels": labels if labels is not None else
                            {"app": "web", POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: rev}}
    if owned:
        meta["ownerReferences"] = [dict(OWNER_REF)]
    if terminating:
        meta["deletionTimestamp"] = format_time(NOW)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": format_time(ready_at)}]}}


def controller(owner: dict, pods: list[dict]):
    si, podi = Indexer(), Indexer()
    si.add(owner)
    for p in pods:
        podi.add(p)
    api = Recorder(owner, *pods)
    c = StatefulSetController(si, podi, api, clock=lambda: 0.0, wall=lambda: NOW)
    return c, api


def created(api: Recorder) -> list[str]:
    return [a[3]["metadata"]["name"] for a in api.verbs("create")]


def deleted(api: Recorder) -> list[str]:
    return [a[3] for a in api.verbs("delete")]


def see(c: StatefulSetController, p: dict) -> None:
    """The pod informer delivers ``p`` (added or changed)."""
    old = c.pods.get(f"ns/{p['metadata']['name']}")
    c.pods.add(p)
    if old is None:
        c.on_pod_add(p)
    else:
        c.on_pod_update(old, dict(p, metadata=dict(p["metadata"], resourceVersion="6")))


def gone(c: StatefulSetController, p: dict) -> None:
    c.pods.delete(p)
    c.on_pod_delete(p)


# ------------------------------------------------------------------ creation
def test_ordered_ready_creates_one_pod_at_a_time_waiting_for_readiness():
    c, api = controller(sts(replicas=3), [])
    run(c.sync("ns/web"))
    assert created(api) == ["web-0"]
    assert api.verbs("create")[0][3] == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": "ns", "ownerReferences": [OWNER_REF], "name": "web-0",
                     "labels": {"app": "web", POD_NAME_LABEL: "web-0", POD_INDEX_LABEL: "0", REVISION_LABEL: NEW}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], "hostname": "web-0", "subdomain": "web-svc"}}
    run(c.sync("ns/web"))
    assert created(api) == ["web-0"]  # the informer has not shown it yet: no second create
    see(c, pod(0, phase="Pending", ready=False))
    run(c.sync("ns/web"))
    assert created(api) == ["web-0"]  # web-0 is not Running and Ready yet
    see(c, pod(0))
    run(c.sync("ns/web"))
    assert created(api) == ["web-0", "web-1"]


def test_min_ready_seconds_holds_the_next_ordinal_until_available():
    c, api = controller(sts(replicas=2, minReadySeconds=30), [pod(0, ready_at=NOW - 10)])
    run(c.sync("ns/web"))
    assert created(api) == []
    assert c.queue.core.next_deadline() is not None  # looks again when web-0 becomes available
    c, api = controller(sts(replicas=2, minReadySeconds=30), [pod(0, ready_at=NOW - 40)])
    run(c.sync("ns/web"))
    assert created(api) == ["web-1"]


@pytest.mark.parametrize("start,existing,expected", [
    (0, [], ["web-0", "web-1", "web-2"]),
    (0, [1], ["web-0", "web-2"]),  # an unready web-1 does not hold anything back
    (5, [], ["web-5", "web-6", "web-7"]),
])
def test_parallel_creates_every_missing_pod_at_once(start, existing, expected):
    extra = {"ordinals": {"start": start}} if start else {}
    c, api = controller(sts(replicas=3, policy="Parallel", **extra), [pod(i, ready=False) for i in existing])
    run(c.sync("ns/web"))
    assert created(api) == expected
    assert [a[3]["metadata"]["labels"][POD_INDEX_LABEL] for a in api.verbs("create")] == \
        [n.split("-")[1] for n in expected]
    assert c.expectations.pending("ns/web") == (len(expected), 0)


# ---------------------------------------------------------------- scale down
@pytest.mark.parametrize("policy,pods,expected", [
    ("OrderedReady", [pod(i) for i in range(4)], ["web-3"]),  # highest first, one at a time
    ("OrderedReady", [pod(0), pod(1), pod(2), pod(3, terminating=True)], []),  # waits for it to go
    ("OrderedReady", [pod(0), pod(1), pod(2), pod(3, ready=False)], ["web-3"]),  # the first unhealthy one goes
    ("OrderedReady", [pod(0), pod(1), pod(2, ready=False), pod(3, ready=False)], []),  # web-2 is unhealthy first
    ("OrderedReady", [pod(0, ready=False), pod(1), pod(2), pod(3)], []),  # a remaining replica is unhealthy
    ("Parallel", [pod(0, ready=False), pod(1), pod(2), pod(3, terminating=True)], ["web-2", "web-1"]),
])
def test_scale_down_removes_the_highest_ordinals(policy, pods, expected):
    c, api = controller(sts(replicas=1, policy=policy), pods)
    run(c.sync("ns/web"))
    assert deleted(api) == expected and created(api) == []
    assert c.expectations.pending("ns/web") == (0, len(expected))


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
def test_a_finished_pod_is_deleted_and_recreated_under_its_name(phase):
    dead = pod(1, phase=phase, ready=False)
    c, api = controller(sts(replicas=3), [pod(0), dead, pod(2)])
    run(c.sync("ns/web"))
    assert deleted(api) == ["web-1"] and created(api) == []
    see(c, pod(1, phase=phase, ready=False, terminating=True))  # deletion observed, pod still there
    assert c.expectations.pending("ns/web") == (0, 0)
    run(c.sync("ns/web"))
    assert deleted(api) == ["web-1"] and created(api) == []
    gone(c, dead)
    run(c.sync("ns/web"))
    assert created(api) == ["web-1"]
    assert api.verbs("create")[0][3]["metadata"]["labels"][REVISION_LABEL] == NEW


# ------------------------------------------------------------------- updates
@pytest.mark.parametrize("policy,replicas,pods,rolling,expected", [
    ("OrderedReady", 3, [pod(i, rev=OLD) for i in range(3)], {}, ["web-2"]),
    ("OrderedReady", 3, [pod(0, rev=OLD), pod(1, rev=OLD), pod(2)], {}, ["web-1"]),
    ("OrderedReady", 3, [pod(0, rev=OLD), pod(1, rev=OLD), pod(2, ready=False)], {}, []),  # wait for health
    ("OrderedReady", 3, [pod(0, rev=OLD), pod(1, rev=OLD), pod(2)], {"partition": 2}, []),
    ("OrderedReady", 3, [pod(i, rev=OLD) for i in range(3)], {"partition": 1, "maxUnavailable": 3},
     ["web-2", "web-1"]),
    ("Parallel", 4, [pod(i, rev=OLD) for i in range(4)], {"maxUnavailable": 2}, ["web-3", "web-2"]),
    ("Parallel", 4, [pod(0, rev=OLD, ready=False)] + [pod(i, rev=OLD) for i in (1, 2, 3)], {"maxUnavailable": "50%"},
     ["web-3"]),  # web-0 already takes one of the two
    ("Parallel", 4, [pod(0, rev=OLD, ready=False), pod(1, rev=OLD), pod(2, rev=OLD), pod(3, terminating=True)],
     {"maxUnavailable": 2}, []),
])
def test_rolling_update_replaces_pods_from_the_highest_ordinal(policy, replicas, pods, rolling, expected):
    owner = sts(replicas=replicas, policy=policy, status={"currentRevision": OLD},
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    c, api = controller(owner, pods)
    run(c.sync("ns/web"))
    assert deleted(api) == expected and created(api) == []
    status = api.verbs("update")[0][3]["status"]
    assert (status["currentRevision"], status["updateRevision"]) == (OLD, NEW)


def test_on_delete_leaves_old_pods_and_recreates_deleted_ones_at_the_update_revision():
    owner = sts(replicas=3, status={"currentRevision": OLD}, updateStrategy={"type": "OnDelete"})
    c, api = controller(owner, [pod(0, rev=OLD), pod(1, rev=OLD), pod(2, rev=OLD)])
    run(c.sync("ns/web"))
    assert deleted(api) == [] and created(api) == []
    gone(c, c.pods.get("ns/web-1"))  # the user deletes web-1
    run(c.sync("ns/web"))
    assert deleted(api) == [] and created(api) == ["web-1"]
    assert api.verbs("create")[0][3]["metadata"]["labels"][REVISION_LABEL] == NEW


# -------------------------------------------------------------------- status
def test_revision_names_come_from_the_template_and_collision_count():
    assert NEW == f"web-{template_hash(TEMPLATE)}"
    assert revision_name(sts(), 1) == f"web-{template_hash(TEMPLATE, 1)}" != NEW
    changed = sts()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert revision_name(changed) != NEW


def test_status_counts_revisions_and_completes_the_rollout():
    owner = sts(replicas=3, status={"currentRevision": OLD, "collisionCount": 0},
                updateStrategy={"type": "OnDelete"})
    c, api = controller(owner, [pod(0), pod(1, rev=OLD), pod(2, rev=OLD, phase="Pending", ready=False),
                                pod(3, rev=OLD, terminating=True)])
    run(c.sync("ns/web"))
    assert api.verbs("update")[0][3]["status"] == {
        "observedGeneration": 2, "replicas": 4, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
        "availableReplicas": 3, "currentRevision": OLD, "updateRevision": NEW, "collisionCount": 0}
    # every replica at the update revision and ready: currentRevision catches up
    c, api = controller(owner, [pod(0), pod(1), pod(2)])
    run(c.sync("ns/web"))
    status = api.verbs("update")[0][3]["status"]
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) == (NEW, 3, 3)
    c, api = controller(sts(replicas=3, status=status), [pod(0), pod(1), pod(2)])
    run(c.sync("ns/web"))
    assert api.verbs("update") == []  # unchanged status: no write


def test_a_statefulset_being_deleted_only_gets_status():
    owner = sts(replicas=3)
    owner["metadata"]["deletionTimestamp"] = format_time(NOW)
    c, api = controller(owner, [pod(0)])
    run(c.sync("ns/web"))
    assert [a[0] for a in api.actions] == ["update"]


# ---------------------------------------------------------------- ownership
def test_adopts_member_orphans_and_restores_their_identity_labels():
    orphan = pod(1, owned=False, labels={"app": "web"})
    stranger = pod(0, owned=False, name="other-0", labels={"app": "web"})  # not named like a member
    foreign = pod(0, owned=False)
    foreign["metadata"]["ownerReferences"] = [dict(OWNER_REF, name="db", uid="db-uid")]
    c, api = controller(sts(replicas=2, policy="Parallel"), [orphan, stranger, foreign])
    run(c.sync("ns/web"))
    patches = [(a[3], a[5]) for a in api.verbs("patch")]
    assert patches == [
        ("web-1", [{"op": "test", "path": "/metadata/uid", "value": "uid-web-1"},
                   {"op": "add", "path": "/metadata/ownerReferences", "value": [OWNER_REF]}]),
        ("web-1", [{"op": "test", "path": "/metadata/uid", "value": "uid-web-1"},
                   {"op": "add", "path": "/metadata/labels/statefulset.kubernetes.io~1pod-name", "value": "web-1"},
                   {"op": "add", "path": "/metadata/labels/apps.kubernetes.io~1pod-index", "value": "1"}])]
    assert created(api) == ["web-0"]  # the foreign web-0 is not ours: the create will meet AlreadyExists


def test_create_already_exists_waits_for_the_informer_unless_the_pod_is_already_known():
    c, api = controller(sts(replicas=1), [])
    api.fail["create"] = [errors.already_exists("pods", "web-0")]
    run(c.sync("ns/web"))  # an earlier create the informer has not shown yet: no error, keep waiting
    assert c.expectations.pending("ns/web") == (1, 0)
    c, api = controller(sts(replicas=1), [pod(0, owned=False, labels={"app": "other"})])
    api.fail["create"] = [errors.already_exists("pods", "web-0")]
    with pytest.raises(errors.ApiError):
        run(c.sync("ns/web"))  # someone else's web-0: retried with back-off, nothing left to wait for
    assert c.expectations.pending("ns/web") == (0, 0)


def test_pod_events_reach_the_owner_or_the_selecting_statefulsets():
    c, _ = controller(sts(), [])
    c.on_pod_add(pod(0))
    assert c.queue.core.get() == "ns/web"
    c.queue.core.done("ns/web")
    c.on_pod_add(pod(0, owned=False, labels={"app": "elsewhere"}))
    assert len(c.queue.core) == 0
    c.on_pod_add(pod(5, owned=False, labels={"app": "web"}))
    assert len(c.queue.core) == 1


# ------------------------------------------------ against an in-process apiserver
def test_reaches_ready_replicas_in_order_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        si, podi = SharedInformer(client, "statefulsets"), SharedInformer(client, "pods")
        c = StatefulSetController(si.indexer, podi.indexer, client)
        si.add_event_handler(c.on_owner, c.on_owner_update, c.on_owner_delete)
        podi.add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        seen: list[str] = []
        kubelet: set[asyncio.Task] = set()

        def play_kubelet(p: dict) -> None:
            """Every pod that appears becomes Running and Ready (in the order they appear)."""
            name = p["metadata"]["name"]
            if name not in seen:
                seen.append(name)
            if not is_ready(p) and not p["metadata"].get("deletionTimestamp"):
                task = asyncio.create_task(mark_ready(client, p))
                kubelet.add(task)
                task.add_done_callback(kubelet.discard)
        podi.add_event_handler(play_kubelet, lambda old, new: play_kubelet(new))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(si.run(stop)), asyncio.create_task(podi.run(stop)),
                 asyncio.create_task(c.run(2, stop))]
        body = sts(replicas=3)
        for k in ("uid", "resourceVersion", "generation"):
            body["metadata"].pop(k)
        made = await client.create(body)

        async def ready_replicas() -> bool:
            got = await client.get("statefulsets", "web", "ns")
            return (got.get("status") or {}).get("readyReplicas") == 3

        await eventually(ready_replicas, "readyReplicas 3")
        pods = {p["metadata"]["name"]: p for p in (await client.list("pods", "ns"))["items"]}
        assert sorted(pods) == ["web-0", "web-1", "web-2"]
        assert seen == ["web-0", "web-1", "web-2"]  # each created only once the previous was ready
        revision = revision_name(made)
        for name, p in pods.items():
            assert p["metadata"]["labels"][POD_NAME_LABEL] == name
            assert p["metadata"]["labels"][REVISION_LABEL] == revision
            assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == (name, "web-svc")
            assert p["metadata"]["ownerReferences"][0]["uid"] == made["metadata"]["uid"]
        status = (await client.get("statefulsets", "web", "ns"))["status"]
        assert (status["replicas"], status["currentRevision"], status["updateRevision"]) == (3, revision, revision)
        stop.set()
        await asyncio.gather(*tasks, *kubelet, return_exceptions=True)
        await server.close()
    run(go())
