"""The DaemonSet controller: given the listers' state (nodes, pods, the
DaemonSet), the API calls it makes; then the controller against an
in-process apiserver with real informers."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.base import template_hash
from actors.controllers.daemonset import (DaemonSetController, add_daemon_tolerations, pin_to_node, should_run,
                                          target_node)
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0
AUTO_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
NET_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


def ds(name: str = "agent", uid: str = "ds-uid", *, pod_spec: dict | None = None, **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "ns", "uid": uid, "generation": 2, "resourceVersion": "10"},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": pod_spec or {"containers": [{"name": "c", "image": "agent:1"}]}},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}, **spec}}


def node(name: str, labels: dict | None = None, taints: list | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "3", "labels": labels or {}},
            "spec": {"taints": taints} if taints else {}}


def taint(effect: str, key: str = "dedicated", value: str = "gpu") -> dict:
    return {"key": key, "value": value, "effect": effect}


def current_hash(owner: dict) -> str:
    return template_hash(owner["spec"]["template"])


def pod(name: str, owner: dict | None, on: str, *, hash_: str | None = None, phase: str = "Running",
        ready: bool = True, created: float = NOW - 100, ready_at: float = NOW - 50, bound: bool = True,
        **meta: Any) -> dict:
    """A daemon pod on node ``on`` (bound via nodeName, or only pinned by affinity);
    of the current revision unless ``hash_`` says otherwise."""
    labels = {"app": "agent", "controller-revision-hash": hash_ or (current_hash(owner) if owner else "x")}
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5",
                      "labels": labels, "creationTimestamp": format_time(created), **meta},
         "spec": {"nodeName": on} if bound else {"affinity": pin_to_node(None, on)},
         "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                    "lastTransitionTime": format_time(ready_at)}]}}
    if owner is not None:
        p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                             "name": owner["metadata"]["name"],
                                             "uid": owner["metadata"]["uid"], "controller": True}]
    return p


def controller(dss: list[dict], pods: list[dict], nodes: list[dict]):
    dsi, podi, nodei = Indexer(), Indexer(), Indexer()
    for o in dss:
        dsi.add(o)
    for p in pods:
        podi.add(p)
    for n in nodes:
        nodei.add(n)
    api = Recorder(*dss, *pods)
    clock = [0.0]
    c = DaemonSetController(dsi, podi, nodei, api, clock=lambda: clock[0], wall=lambda: NOW)
    return c, api, clock


def created_on(api: Recorder) -> list[str]:
    return [target_node(a[3]) for a in api.verbs("create")]


def deleted(api: Recorder) -> list[str]:
    return [a[3] for a in api.verbs("delete")]


def last_status(api: Recorder) -> dict:
    return api.verbs("update")[-1][3]["status"]


# --------------------------------------------------------------- placement
def test_creates_one_pinned_pod_per_eligible_node_and_waits_for_them_to_be_seen():
    owner = ds()
    c, api, _ = controller([owner], [pod("have", owner, "n2")], [node("n1"), node("n2"), node("n3")])
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n1", "n3"]
    made = api.verbs("create")[0][3]
    assert made["metadata"]["generateName"] == "agent-"
    assert made["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": current_hash(owner),
                                          "pod-template-generation": "2"}
    assert made["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                                     "uid": "ds-uid", "controller": True,
                                                     "blockOwnerDeletion": True}]
    assert "nodeName" not in made["spec"]  # the scheduler binds it
    assert made["spec"]["affinity"] == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}
    assert made["spec"]["tolerations"] == AUTO_TOLERATIONS
    assert made["spec"]["containers"] == [{"name": "c", "image": "agent:1"}]
    assert c.expectations.pending("ns/agent") == (2, 0)
    run(c.sync("ns/agent"))  # the informer has not seen them yet: no second round of creates
    assert len(api.verbs("create")) == 2
    seen = pod("agent-1", owner, "n1", bound=False)
    c.pods.add(seen)
    c.on_pod_add(seen)
    assert c.expectations.pending("ns/agent") == (1, 0)


def test_node_selector_and_affinity_exclude_nodes_and_evict_from_them():
    owner = ds(pod_spec={"containers": [{"name": "c", "image": "a"}], "nodeSelector": {"disk": "ssd"},
                         "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                             "nodeSelectorTerms": [{"matchExpressions": [
                                 {"key": "zone", "operator": "NotIn", "values": ["z9"]}]}]},
                             "preferredDuringSchedulingIgnoredDuringExecution": [
                                 {"weight": 1, "preference": {"matchExpressions": [
                                     {"key": "fast", "operator": "Exists"}]}}]}}})
    nodes = [node("ssd", {"disk": "ssd", "zone": "z1"}), node("hdd", {"disk": "hdd", "zone": "z1"}),
             node("ssd-z9", {"disk": "ssd", "zone": "z9"})]
    c, api, _ = controller([owner], [pod("on-hdd", owner, "hdd")], nodes)
    run(c.sync("ns/agent"))
    assert created_on(api) == ["ssd"]
    assert deleted(api) == ["on-hdd"]
    affinity = api.verbs("create")[0][3]["spec"]["affinity"]["nodeAffinity"]
    # the label terms are replaced by the node's name; preferences are kept
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["ssd"]}]}]}
    assert affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 1


@pytest.mark.parametrize("the_node,pod_spec,expected", [
    (node("n"), {}, (True, True)),
    (node("n", {"a": "b"}), {"nodeSelector": {"a": "b"}}, (True, True)),
    (node("n", {"a": "c"}), {"nodeSelector": {"a": "b"}}, (False, False)),
    (node("n"), {"nodeName": "other"}, (False, False)),
    (node("n"), {"nodeName": "n"}, (True, True)),
    # an untolerated NoSchedule taint: no new pod, an existing one stays
    (node("n", taints=[taint("NoSchedule")]), {}, (False, True)),
    # an untolerated NoExecute taint: not even an existing pod stays
    (node("n", taints=[taint("NoExecute")]), {}, (False, False)),
    (node("n", taints=[taint("PreferNoSchedule")]), {}, (True, True)),
    (node("n", taints=[taint("NoExecute")]),
     {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]}, (True, True)),
    (node("n", taints=[taint("NoSchedule")]), {"tolerations": [{"operator": "Exists"}]}, (True, True)),
    # cordoned, not ready, under pressure: daemons tolerate these
    (node("n", taints=[taint("NoSchedule", "node.kubernetes.io/unschedulable", "")]), {}, (True, True)),
    (node("n", taints=[taint("NoExecute", "node.kubernetes.io/not-ready", "")]), {}, (True, True)),
    (node("n", taints=[taint("NoSchedule", "node.kubernetes.io/memory-pressure", "")]), {}, (True, True)),
    # the network is down: only host-network daemons (the ones bringing it up) run
    (node("n", taints=[taint("NoSchedule", "node.kubernetes.io/network-unavailable", "")]), {}, (False, True)),
    (node("n", taints=[taint("NoSchedule", "node.kubernetes.io/network-unavailable", "")]),
     {"hostNetwork": True}, (True, True)),
])
def test_eligibility(the_node, pod_spec, expected):
    spec = copy.deepcopy(pod_spec)
    add_daemon_tolerations(spec)
    assert should_run(the_node, spec) == expected


def test_automatic_tolerations_replace_equal_ones_and_keep_the_rest():
    spec = {"hostNetwork": True, "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "mine", "operator": "Exists"}]}
    add_daemon_tolerations(spec)
    assert spec["tolerations"] == [AUTO_TOLERATIONS[0], {"key": "mine", "operator": "Exists"},
                                   *AUTO_TOLERATIONS[1:], NET_UNAVAILABLE]


def test_taints_no_execute_evicts_no_schedule_keeps_and_blocks_new_pods():
    owner = ds()
    nodes = [node("exec", taints=[taint("NoExecute")]), node("sched", taints=[taint("NoSchedule")]),
             node("sched-empty", taints=[taint("NoSchedule")]), node("plain")]
    pods = [pod("on-exec", owner, "exec"), pod("on-sched", owner, "sched"), pod("on-plain", owner, "plain")]
    c, api, _ = controller([owner], pods, nodes)
    run(c.sync("ns/agent"))
    assert deleted(api) == ["on-exec"] and api.verbs("create") == []
    st = last_status(api)
    assert (st["desiredNumberScheduled"], st["currentNumberScheduled"], st["numberMisscheduled"]) == (1, 1, 2)


# ------------------------------------------------------------- cleaning up
def test_surplus_pods_on_a_node_keep_the_oldest():
    owner = ds()
    pods = [pod("newer", owner, "n1", created=NOW - 10), pod("oldest", owner, "n1", created=NOW - 300),
            pod("middle", owner, "n1", created=NOW - 200),
            pod("unbound-old", owner, "n1", created=NOW - 900, bound=False),  # bound pods rank first
            pod("going", owner, "n1", created=NOW - 5, deletionTimestamp=format_time(NOW))]
    c, api, _ = controller([owner], pods, [node("n1")])
    run(c.sync("ns/agent"))
    assert deleted(api) == ["middle", "newer", "unbound-old"]
    assert c.expectations.pending("ns/agent") == (0, 3)
    c.on_pod_delete(pods[0])
    assert c.expectations.pending("ns/agent") == (0, 2)


def test_pods_of_deleted_nodes_are_deleted():
    owner = ds()
    pods = [pod("bound-gone", owner, "gone"), pod("pinned-gone", owner, "gone2", bound=False),
            pod("already-going", owner, "gone", deletionTimestamp=format_time(NOW)),
            pod("stays", owner, "n1")]
    c, api, _ = controller([owner], pods, [node("n1")])
    run(c.sync("ns/agent"))
    assert sorted(deleted(api)) == ["bound-gone", "pinned-gone"] and api.verbs("create") == []


def test_failed_pods_are_deleted_with_per_node_back_off():
    owner = ds()
    c, api, clock = controller([owner], [pod("f1", owner, "n1", phase="Failed", ready=False)], [node("n1")])

    def fail_again(name: str) -> None:
        c.pods.delete_key("ns/" + api.verbs("delete")[-1][3])
        c.expectations.delete("ns/agent")
        c.pods.add(pod(name, owner, "n1", phase="Failed", ready=False))
    run(c.sync("ns/agent"))
    assert deleted(api) == ["f1"]  # the first failure goes at once
    fail_again("f2")
    clock[0] = 0.5
    run(c.sync("ns/agent"))
    assert deleted(api) == ["f1"]  # within the 1 s back-off: kept, and looked at again later
    assert c.queue.core.next_deadline() == 1.5
    clock[0] = 1.2
    run(c.sync("ns/agent"))
    assert deleted(api) == ["f1", "f2"]
    fail_again("f3")
    clock[0] = 3.0
    run(c.sync("ns/agent"))
    assert deleted(api) == ["f1", "f2"]  # the back-off doubled to 2 s
    clock[0] = 3.3
    run(c.sync("ns/agent"))
    assert deleted(api) == ["f1", "f2", "f3"]
    c.pods.delete_key("ns/f3")
    c.expectations.delete("ns/agent")
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n1"]  # the pod gone, a new one is made on the next sync


def test_adopts_matching_orphans_instead_of_creating():
    owner = ds()
    orphan = pod("orphan", None, "n1", hash_=current_hash(owner))
    c, api, _ = controller([owner], [orphan], [node("n1"), node("n2")])
    run(c.sync("ns/agent"))
    assert [a[3] for a in api.verbs("patch")] == ["orphan"]
    assert api.verbs("patch")[0][5][-1]["value"][0]["uid"] == "ds-uid"
    assert created_on(api) == ["n2"]


# ---------------------------------------------------------------- updating
@pytest.mark.parametrize("max_unavailable,states,expected", [
    # all old and available: one at a time
    (1, {"n1": "old", "n2": "old", "n3": "old"}, ["old-n1"]),
    # a new pod not yet available uses up the budget
    (1, {"n1": "new-unready", "n2": "old", "n3": "old"}, []),
    # an unavailable old pod is replaced regardless, and counts against the budget
    (2, {"n1": "old", "n2": "old", "n3": "old-unready"}, ["old-n3", "old-n1"]),
    # a percent of the desired number, rounded up (50% of 3 -> 2)
    ("50%", {"n1": "old", "n2": "old", "n3": "old"}, ["old-n1", "old-n2"]),
    # an eligible node still without a pod counts as unavailable
    (2, {"n1": "old", "n2": "old", "n3": None}, None),
])
def test_rolling_update_without_surge_deletes_within_max_unavailable(max_unavailable, states, expected):
    owner = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable,
                                                                          "maxSurge": 0}})
    pods = []
    for n, state in states.items():
        if state is not None:
            pods.append(pod(f"{state.split('-')[0]}-{n}", owner, n, hash_=None if state.startswith("new") else "old",
                             ready=not state.endswith("unready")))
    c, api, _ = controller([owner], pods, [node(n) for n in states])
    run(c.sync("ns/agent"))
    if expected is None:  # the missing pod is made first; updating waits for it to be seen
        assert created_on(api) == ["n3"] and deleted(api) == []
        c.pods.add(pod("new-n3", owner, "n3", ready=False))
        c.expectations.delete("ns/agent")
        api.actions.clear()
        run(c.sync("ns/agent"))
        expected = ["old-n1"]  # 2 allowed, the unready new pod takes one
    assert deleted(api) == expected and api.verbs("create") == []


def test_rolling_update_with_surge_starts_new_pods_first():
    owner = ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    old = [pod(f"old-{n}", owner, n, hash_="old", created=NOW - 500) for n in ("n1", "n2", "n3")]
    c, api, _ = controller([owner], old, [node("n1"), node("n2"), node("n3")])
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n1"] and deleted(api) == []  # one extra pod; nothing deleted yet
    made = api.verbs("create")[0][3]
    assert made["metadata"]["labels"]["controller-revision-hash"] == current_hash(owner)

    def step(new_ready: bool) -> None:
        c.pods.add(pod("new-n1", owner, "n1", ready=new_ready, created=NOW - 20))
        c.expectations.delete("ns/agent")
        api.actions.clear()
        run(c.sync("ns/agent"))
    step(new_ready=False)  # surging onto n1: no more surge allowed, the old pod stays
    assert api.verbs("create") == [] and deleted(api) == []
    step(new_ready=True)  # the new pod is available: its old pod goes
    assert deleted(api) == ["old-n1"] and api.verbs("create") == []
    c.pods.delete_key("ns/old-n1")
    c.expectations.delete("ns/agent")
    api.actions.clear()
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n2"] and deleted(api) == []  # and the next node surges


def test_on_delete_replaces_only_deleted_pods():
    owner = ds(updateStrategy={"type": "OnDelete"})
    c, api, _ = controller([owner], [pod("old-n1", owner, "n1", hash_="old")], [node("n1"), node("n2")])
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n2"] and deleted(api) == []
    assert last_status(api)["updatedNumberScheduled"] == 0


# ------------------------------------------------------------------ status
def test_status_numbers_and_no_write_when_unchanged():
    owner = ds(minReadySeconds=30, updateStrategy={"type": "OnDelete"})
    owner["status"] = {"collisionCount": 1, "observedGeneration": 1}
    h = template_hash(owner["spec"]["template"], 1)
    pods = [pod("fresh", owner, "n1", hash_=h, ready_at=NOW - 100),                 # updated, available
            pod("old", owner, "n2", hash_="old", ready_at=NOW - 10),               # ready, not yet available
            pod("unready", owner, "n3", hash_=h, ready=False),
            pod("misplaced", owner, "tainted")]
    nodes = [node("n1"), node("n2"), node("n3"), node("n4"), node("tainted", taints=[taint("NoSchedule")])]
    c, api, _ = controller([owner], pods, nodes)
    run(c.sync("ns/agent"))
    assert created_on(api) == ["n4"]
    assert api.verbs("create")[0][3]["metadata"]["labels"]["controller-revision-hash"] == h  # collisionCount counts
    st = last_status(api)
    assert st == {"currentNumberScheduled": 3, "numberMisscheduled": 1, "desiredNumberScheduled": 4,
                  "numberReady": 2, "observedGeneration": 2, "updatedNumberScheduled": 2, "numberAvailable": 1,
                  "numberUnavailable": 3, "collisionCount": 1}
    assert c.queue.core.next_deadline() == 30  # looks again when "old" turns available
    c.daemonsets.add(dict(owner, status=st))
    api.actions.clear()
    run(c.sync("ns/agent"))
    assert api.verbs("update") == []


# ---------------------------------------------------------------- handlers
def test_node_changes_enqueue_only_daemonsets_whose_eligibility_changed():
    ssd = ds("ssd", "uid-ssd", pod_spec={"containers": [{"name": "c", "image": "a"}],
                                         "nodeSelector": {"disk": "ssd"}})
    anywhere = ds("any", "uid-any")
    c, _, _ = controller([ssd, anywhere], [], [])
    before = node("n1", {"disk": "hdd"})
    heartbeat = dict(before, status={"conditions": [{"type": "Ready", "status": "True"}]})
    c.on_node_update(before, heartbeat)
    assert len(c.queue.core) == 0
    c.on_node_update(before, node("n1", {"disk": "ssd"}))
    assert c.queue.core.get() == "ns/ssd" and len(c.queue.core) == 0
    c.on_node_add(node("n2", {"disk": "hdd"}))
    assert c.queue.core.get() == "ns/any" and len(c.queue.core) == 0


def test_pod_events_lower_expectations_and_find_the_owner():
    owner = ds()
    c, _, _ = controller([owner], [], [])
    c.expectations.expect("ns/agent", 1, ["ns/gone"])
    c.on_pod_add(pod("made", owner, "n1"))
    c.on_pod_delete(pod("gone", owner, "n1"))
    assert c.expectations.satisfied("ns/agent")
    c.on_pod_add(pod("foreign", ds("other", "uid-other"), "n1"))  # an unknown owner: nothing
    assert c.queue.core.get() == "ns/agent" and len(c.queue.core) == 0


# ------------------------------------------------ against an in-process apiserver
def test_runs_on_each_untainted_node_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        for n in (node("n1"), node("n2"), node("gpu", taints=[taint("NoSchedule")])):
            await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n["metadata"]["name"]},
                                 "spec": n["spec"]})
        informers = {r: SharedInformer(client, r) for r in ("daemonsets", "pods", "nodes")}
        c = DaemonSetController(informers["daemonsets"].indexer, informers["pods"].indexer,
                                informers["nodes"].indexer, client)
        informers["daemonsets"].add_event_handler(c.on_owner, c.on_owner_update, c.on_owner_delete)
        informers["pods"].add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        informers["nodes"].add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(i.run(stop)) for i in informers.values()]
        tasks.append(asyncio.create_task(c.run(2, stop)))
        body = ds()
        for k in ("uid", "resourceVersion", "generation"):
            body["metadata"].pop(k)
        made = await client.create(body)

        async def owned() -> list[dict]:
            items = (await client.list("pods", "ns"))["items"]
            return [p for p in items if any(r.get("uid") == made["metadata"]["uid"]
                                            for r in p["metadata"].get("ownerReferences") or ())]

        async def settled() -> bool:
            got = await client.get("daemonsets", "agent", "ns")
            st = got.get("status") or {}
            return len(await owned()) == 2 and st.get("desiredNumberScheduled") == 2 \
                and st.get("currentNumberScheduled") == 2 and st.get("observedGeneration") == 1

        await eventually(settled, "2 daemon pods and their status")
        pods = await owned()
        assert sorted(target_node(p) for p in pods) == ["n1", "n2"]
        assert all(not p["spec"].get("nodeName") for p in pods)
        assert len(await owned()) == 2  # and no more after the informers caught up
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())
