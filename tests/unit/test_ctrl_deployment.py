"""The Deployment controller: its arithmetic and decisions from listers'
state, then whole rollouts against an in-process apiserver with the
ReplicaSet controller, a test playing kubelet (marking pods Ready)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.deployment import (DESIRED_REPLICAS, HASH_LABEL, REVISION, REVISION_HISTORY,
                                           DeploymentController, equal_ignore_hash, surge_and_unavailable,
                                           template_hash)
from actors.controllers.replicaset import ReplicaSetController
from kubeapi.aio import cancel_and_wait
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformerFactory
from kubeapi.models.base import format_time
from tests.fakes import eventually, is_ready, mark_ready, track_live

from .ctrl_fakes import Recorder, run
from .test_ctrl_replicaset import NOW


def deployment(replicas: int = 4, image: str = "app:v1", *, strategy: dict | None = None, uid: str = "d-uid",
               **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": uid, "generation": 1, "resourceVersion": "3"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def replicaset(d: dict, image: str, replicas: int, available: int | None = None, revision: int = 1,
               created: float = NOW - 100) -> dict:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}
    h = template_hash(template)
    template["metadata"]["labels"][HASH_LABEL] = h
    available = replicas if available is None else available
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"web-{h}", "namespace": "ns", "uid": f"rs-{h}", "resourceVersion": "7",
                         "labels": dict(template["metadata"]["labels"]),
                         "creationTimestamp": format_time(created),
                         "annotations": {REVISION: str(revision), DESIRED_REPLICAS: str(d["spec"]["replicas"])},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": d["metadata"]["uid"], "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", HASH_LABEL: h}},
                     "template": template},
            "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}}


def controller(d: dict, rss: list[dict]):
    di, rsi, podi = Indexer(), Indexer(), Indexer()
    di.add(d)
    for rs in rss:
        rsi.add(rs)
    api = Recorder(d, *rss)
    return DeploymentController(di, rsi, podi, api, clock=lambda: 0.0, wall=lambda: NOW), api


def scaled(api: Recorder) -> dict[str, int]:
    return {a[3]: a[5]["spec"]["replicas"] for a in api.verbs("patch") if a[1] == "replicasets"
            and "spec" in a[5]}


# ------------------------------------------------------------------ arithmetic
@pytest.mark.parametrize("replicas,surge,unavailable,want", [
    (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable down
    (4, 1, 0, (1, 0)),
    (4, 0, 0, (0, 1)),  # validation forbids it; never deadlock anyway
    (3, "0%", "0%", (0, 1)),
    (1, "100%", "50%", (1, 0)),
])
def test_surge_and_unavailable(replicas, surge, unavailable, want):
    d = deployment(replicas, strategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    assert surge_and_unavailable(d) == want


def test_template_hash_is_stable_and_ignores_only_the_hash_label():
    t = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    h = template_hash(t)
    assert h == template_hash({"spec": t["spec"], "metadata": t["metadata"]}) and h != template_hash(t, 1)
    assert all(ch in "bcdfghjklmnpqrstvwxz2456789" for ch in h)
    labelled = {"metadata": {"labels": {"app": "web", HASH_LABEL: h}}, "spec": t["spec"]}
    assert equal_ignore_hash(t, labelled)
    assert not equal_ignore_hash(t, {"metadata": {"labels": {"app": "x"}}, "spec": t["spec"]})


# -------------------------------------------------------------------- decisions
def test_first_sync_creates_revision_1_and_scales_it_up():
    d = deployment(4)
    c, api = controller(d, [])
    run(c.sync("ns/web"))
    created = api.verbs("create")[0][3]
    h = created["metadata"]["labels"][HASH_LABEL]
    assert created["metadata"]["name"] == f"web-{h}"
    assert created["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    assert created["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: h}
    assert created["metadata"]["annotations"][REVISION] == "1" and created["spec"]["replicas"] == 0
    assert created["metadata"]["ownerReferences"][0]["uid"] == "d-uid"


def test_rolling_update_respects_max_surge_then_max_unavailable():
    d = deployment(4, "app:v2")
    old = replicaset(d, "app:v1", 4)
    new = replicaset(d, "app:v2", 0, revision=2, created=NOW)
    c, api = controller(d, [old, new])
    run(c.sync("ns/web"))
    assert scaled(api) == {new["metadata"]["name"]: 1}  # 4 + surge 1
    # once the new pod exists (not yet available): old may lose one (4+1 - 3 min - 1 unavailable new = 1)
    new2 = replicaset(d, "app:v2", 1, available=0, revision=2, created=NOW)
    c, api = controller(d, [old, new2])
    run(c.sync("ns/web"))
    assert scaled(api) == {old["metadata"]["name"]: 3}
    # an old ReplicaSet's unavailable pods go first: 5 pods - 3 min available = 2 may go, both
    # unavailable ones, though only 2 + 1 = 3 pods are available (no available one could go)
    sick = replicaset(d, "app:v1", 4, available=2)
    new3 = replicaset(d, "app:v2", 1, available=1, revision=2, created=NOW)
    c, api = controller(d, [sick, new3])
    run(c.sync("ns/web"))
    assert scaled(api) == {sick["metadata"]["name"]: 2}
    c, api = controller(d, [sick, new2])  # the new pod unavailable too: only 1 may go
    run(c.sync("ns/web"))
    assert scaled(api) == {sick["metadata"]["name"]: 3}
    # an old ReplicaSet told to shrink to 3 still has 4 pods: no room to surge yet
    shrinking = replicaset(d, "app:v1", 3)
    shrinking["status"]["replicas"] = 4
    ready_new = replicaset(d, "app:v2", 1, revision=2, created=NOW)
    c, api = controller(d, [shrinking, ready_new])
    run(c.sync("ns/web"))
    assert new["metadata"]["name"] not in scaled(api)


def test_a_rollback_makes_the_old_replicaset_the_newest_revision():
    d = deployment(2, "app:v1")  # the template was set back to v1
    v1 = replicaset(d, "app:v1", 0, revision=1)
    v2 = replicaset(d, "app:v2", 2, revision=2, created=NOW)
    c, api = controller(d, [v1, v2])
    run(c.sync("ns/web"))
    ann = next(a[5] for a in api.verbs("patch") if a[3] == v1["metadata"]["name"] and "spec" not in a[5])
    assert ann == {"metadata": {"annotations": {REVISION: "3", REVISION_HISTORY: "1"}}}
    assert api.verbs("create") == []


def test_recreate_scales_old_to_zero_and_waits_for_its_pods():
    d = deployment(3, "app:v2", strategy={"type": "Recreate"})
    old = replicaset(d, "app:v1", 3)
    c, api = controller(d, [old])
    run(c.sync("ns/web"))
    assert scaled(api) == {old["metadata"]["name"]: 0} and api.verbs("create") == []
    gone = replicaset(d, "app:v1", 0)
    c, api = controller(d, [gone])
    c.pods.add({"metadata": {"name": "p", "namespace": "ns", "uid": "p1", "ownerReferences": [
        {"kind": "ReplicaSet", "name": gone["metadata"]["name"], "uid": gone["metadata"]["uid"], "controller": True}]},
        "status": {"phase": "Running"}})
    run(c.sync("ns/web"))
    assert api.verbs("create") == []  # an old pod still runs
    c.pods.delete_key("ns/p")
    run(c.sync("ns/web"))
    assert len(api.verbs("create")) == 1


def test_scaling_a_paused_deployment_resizes_without_rolling():
    d = deployment(6, "app:v2", paused=True)
    old = replicaset(d, "app:v1", 4)
    c, api = controller(d, [old])
    run(c.sync("ns/web"))
    assert api.verbs("create") == [] and scaled(api) == {old["metadata"]["name"]: 6}
    status = api.verbs("update")[-1][3]["status"]
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Progressing"] == "DeploymentPaused"


def test_proportional_scaling_mid_rollout():
    d = deployment(20, "app:v2", strategy={"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    old = replicaset(d, "app:v1", 6)
    new = replicaset(d, "app:v2", 4, revision=2, created=NOW)
    for rs in (old, new):
        rs["metadata"]["annotations"][DESIRED_REPLICAS] = "10"
    c, api = controller(d, [old, new])
    run(c.sync("ns/web"))
    sizes = scaled(api)
    assert sizes == {old["metadata"]["name"]: 12, new["metadata"]["name"]: 8}


def test_old_empty_replicasets_beyond_the_history_limit_are_deleted():
    d = deployment(2, "app:v5", revisionHistoryLimit=2)
    olds = [replicaset(d, f"app:v{i}", 0, revision=i, created=NOW - 100 + i) for i in range(1, 5)]
    for rs in olds:
        rs["status"] = {"replicas": 0}
    new = replicaset(d, "app:v5", 2, revision=5, created=NOW)
    c, api = controller(d, [*olds, new])
    run(c.sync("ns/web"))
    assert sorted(a[3] for a in api.verbs("delete")) == sorted(rs["metadata"]["name"] for rs in olds[:2])


def test_status_and_progress_deadline():
    d = deployment(2, "app:v2")
    new = replicaset(d, "app:v2", 2, available=1, revision=2)
    c, api = controller(d, [new])
    run(c.sync("ns/web"))
    st = api.verbs("update")[-1][3]["status"]
    assert {k: st[k] for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                               "unavailableReplicas", "observedGeneration")} == {
        "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1,
        "unavailableReplicas": 1, "observedGeneration": 1}
    conds = {x["type"]: x for x in st["conditions"]}
    assert conds["Available"]["status"] == "True"  # 1 >= 2 - maxUnavailable 1
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "NewReplicaSetCreated")
    # no progress for longer than the deadline: ProgressDeadlineExceeded
    stale = dict(d, status=dict(st, conditions=[dict(conds["Progressing"], reason="ReplicaSetUpdated",
                                                     lastUpdateTime=format_time(NOW - 700))]))
    c, api = controller(stale, [new])
    run(c.sync("ns/web"))
    prog = {x["type"]: x for x in api.verbs("update")[-1][3]["status"]["conditions"]}["Progressing"]
    assert (prog["status"], prog["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert prog["message"] == f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'


# ------------------------------------------------ against an in-process apiserver
async def _plane():
    server = APIServer(LocalKV())
    client = Client(LocalTransport(server), poll_seconds=0.02)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    f = SharedInformerFactory(client)
    di, rsi, podi = f.informer("deployments"), f.informer("replicasets"), f.informer("pods")
    dc = DeploymentController(di.indexer, rsi.indexer, podi.indexer, client)
    rc = ReplicaSetController(rsi.indexer, podi.indexer, client)
    di.add_event_handler(dc.on_deployment, dc.on_deployment_update, dc.on_deployment_delete)
    rsi.add_event_handler(dc.on_rs, dc.on_rs_update, dc.on_rs_delete)
    rsi.add_event_handler(rc.on_owner, rc.on_owner_update, rc.on_owner_delete)
    podi.add_event_handler(rc.on_pod_add, rc.on_pod_update, rc.on_pod_delete)
    podi.add_event_handler(on_delete=dc.on_pod_delete)
    stop = asyncio.Event()
    f.start(stop)
    tasks = [asyncio.create_task(dc.run(2, stop)), asyncio.create_task(rc.run(2, stop))]
    return server, client, stop, tasks, f


async def _kubelet(client: Client, stop: asyncio.Event, seen: list[dict]) -> None:
    """Marks every new pod Running and Ready, and records each pod event."""
    async for ev in client.watch("pods", "ns", resource_version="0", timeout_seconds=60):
        if stop.is_set():
            return
        seen.append(ev)
        if ev["type"] == "ADDED" and not ev["object"]["metadata"].get("deletionTimestamp"):
            await mark_ready(client, ev["object"])


def test_rollout_rollback_and_scale_through_the_api():
    async def go() -> None:
        server, client, stop, tasks, factory = await _plane()
        events: list[dict] = []
        tasks.append(asyncio.create_task(_kubelet(client, stop, events)))
        body = deployment(4)
        for k in ("uid", "resourceVersion", "generation"):
            body["metadata"].pop(k)
        await client.create(body)

        async def done(image: str, n: int) -> bool:
            d = await client.get("deployments", "web", "ns")
            st = d.get("status") or {}
            pods = [p for p in (await client.list("pods", "ns"))["items"]
                    if not p["metadata"].get("deletionTimestamp")]
            return (st.get("observedGeneration") == d["metadata"]["generation"] and st.get("updatedReplicas") == n
                    and st.get("availableReplicas") == n and st.get("replicas") == n and len(pods) == n
                    and all(p["spec"]["containers"][0]["image"] == image for p in pods))
        await eventually(lambda: done("app:v1", 4), "4 available v1 pods")
        prog = {c["type"]: c for c in (await client.get("deployments", "web", "ns"))["status"]["conditions"]}
        assert prog["Progressing"]["reason"] == "NewReplicaSetAvailable"

        # roll to v2: never more than 4 + 1 pods, never fewer than 4 - 1 ready
        start = len(events)
        await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "app:v2"}]}}}}, "ns", patch_type="strategic")
        await eventually(lambda: done("app:v2", 4), "the v2 rollout")
        live: dict[str, dict] = {}
        worst_total, worst_ready = 0, 4
        for i, ev in enumerate(list(events)):
            track_live(live, ev)
            ready = sum(1 for q in live.values() if is_ready(q))
            if i >= start:  # every state the rollout went through
                worst_total, worst_ready = max(worst_total, len(live)), min(worst_ready, ready)
        assert worst_total <= 5, worst_total
        assert worst_ready >= 3, worst_ready
        rss = (await client.list("replicasets", "ns"))["items"]
        revs = {rs["spec"]["template"]["spec"]["containers"][0]["image"]:
                (rs["metadata"]["annotations"][REVISION], rs["spec"]["replicas"]) for rs in rss}
        assert revs == {"app:v1": ("1", 0), "app:v2": ("2", 4)}

        # roll back to v1 (what kubectl rollout undo writes): its ReplicaSet becomes revision 3
        await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "app:v1"}]}}}}, "ns", patch_type="strategic")
        await eventually(lambda: done("app:v1", 4), "the rollback")
        rss = (await client.list("replicasets", "ns"))["items"]
        v1 = next(rs for rs in rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v1")
        assert v1["metadata"]["annotations"][REVISION] == "3"
        assert v1["metadata"]["annotations"][REVISION_HISTORY] == "1"
        d = await client.get("deployments", "web", "ns")
        assert d["metadata"]["annotations"][REVISION] == "3"

        # scale
        await client.patch("deployments", "web", {"spec": {"replicas": 2}}, "ns")
        await eventually(lambda: done("app:v1", 2), "scale down to 2")
        # settled: the controllers write nothing more (their status matches what is stored)
        await asyncio.sleep(0.3)
        rvs = [o["metadata"]["resourceVersion"] for r in ("deployments", "replicasets", "pods")
               for o in (await client.list(r, "ns"))["items"]]
        await asyncio.sleep(0.5)
        assert rvs == [o["metadata"]["resourceVersion"] for r in ("deployments", "replicasets", "pods")
                       for o in (await client.list(r, "ns"))["items"]]
        stop.set()
        await cancel_and_wait(tasks)
        await factory.shutdown()
        await server.close()
    run(go())
