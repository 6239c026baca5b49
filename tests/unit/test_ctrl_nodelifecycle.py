"""Node lifecycle and taint eviction: heartbeats by our own clock, Unknown
conditions, NoSchedule/NoExecute taints, zone rate limits and disruption
modes, evictions after tolerationSeconds, and the admission that adds them."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.controllers.nodelifecycle import (FULL, NORMAL, PARTIAL, UNREACHABLE, NodeLifecycleConfig,
                                              NodeLifecycleController, ZoneStats, zone_state)
from actors.controllers.tainteviction import TaintEvictionController, eviction_time
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0


def node(name: str, ready: str | None = "True", zone: str = "a", taints: list | None = None,
         heartbeat: float = NOW, **spec: Any) -> dict:
    n: dict = {"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "3",
                            "labels": {"topology.kubernetes.io/zone": zone}},
               "spec": dict(spec), "status": {}}
    if taints:
        n["spec"]["taints"] = taints
    if ready is not None:
        n["status"]["conditions"] = [{"type": "Ready", "status": ready, "lastHeartbeatTime": format_time(heartbeat)},
                                     {"type": "MemoryPressure", "status": "False"}]
    return n


def lease(name: str, renewed: float) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "renewTime": format_time(renewed)}}


def bound_pod(name: str, node_name: str, tolerations: list | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "4"},
            "spec": {"nodeName": node_name, "tolerations": tolerations or []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


class Env:
    def __init__(self, nodes: list[dict], pods: list[dict] = (), leases: list[dict] = (), **cfg: Any) -> None:
        self.nodes, self.leases, self.pods = Indexer(), Indexer(), Indexer()
        for n in nodes:
            self.nodes.add(n)
        for x in leases:
            self.leases.add(x)
        for p in pods:
            self.pods.add(p)
        self.api = Recorder(*nodes, *pods)
        self.t = [0.0]
        self.c = NodeLifecycleController(self.nodes, self.leases, self.pods, self.api,
                                         config=NodeLifecycleConfig(**cfg), clock=lambda: self.t[0],
                                         wall=lambda: NOW + self.t[0])

    def node_writes(self, subresource: str | None) -> dict[str, dict]:
        """Node name -> its last written object, by subresource (None: spec)."""
        return {a[3]["metadata"]["name"]: a[3] for a in self.api.verbs("update")
                if a[1] == "Node" and a[2] == subresource}

    def apply_writes(self) -> None:
        for n in {**self.node_writes("status"), **self.node_writes(None)}.values():
            self.nodes.update(n)


def _taint_keys(n: dict, effect: str = "NoExecute") -> list[str]:
    return [t["key"] for t in n["spec"].get("taints") or () if t["effect"] == effect]


def test_a_silent_node_goes_unknown_after_the_grace_period_and_gets_the_unreachable_taint():
    env = Env([node("n1"), node("n2")], pods=[bound_pod("p", "n1"), bound_pod("q", "n2")],
              leases=[lease("n1", NOW), lease("n2", NOW)], grace=40)
    run(env.c.monitor())
    assert env.api.actions == []  # fresh: everything within grace
    env.t[0] = 30.0
    env.leases.update(lease("n2", NOW + 30))  # n2 keeps renewing
    run(env.c.monitor())
    env.t[0] = 45.0
    run(env.c.monitor())
    status = env.node_writes("status")
    assert list(status) == ["n1"]
    conds = {c["type"]: c for c in status["n1"]["status"]["conditions"]}
    assert conds["Ready"]["status"] == "Unknown" and conds["Ready"]["reason"] == "NodeStatusUnknown"
    assert conds["MemoryPressure"]["status"] == "Unknown"
    pods = [a[3] for a in env.api.verbs("update") if a[1] == "Pod"]  # its pods are no longer Ready
    assert [(p["metadata"]["name"], p["status"]["conditions"][0]["status"]) for p in pods] == [("p", "False")]
    env.apply_writes()
    run(env.c.monitor())
    assert _taint_keys(env.node_writes(None)["n1"]) == [UNREACHABLE]
    # it comes back: Ready True again lifts the taint
    env.api.actions.clear()
    env.apply_writes()
    env.nodes.update(dict(env.nodes.get("n1"), status=node("n1", heartbeat=NOW + 50)["status"]))
    run(env.c.monitor())
    assert _taint_keys(env.node_writes(None)["n1"]) == []


def test_a_node_that_never_reported_gets_the_startup_grace_and_not_ready_means_not_ready_taint():
    new = node("new", ready=None)
    new["metadata"]["creationTimestamp"] = format_time(NOW - 40)  # first seen at 10: created 50 s ago
    env = Env([new, node("sick", ready="False"), node("ok")], grace=40, startup_grace=60)
    env.t[0] = 10.0
    run(env.c.monitor())
    assert "new" not in env.node_writes("status")  # still within the startup grace
    assert _taint_keys(env.node_writes(None)["sick"]) == ["node.kubernetes.io/not-ready"]
    env.t[0] = 21.0
    run(env.c.monitor())
    ready = env.node_writes("status")["new"]["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusNeverUpdated")


def test_tainting_is_rate_limited_per_zone():
    nodes = [node(f"n{i}", ready="False") for i in range(2)] + [node(f"h{i}") for i in range(4)]
    env = Env(nodes, eviction_rate=0.1)
    run(env.c.monitor())
    assert list(env.node_writes(None)) == ["n0"]  # a burst of one
    env.apply_writes()
    env.t[0] = 5.0
    env.api.actions.clear()
    run(env.c.monitor())
    assert env.node_writes(None) == {}  # 10 s per node at 0.1/s
    env.t[0] = 10.5
    run(env.c.monitor())
    assert list(env.node_writes(None)) == ["n1"]


def test_no_evictions_when_a_zone_or_the_whole_cluster_is_down():
    # zone b has no healthy node: nothing there is tainted; zone a is fine
    env = Env([node("a1", ready="False", zone="a"), node("a2", zone="a"),
               node("b1", ready="False", zone="b"), node("b2", ready="Unknown", zone="b")])
    run(env.c.monitor())
    assert list(env.node_writes(None)) == ["a1"]
    # every zone down: the controller's own connectivity is suspect; taints are lifted
    tainted = [{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": format_time(NOW)}]
    env = Env([node("a1", ready="Unknown", taints=tainted), node("b1", ready="False", zone="b")])
    run(env.c.monitor())
    assert {n: _taint_keys(o) for n, o in env.node_writes(None).items()} == {"a1": []}


@pytest.mark.parametrize("ready,not_ready,state", [
    (3, 0, NORMAL), (0, 1, FULL), (5, 2, NORMAL), (2, 3, PARTIAL), (5, 3, NORMAL), (0, 0, NORMAL)])
def test_zone_states(ready, not_ready, state):
    assert zone_state(ZoneStats(ready=ready, not_ready=not_ready), 0.55) == state


def test_no_schedule_taints_follow_conditions_and_unschedulable():
    n = node("n1", ready="False", unschedulable=True)
    n["status"]["conditions"][1]["status"] = "True"  # MemoryPressure
    n["spec"]["taints"] = [{"key": "dedicated", "effect": "NoSchedule"}]
    env = Env([n])
    run(env.c.sync("n1"))
    written = env.node_writes(None)["n1"]
    assert _taint_keys(written, "NoSchedule") == ["dedicated", "node.kubernetes.io/memory-pressure",
                                                  "node.kubernetes.io/not-ready", "node.kubernetes.io/unschedulable"]
    env.nodes.update(written)
    env.api.actions.clear()
    run(env.c.sync("n1"))
    assert env.api.actions == []  # already right


# ------------------------------------------------------------------ eviction
UNREACH = {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": format_time(NOW)}


@pytest.mark.parametrize("tolerations,due", [
    ([], NOW + 7),                                                           # not tolerated: now
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}], NOW + 300),
    ([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None),  # for ever
    ([{"operator": "Exists"}], None),
    ([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 60},
      {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30}], NOW + 30),
    ([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": -5}], NOW),
])
def test_eviction_time(tolerations, due):
    assert eviction_time(bound_pod("p", "n", tolerations), [UNREACH], NOW + 7) == due


def test_taint_eviction_deletes_untolerating_pods_now_and_others_after_their_seconds():
    tolerant = bound_pod("tolerant", "n1", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                              "tolerationSeconds": 300}])
    plain = bound_pod("plain", "n1")
    forever = bound_pod("forever", "n1", [{"operator": "Exists"}])
    nodes, pods = Indexer(), Indexer()
    nodes.add(node("n1", ready="Unknown", taints=[UNREACH]))
    for p in (tolerant, plain, forever):
        pods.add(p)
    api = Recorder(tolerant, plain, forever)
    wall = [NOW + 10]
    c = TaintEvictionController(nodes, pods, api, clock=lambda: wall[0] - NOW, wall=lambda: wall[0])
    c.on_node(nodes.get("n1"))
    run(c.drain())
    assert [a[3] for a in api.verbs("delete")] == ["plain"]
    marked = [a[3] for a in api.verbs("update") if a[2] == "status"][0]
    assert marked["status"]["conditions"][-1]["reason"] == "DeletionByTaintManager"
    assert len(c.queue.core) == 0 and c.queue.core.waiting_len == 1  # "tolerant" is due at NOW + 300
    wall[0] = NOW + 301
    run(c.drain())
    assert [a[3] for a in api.verbs("delete")] == ["plain", "tolerant"]


def test_admission_adds_the_default_tolerations_unless_the_pod_has_its_own():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server))
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        spec = {"containers": [{"name": "c", "image": "x"}]}
        made = await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "ns"},
                                    "spec": spec})
        assert sorted((t["key"], t["effect"], t["tolerationSeconds"]) for t in made["spec"]["tolerations"]) == [
            ("node.kubernetes.io/not-ready", "NoExecute", 300), (UNREACHABLE, "NoExecute", 300)]
        own = dict(spec, tolerations=[{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                       "tolerationSeconds": 5}])
        made = await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "ns"},
                                    "spec": own})
        assert sorted((t["key"], t["tolerationSeconds"]) for t in made["spec"]["tolerations"]) == [
            ("node.kubernetes.io/not-ready", 300), (UNREACHABLE, 5)]
        await server.close()
    run(go())


def test_a_node_whose_lease_stops_is_tainted_and_its_pods_evicted_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        await server.ensure_system_objects()
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        informers = {r: SharedInformer(client, r) for r in ("nodes", "leases", "pods")}
        nlc = NodeLifecycleController(informers["nodes"].indexer, informers["leases"].indexer,
                                      informers["pods"].indexer, client,
                                      config=NodeLifecycleConfig(grace=0.6, monitor_period=0.1))
        te = TaintEvictionController(informers["nodes"].indexer, informers["pods"].indexer, client)
        informers["nodes"].add_event_handler(nlc.on_node, nlc.on_node_update, nlc.on_node_delete)
        informers["nodes"].add_event_handler(te.on_node, te.on_node_update)
        informers["pods"].add_event_handler(te.on_pod, te.on_pod_update)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(i.run(stop)) for i in informers.values()]
        tasks += [asyncio.create_task(nlc.run(1, stop)), asyncio.create_task(te.run(1, stop))]
        for name in ("alive", "silent"):
            n = node(name, heartbeat=0)
            for k in ("uid", "resourceVersion"):
                n["metadata"].pop(k)
            await client.create(n)
            await client.create(dict(lease(name, 0), metadata={"name": name, "namespace": "kube-node-lease"}))
        for name, node_name, tol in (("doomed", "silent", [{"key": UNREACHABLE, "operator": "Exists",
                                                            "effect": "NoExecute", "tolerationSeconds": 1}]),
                                     ("stays", "alive", None),
                                     ("patient", "silent", [{"key": UNREACHABLE, "operator": "Exists",
                                                             "effect": "NoExecute", "tolerationSeconds": 3600}])):
            spec: dict = {"containers": [{"name": "c", "image": "x"}], "nodeName": node_name}
            if tol:
                spec["tolerations"] = tol
            await client.create({"apiVersion": "v1", "kind": "Pod",
                                 "metadata": {"name": name, "namespace": "ns"}, "spec": spec})
        renewing = True

        async def renew() -> None:
            while renewing:
                cur = await client.get("leases", "alive", "kube-node-lease")
                cur["spec"]["renewTime"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                await client.update(cur)
                await asyncio.sleep(0.1)
        tasks.append(asyncio.create_task(renew()))

        async def doomed_going() -> bool:
            p = await client.get("pods", "doomed", "ns")
            return bool(p["metadata"].get("deletionTimestamp"))
        await eventually(doomed_going, "the pod on the silent node evicted after 1 s", tries=400, every=0.05)
        silent = await client.get("nodes", "silent")
        assert [t["key"] for t in silent["spec"]["taints"] if t["effect"] == "NoExecute"] == [UNREACHABLE]
        assert {c["type"]: c["status"] for c in silent["status"]["conditions"]}["Ready"] == "Unknown"
        alive = await client.get("nodes", "alive")
        assert not (alive["spec"].get("taints") or [])
        for name in ("stays", "patient"):
            assert not (await client.get("pods", name, "ns"))["metadata"].get("deletionTimestamp")
        renewing = False
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go(), timeout=40)
