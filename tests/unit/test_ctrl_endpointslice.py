"""The EndpointSlice controller: given Services, pods and slices in the
listers, the slices it writes (and how little it rewrites); then both
endpoints controllers against an in-process apiserver with real informers."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.endpoints import EndpointsController
from actors.controllers.endpointslice import EndpointSliceController, StaleInformerCache
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run
from .test_ctrl_endpoints import NOW, pod, queued, svc

MANAGED = {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by":
           "endpointslice-controller.k8s.io"}
OWNER = {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": True,
         "blockOwnerDeletion": True}
HTTP_8080 = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def ep(p: dict, *, ready: bool = True, serving: bool | None = None, terminating: bool = False, **extra: Any) -> dict:
    return {"addresses": [p["status"]["podIP"]],
            "conditions": {"ready": ready, "serving": ready if serving is None else serving,
                           "terminating": terminating},
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": p["metadata"]["name"],
                          "uid": p["metadata"]["uid"]},
            "nodeName": p["spec"]["nodeName"], **extra}


def node(name: str, zone: str | None = None) -> dict:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def a_slice(name: str, endpoints: list[dict], ports: list[dict] | None = None, *, uid: str | None = None,
            owner: dict = OWNER, address_type: str = "IPv4", labels: dict | None = None) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}", "resourceVersion": "20",
                         "labels": dict(MANAGED) if labels is None else labels, "ownerReferences": [owner]},
            "addressType": address_type, "endpoints": endpoints, "ports": HTTP_8080 if ports is None else ports}


def controller(services: list[dict], pods: list[dict], slices: list[dict] = (), *, nodes: list[dict] | None = None,
               max_per_slice: int = 100):
    si, pi, esi = Indexer(), Indexer(), Indexer()
    for o in services:
        si.add(o)
    for p in pods:
        pi.add(p)
    for s in slices:
        esi.add(s)
    ni = None
    if nodes is not None:
        ni = Indexer()
        for n in nodes:
            ni.add(n)
    api = Api(*services, *pods, *slices)
    c = EndpointSliceController(si, pi, esi, api, nodes=ni, max_endpoints_per_slice=max_per_slice,
                                clock=lambda: 0.0)
    return c, api


class Api(Recorder):
    """A Recorder whose writes come back with a new resourceVersion, as the apiserver's do."""

    rv = 100

    def _bump(self, obj: dict) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
        return obj

    async def create(self, obj, namespace=None):
        return self._bump(await super().create(obj, namespace))

    async def update(self, obj, *, subresource=None):
        return self._bump(copy.deepcopy(await super().update(obj, subresource=subresource)))


def observe(c: EndpointSliceController, api: Recorder) -> None:
    """What the slice informer would show after the writes so far."""
    for a in api.actions:
        if a[0] == "delete":
            c.slices.delete_key(f"ns/{a[3]}")
            api.objects.pop(("EndpointSlice", "ns", a[3]), None)
    for (kind, _, _), obj in api.objects.items():
        if kind == "EndpointSlice":
            c.slices.add(obj)
    api.actions.clear()


def verbs(api: Recorder) -> list[str]:
    return [a[0] for a in api.actions]


# ------------------------------------------------------------------ shape
def test_a_slice_carries_the_service_labels_its_owner_and_each_endpoint():
    a = pod("a", "10.0.0.1", node="n1", hostname="a", subdomain="web")
    b = pod("b", "10.0.0.2", node="n2", ready=False)
    going = pod("c", "10.0.0.3", node="n1", deleting=True)
    left_out = [pod("no-ip", None), pod("done", "10.0.0.9", phase="Succeeded")]
    c, api = controller([svc(labels={"team": "x"}, clusterIP="None")], [a, b, going, *left_out],
                        nodes=[node("n1", "zone-a"), node("n2")])
    run(c.sync("ns/web"))
    (create,) = api.actions
    assert create[0] == "create" and create[3] == {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "ns", "ownerReferences": [OWNER],
                     "labels": {"team": "x", "service.kubernetes.io/headless": "", **MANAGED},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": format_time(NOW - 1000)}},
        "addressType": "IPv4", "ports": HTTP_8080,
        "endpoints": [ep(a, zone="zone-a", hostname="a"), ep(b, ready=False),
                      ep(going, ready=False, serving=True, terminating=True, zone="zone-a")]}


def test_publish_not_ready_addresses_keeps_terminating_and_unready_endpoints_ready():
    b, going = pod("b", "10.0.0.2", ready=False), pod("c", "10.0.0.3", deleting=True)
    c, api = controller([svc(publishNotReadyAddresses=True)], [b, going])
    run(c.sync("ns/web"))
    assert api.actions[0][3]["endpoints"] == [ep(b), ep(going, terminating=True)]


def test_slices_hold_at_most_max_endpoints():
    pods = [pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(5)]
    c, api = controller([svc()], pods, max_per_slice=2)
    run(c.sync("ns/web"))
    made = [a[3] for a in api.verbs("create")]
    assert [len(s["endpoints"]) for s in made] == [2, 2, 1] and len(api.actions) == 3
    assert [e["addresses"][0] for s in made for e in s["endpoints"]] == [f"10.0.0.{i + 1}" for i in range(5)]


def test_pods_resolving_different_ports_go_to_different_slices():
    ports = [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    pods = [pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}]),
            pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 8080}]),
            pod("c", "10.0.0.3", ports=[{"name": "web", "containerPort": 9000}]),
            pod("d", "10.0.0.4")]  # no such port: an endpoint without ports
    c, api = controller([svc(ports=ports)], pods)
    run(c.sync("ns/web"))
    got = {tuple(p["port"] for p in s["ports"]): [e["targetRef"]["name"] for e in s["endpoints"]]
           for s in (a[3] for a in api.verbs("create"))}
    assert got == {(8080,): ["a", "b"], (9000,): ["c"], (): ["d"]}


def test_an_unnamed_single_port_is_written_with_an_empty_name():
    c, api = controller([svc(ports=[{"port": 80, "protocol": "UDP"}])], [pod("a", "10.0.0.1")])
    run(c.sync("ns/web"))
    assert api.actions[0][3]["ports"] == [{"name": "", "port": 80, "protocol": "UDP"}]


# ------------------------------------------------------------------ churn
def test_one_pod_changing_is_one_update_of_its_slice_and_nothing_else():
    pods = [pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(6)]
    c, api = controller([svc()], pods, max_per_slice=3)
    run(c.sync("ns/web"))
    assert verbs(api) == ["create", "create"]
    observe(c, api)
    run(c.sync("ns/web"))
    assert api.actions == []  # nothing changed, nothing written
    c.pods.add(pod("p4", "10.0.0.5", ready=False, rv="6"))
    run(c.sync("ns/web"))
    (update,) = api.actions
    assert update[0] == "update" and update[3]["metadata"]["name"] == "web-2"
    assert update[3]["metadata"]["resourceVersion"] == "102"  # compare-and-swap on what it read
    assert [e["conditions"]["ready"] for e in update[3]["endpoints"]] == [True, False, True]
    observe(c, api)
    c.pods.delete_key("ns/p0")
    run(c.sync("ns/web"))
    assert verbs(api) == ["update"] and [e["targetRef"]["name"] for e in api.actions[0][3]["endpoints"]] == \
        ["p1", "p2"]
    observe(c, api)
    # a new pod fills the slice it fits into best rather than a new one
    c.pods.add(pod("p9", "10.0.0.10"))
    run(c.sync("ns/web"))
    (update,) = api.actions
    assert update[0] == "update" and [e["targetRef"]["name"] for e in update[3]["endpoints"]] == ["p1", "p2", "p9"]


def test_new_endpoints_top_up_a_slice_being_updated_first():
    pods = [pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(4)]
    existing = [a_slice("web-a", [ep(pods[0]), ep(pods[1]), ep(pod("gone", "10.0.0.99"))]),
                a_slice("web-b", [ep(pods[2])])]
    c, api = controller([svc()], pods, existing, max_per_slice=3)
    run(c.sync("ns/web"))
    (update,) = api.actions
    assert update[3]["metadata"]["name"] == "web-a"
    assert [e["targetRef"]["name"] for e in update[3]["endpoints"]] == ["p0", "p1", "p3"]


def test_a_changed_port_set_reuses_the_old_slice_rather_than_create_and_delete():
    a = pod("a", "10.0.0.1")
    old = a_slice("web-abc", [ep(a)])
    c, api = controller([svc(ports=[{"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"}])], [a], [old])
    run(c.sync("ns/web"))
    (update,) = api.actions
    assert update[0] == "update"
    got = update[3]
    assert (got["metadata"]["name"], got["metadata"]["uid"], got["metadata"]["resourceVersion"]) == \
        ("web-abc", "uid-web-abc", "20")
    assert got["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}] and got["endpoints"] == [ep(a)]


def test_a_service_without_endpoints_keeps_one_placeholder_slice():
    c, api = controller([svc()], [])
    run(c.sync("ns/web"))
    (create,) = api.actions
    assert (create[3]["endpoints"], create[3]["ports"], create[3]["metadata"]["labels"]) == ([], [], MANAGED)
    observe(c, api)
    run(c.sync("ns/web"))
    assert api.actions == []  # the placeholder is kept as it is
    c.pods.add(pod("a", "10.0.0.1"))
    run(c.sync("ns/web"))
    (update,) = api.actions  # the placeholder becomes the first real slice
    assert update[0] == "update" and update[3]["endpoints"] == [ep(pod("a", "10.0.0.1"))]


def test_slices_of_an_earlier_service_or_another_address_type_are_deleted():
    a = pod("a", "10.0.0.1")
    foreign = a_slice("web-old", [ep(a)], owner=dict(OWNER, uid="old-uid"))
    v6 = a_slice("web-v6", [], address_type="IPv6")
    c, api = controller([svc()], [a], [foreign, v6])
    run(c.sync("ns/web"))
    assert sorted((a[0], a[3] if a[0] == "delete" else a[3]["metadata"]["generateName"]) for a in api.actions) == \
        [("create", "web-"), ("delete", "web-old"), ("delete", "web-v6")]


def test_labels_follow_the_service_without_touching_endpoints():
    a = pod("a", "10.0.0.1")
    existing = a_slice("web-a", [ep(a)], labels=dict(MANAGED, stale="yes"))
    c, api = controller([svc(labels={"team": "x"})], [a], [existing])
    run(c.sync("ns/web"))
    (update,) = api.actions
    assert update[3]["metadata"]["labels"] == dict(MANAGED, team="x") and update[3]["endpoints"] == [ep(a)]


def test_selector_less_services_and_deleted_services_leave_their_slices_alone():
    user = a_slice("web-user", [], labels={"kubernetes.io/service-name": "web"})
    c, api = controller([svc(selector={})], [pod("a", "10.0.0.1")], [user])
    run(c.sync("ns/web"))
    assert api.actions == []
    ours = a_slice("web-a", [ep(pod("a", "10.0.0.1"))])
    c, api = controller([], [pod("a", "10.0.0.1")], [ours])
    run(c.sync("ns/web"))
    assert api.actions == []  # the garbage collector removes them (ownerReferences)


def test_a_pod_on_a_missing_node_is_left_out_and_the_service_retried():
    a, lost = pod("a", "10.0.0.1", node="n1"), pod("b", "10.0.0.2", node="ghost")
    c, api = controller([svc()], [a, lost], nodes=[node("n1")])
    with pytest.raises(RuntimeError, match="node 'ghost' not found"):
        run(c.sync("ns/web"))
    assert api.actions[0][3]["endpoints"] == [ep(a)]
    c, api = controller([svc(publishNotReadyAddresses=True)], [a, lost], nodes=[node("n1")])
    run(c.sync("ns/web"))  # published anyway
    assert len(api.actions[0][3]["endpoints"]) == 2


# ----------------------------------------------------- informer lag, events
def test_a_sync_on_a_cache_behind_its_own_writes_is_retried_not_acted_on():
    c, api = controller([svc()], [pod("a", "10.0.0.1")])
    run(c.sync("ns/web"))
    c.pods.add(pod("b", "10.0.0.2"))
    with pytest.raises(StaleInformerCache):
        run(c.sync("ns/web"))  # the slice it made is not in the lister yet: no duplicate
    assert verbs(api) == ["create"]
    observe(c, api)
    run(c.sync("ns/web"))
    assert verbs(api) == ["update"]
    with pytest.raises(StaleInformerCache):
        run(c.sync("ns/web"))  # the lister still shows the slice as it was before the update
    observe(c, api)
    # a slice it deleted but the lister still shows
    extra = a_slice("web-z", [], owner=dict(OWNER, uid="old-uid"))
    c.slices.add(extra)
    run(c.sync("ns/web"))
    assert verbs(api) == ["delete"]
    with pytest.raises(StaleInformerCache):
        run(c.sync("ns/web"))
    c.slices.delete(extra)
    c.on_slice_delete(extra)
    assert queued(c) == []  # its own deletion: nothing to do
    api.actions.clear()
    run(c.sync("ns/web"))
    assert api.actions == []


def test_slice_events_queue_the_service_except_for_the_echo_of_its_own_writes():
    c, _ = controller([svc()], [])
    mine = a_slice("web-a", [])
    c.tracker.wrote("ns/web", mine)
    c.on_slice_update(dict(mine, metadata=dict(mine["metadata"], resourceVersion="19")), mine)
    assert queued(c) == []
    edited = dict(mine, metadata=dict(mine["metadata"], resourceVersion="21"), endpoints=[{"addresses": ["1.2.3.4"]}])
    c.on_slice_update(mine, edited)
    assert queued(c) == ["ns/web"]  # a user's edit is put back
    c.on_slice_delete(edited)
    assert queued(c) == ["ns/web"]  # someone else deleted it: written again
    c.on_slice_add(a_slice("other-a", [], labels={"kubernetes.io/service-name": "other"}))
    assert queued(c) == []  # not ours
    moved = copy.deepcopy(mine)
    moved["metadata"]["labels"]["kubernetes.io/service-name"] = "db"
    moved["metadata"]["resourceVersion"] = "22"
    c.on_slice_update(mine, moved)
    assert sorted(queued(c)) == ["ns/db", "ns/web"]


# ------------------------------------------------ against an in-process apiserver
def test_endpoints_and_slices_follow_pods_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        inf = {r: SharedInformer(client, r) for r in ("services", "pods", "endpoints", "endpointslices")}
        ec = EndpointsController(inf["services"].indexer, inf["pods"].indexer, inf["endpoints"].indexer, client)
        sc = EndpointSliceController(inf["services"].indexer, inf["pods"].indexer, inf["endpointslices"].indexer,
                                     client)
        for c in (ec, sc):
            inf["services"].add_event_handler(c.on_service, c.on_service_update, c.on_service_delete)
            inf["pods"].add_event_handler(c.on_pod_add, c.on_pod_update, c.on_pod_delete)
        inf["endpoints"].add_event_handler(on_delete=ec.on_endpoints_delete)
        inf["endpointslices"].add_event_handler(sc.on_slice_add, sc.on_slice_update, sc.on_slice_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(i.run(stop)) for i in inf.values()]
        tasks += [asyncio.create_task(ec.run(1, stop)), asyncio.create_task(sc.run(1, stop))]

        await client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"},
                             "spec": {"selector": {"app": "web"},
                                      "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}})
        for i in range(3):
            made = await client.create({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "ns",
                                                                "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx",
                                                           "ports": [{"name": "web", "containerPort": 8080}]}]}})
            await _set_status(client, made, f"10.0.0.{i + 1}", ready=True)

        async def endpoints() -> dict:
            try:
                return await client.get("endpoints", "web", "ns")
            except Exception:  # noqa: BLE001 - not written yet
                return {}

        async def slices() -> list[dict]:
            return (await client.list("endpointslices", "ns"))["items"]

        async def settled(ready: int, not_ready: int) -> bool:
            subsets = (await endpoints()).get("subsets") or []
            got = await slices()
            conds = [e["conditions"]["ready"] for s in got for e in s.get("endpoints") or ()]
            return (sum(len(s.get("addresses") or ()) for s in subsets) == ready
                    and sum(len(s.get("notReadyAddresses") or ()) for s in subsets) == not_ready
                    and len(got) == 1 and sorted(conds) == sorted([True] * ready + [False] * not_ready))

        await eventually(lambda: settled(3, 0), "3 ready addresses and one slice of 3 ready endpoints")
        (first,) = await slices()
        ep_obj = await endpoints()
        assert ep_obj["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert first["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert first["metadata"]["ownerReferences"][0]["kind"] == "Service"

        p1 = await client.get("pods", "p1", "ns")
        await _set_status(client, p1, "10.0.0.2", ready=False)
        await eventually(lambda: settled(2, 1), "p1 moved to not ready")
        ep_obj = await endpoints()
        assert [a["targetRef"]["name"] for a in ep_obj["subsets"][0]["notReadyAddresses"]] == ["p1"]
        (now,) = await slices()
        assert now["metadata"]["name"] == first["metadata"]["name"]  # updated in place
        assert {e["targetRef"]["name"]: e["conditions"]["ready"] for e in now["endpoints"]} == \
            {"p0": True, "p1": False, "p2": True}

        # settled: syncing again writes nothing (what was written reads back equal)
        rvs = (ep_obj["metadata"]["resourceVersion"], now["metadata"]["resourceVersion"])
        ec.enqueue("ns/web")
        sc.enqueue("ns/web")
        await eventually(lambda: _idle(ec, sc), "the resyncs")
        assert ((await endpoints())["metadata"]["resourceVersion"],
                (await slices())[0]["metadata"]["resourceVersion"]) == rvs
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())


async def _set_status(client: Client, pod_obj: dict, ip: str, ready: bool) -> None:
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                              "lastTransitionTime": format_time(NOW)}]}
    await client.update_status(dict(pod_obj, status=status))


async def _idle(*controllers: Any) -> bool:
    return all(len(c.queue.core) == 0 and c.queue.core.processing_len == 0 for c in controllers)
