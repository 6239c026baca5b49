"""The simulated cloud and the cloud-controller-manager's controllers: the
cloud's own API, then the API calls each controller makes given the listers'
state, then the service controller against an in-process apiserver."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.cloud.controllers import (LB_FINALIZER, TAINT_SHUTDOWN, TAINT_UNINITIALIZED, CloudNodeController,
                                      RouteController, ServiceLBController)
from actors.cloud.provider import (CloudError, Conflict, FakeCloud, InstanceNotFound, InvalidArgument, LBPort,
                                   PoolExhausted, RouteNotFound, VolumeInUse)
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.informer import Indexer, SharedInformer
from kubeapi.models.base import format_time
from tests.fakes import eventually

from .ctrl_fakes import Recorder, run

NOW = 1_700_000_000.0
ZONE = "rk-central-1b"


class Api(Recorder):
    """A Recorder that also notes each patch's subresource, and the cloud's
    load balancer count when it was sent (to check finalizer ordering)."""

    def __init__(self, *objects: dict, cloud: FakeCloud | None = None) -> None:
        super().__init__(*objects)
        self.cloud = cloud
        self.sent: list[tuple] = []

    async def patch(self, resource, name, patch, namespace=None, *, patch_type="merge", subresource=None):
        lbs = len(await self.cloud.list_load_balancers()) if self.cloud else None
        self.sent.append((name, subresource, patch_type, patch, lbs))
        return await super().patch(resource, name, patch, namespace, patch_type=patch_type, subresource=subresource)


def node(name: str, *, ready: str | None = "True", taints: list | None = None, provider_id: str = "",
         labels: dict | None = None, addresses: list | None = None, cidr: str = "", conditions: list | None = None,
         **spec: Any) -> dict:
    n: dict = {"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "7", "labels": labels or {}},
               "spec": dict(spec), "status": {"conditions": list(conditions or [])}}
    if taints:
        n["spec"]["taints"] = taints
    if provider_id:
        n["spec"]["providerID"] = provider_id
    if cidr:
        n["spec"].update(podCIDR=cidr, podCIDRs=[cidr])
    if ready is not None:
        n["status"]["conditions"].append({"type": "Ready", "status": ready})
    if addresses is not None:
        n["status"]["addresses"] = addresses
    return n


def queued(c: Any) -> list[str]:
    """The keys ready in the controller's queue (taken out of it)."""
    keys = []
    while (k := c.queue.core.get()) is not None:
        keys.append(k)
        c.queue.core.done(k)
    return sorted(keys)


def indexer(*objs: dict) -> Indexer:
    i = Indexer()
    for o in objs:
        i.add(o)
    return i


# ======================================================================= cloud
def test_lb_ips_are_unique_while_held_released_on_delete_and_exhaust_clearly():
    async def go() -> None:
        cloud = FakeCloud(lb_pool="203.0.113.0/30")  # two usable addresses
        ports = [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 30080}]
        a = await cloud.ensure_load_balancer("c", "ns/a", ports, ["n2", "n1"])
        b = await cloud.ensure_load_balancer("c", "ns/b", ports, [])
        assert (a, b) == ("203.0.113.1", "203.0.113.2")
        assert await cloud.ensure_load_balancer("c", "ns/a", ports, ["n1"]) == a  # idempotent: keeps its IP
        lb = await cloud.get_load_balancer("c", "ns/a")
        assert lb.hosts == ("n1",) and lb.ports == (LBPort("http", "TCP", 80, 30080),)
        with pytest.raises(PoolExhausted, match="203.0.113.0/30"):
            await cloud.ensure_load_balancer("c", "ns/c", ports, [])
        assert cloud.free_lb_ips == 0
        assert await cloud.delete_load_balancer("c", "ns/a") is True
        assert await cloud.delete_load_balancer("c", "ns/a") is False  # deleting is idempotent
        assert cloud.free_lb_ips == 1 and await cloud.get_load_balancer("c", "ns/a") is None
        assert await cloud.ensure_load_balancer("c", "ns/c", ports, []) == a  # free again, so reusable
        with pytest.raises(Conflict):
            await cloud.ensure_load_balancer("c", "ns/d", ports, [], ip=b)  # held by ns/b
        with pytest.raises(InvalidArgument):
            await cloud.ensure_load_balancer("c", "ns/d", [], [])
        lb = await cloud.update_load_balancer_hosts("c", "ns/b", ["n3"])
        assert lb.hosts == ("n3",) and lb.ip == b
    run(go())


def test_instances_are_found_by_name_and_provider_id():
    async def go() -> None:
        cloud = FakeCloud(zones=["z-a", "z-b"], public_pool="198.51.100.0/30")
        inst = await cloud.create_instance("worker-1", zone="z-b", instance_type="rk.large")
        assert inst.id.startswith("i-") and inst.provider_id == f"raykube://z-b/{inst.id}"
        assert (inst.zone, inst.region, inst.instance_type, inst.state) == ("z-b", "rk-central-1", "rk.large",
                                                                            "running")
        assert inst.node_addresses() == [{"type": "InternalIP", "address": "10.128.0.1"},
                                         {"type": "ExternalIP", "address": "198.51.100.1"},
                                         {"type": "Hostname", "address": "worker-1"}]
        assert await cloud.instance_by_name("worker-1") == inst
        assert await cloud.instance_by_provider_id(inst.provider_id) == inst
        with pytest.raises(InstanceNotFound):
            await cloud.instance_by_provider_id(f"raykube://z-a/{inst.id}")  # wrong zone
        with pytest.raises(InvalidArgument):
            await cloud.instance_by_provider_id(f"aws:///z-b/{inst.id}")
        with pytest.raises(InvalidArgument, match="unknown zone"):
            await cloud.create_instance("worker-2", zone="z-q")
        with pytest.raises(Conflict):
            await cloud.create_instance("worker-1")
        stopped = await cloud.stop_instance(inst.id)
        assert stopped.state == "stopped" and (await cloud.instance_by_name("worker-1")).state == "stopped"
        other = await cloud.create_instance("worker-2")
        assert other.node_addresses()[1]["address"] == "198.51.100.2"
        await cloud.delete_instance(inst.id)
        for lookup in (cloud.instance_by_name("worker-1"), cloud.instance_by_provider_id(inst.provider_id),
                       cloud.delete_instance(inst.id)):
            with pytest.raises(InstanceNotFound):
                await lookup
        again = await cloud.create_instance("worker-1")  # its addresses are free again
        assert again.node_addresses()[:2] == inst.node_addresses()[:2] and again.id != inst.id
        assert [i.name for i in await cloud.list_instances()] == ["worker-1", "worker-2"]
    run(go())


def test_route_changes_reach_subscribers():
    async def go() -> None:
        cloud = FakeCloud()
        seen: list[tuple] = []
        unsubscribe = cloud.on_route_change(lambda ev, r: seen.append((ev, r.node_name, r.destination_cidr)))

        async def async_hook(ev: str, r: Any) -> None:
            seen.append(("async", ev))
        cloud.on_route_change(async_hook)
        r = await cloud.create_route("c", "n1", "10.244.1.0/24")
        assert (r.cluster, r.node_name, r.destination_cidr) == ("c", "n1", "10.244.1.0/24")
        assert await cloud.create_route("c", "n1", "10.244.1.0/24") == r  # again: no change, no event
        with pytest.raises(Conflict, match="already routed to n1"):
            await cloud.create_route("c", "n2", "10.244.1.0/24")
        with pytest.raises(InvalidArgument):
            await cloud.create_route("c", "n2", "10.244.1.7/24")
        assert await cloud.list_routes("other") == []
        await cloud.delete_route("c", "n1", "10.244.1.0/24")
        with pytest.raises(RouteNotFound):
            await cloud.delete_route("c", "n1", "10.244.1.0/24")
        unsubscribe()
        await cloud.create_route("c", "n3", "10.244.3.0/24")
        assert seen == [("add", "n1", "10.244.1.0/24"), ("async", "add"),
                        ("delete", "n1", "10.244.1.0/24"), ("async", "delete"), ("async", "add")]
    run(go())


def test_volumes_attach_within_their_zone_only_once():
    async def go() -> None:
        cloud = FakeCloud(zones=["z-a", "z-b"])
        i1 = await cloud.create_instance("n1", zone="z-a")
        i2 = await cloud.create_instance("n2", zone="z-b")
        vol = await cloud.create_volume("data", 10, "z-a")
        with pytest.raises(InvalidArgument, match="z-a"):
            await cloud.attach_volume(vol.id, i2.id)
        att = await cloud.attach_volume(vol.id, i1.id)
        assert (att.attached_to, att.device) == (i1.id, "/dev/xvdb")
        with pytest.raises(VolumeInUse):
            await cloud.delete_volume(vol.id)
        await cloud.detach_volume(vol.id, i1.id)
        await cloud.attach_volume(vol.id, i1.id)
        await cloud.delete_instance(i1.id)  # terminating an instance frees its volumes
        assert (await cloud.get_volume(vol.id)).attached_to is None
        await cloud.delete_volume(vol.id)
        assert await cloud.list_volumes() == []
    run(go())


# ================================================================== cloud node
def node_controller(nodes: list[dict], cloud: FakeCloud):
    clock = [0.0]
    api = Api(*nodes)
    return CloudNodeController(indexer(*nodes), cloud, api, clock=lambda: clock[0]), api, clock


def test_initializes_a_node_from_its_instance_and_lifts_the_taint():
    cloud = FakeCloud()
    inst = run(cloud.create_instance("n1", zone=ZONE, instance_type="rk.large"))
    keep = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    n = node("n1", taints=[{"key": TAINT_UNINITIALIZED, "value": "true", "effect": "NoSchedule"}, keep],
             labels={"kubernetes.io/hostname": "n1"},
             addresses=[{"type": "Hostname", "address": "n1"}])
    c, api, _ = node_controller([n], cloud)
    run(c.sync("n1"))
    assert api.sent == [
        ("n1", None, "merge", {"spec": {"providerID": inst.provider_id, "taints": [keep]},
                               "metadata": {"labels": {
                                   "node.kubernetes.io/instance-type": "rk.large",
                                   "topology.kubernetes.io/zone": ZONE,
                                   "topology.kubernetes.io/region": "rk-central-1",
                                   "beta.kubernetes.io/instance-type": "rk.large",
                                   "failure-domain.beta.kubernetes.io/zone": ZONE,
                                   "failure-domain.beta.kubernetes.io/region": "rk-central-1"},
                                   "resourceVersion": "7"}}, None),
        ("n1", "status", "merge", {"status": {"addresses": [
            {"type": "InternalIP", "address": "10.128.0.1"}, {"type": "ExternalIP", "address": "198.51.100.1"},
            {"type": "Hostname", "address": "n1"}]}}, None)]
    assert api.verbs("delete") == []


def test_an_initialized_node_is_left_alone_and_looked_at_again_later():
    cloud = FakeCloud()
    inst = run(cloud.create_instance("n1"))
    n = node("n1", provider_id=inst.provider_id, addresses=inst.node_addresses())
    c, api, clock = node_controller([n], cloud)
    run(c.sync("n1"))
    assert api.actions == []
    assert len(c.queue.core) == 0 and c.queue.core.next_deadline() == pytest.approx(5.0)
    clock[0] = 5.0
    assert run(c.drain()) == 1  # the periodic look
    other = node("n2", provider_id=inst.provider_id, addresses=inst.node_addresses())
    c.nodes.add(other)
    c.resync()
    assert queued(c) == ["n1", "n2"]


@pytest.mark.parametrize("instance,ready,taints,want", [
    # NotReady (or never reported) and the instance is gone: the node is deleted
    ("gone", "False", [], "delete"),
    ("gone", None, [], "delete"),
    ("gone", "True", [], None),  # a Ready node is never deleted
    # the instance is stopped and the node NotReady: shut-down taint
    ("stopped", "Unknown", [], [{"key": TAINT_SHUTDOWN, "effect": "NoSchedule"}]),
    ("stopped", "True", [], None),
    ("stopped", "False", [{"key": TAINT_SHUTDOWN, "effect": "NoSchedule"}], None),  # already there
    # running again: the taint goes once the node is Ready, not before
    ("running", "True", [{"key": "x", "effect": "NoExecute"}, {"key": TAINT_SHUTDOWN, "effect": "NoSchedule"}],
     [{"key": "x", "effect": "NoExecute"}]),
    ("running", "True", [{"key": TAINT_SHUTDOWN, "effect": "NoSchedule"}], "untaint-all"),
    ("running", "False", [{"key": TAINT_SHUTDOWN, "effect": "NoSchedule"}], None),
])
def test_lifecycle(instance, ready, taints, want):
    cloud = FakeCloud()
    inst = run(cloud.create_instance("n1"))
    if instance == "gone":
        run(cloud.delete_instance(inst.id))
        run(cloud.create_instance("n1"))  # a new machine of the same name is not this node's
    elif instance == "stopped":
        run(cloud.stop_instance(inst.id))
    n = node("n1", ready=ready, taints=taints, provider_id=inst.provider_id, addresses=inst.node_addresses())
    c, api, _ = node_controller([n], cloud)
    run(c.sync("n1"))
    if want == "delete":
        assert api.actions == [("delete", "nodes", None, "n1")]
    elif want is None:
        assert api.actions == []
    else:
        assert api.sent == [("n1", None, "merge", {"spec": {"taints": None if want == "untaint-all" else want},
                                                   "metadata": {"resourceVersion": "7"}}, None)]


# ======================================================================= route
def test_routes_follow_node_cidrs_and_report_network_available():
    async def go() -> None:
        cloud = FakeCloud()
        await cloud.create_route("k", "n1", "10.244.1.0/24")
        await cloud.create_route("k", "old", "10.244.2.0/24")   # its node is gone; n2 holds the CIDR now
        await cloud.create_route("k", "gone", "10.244.9.0/24")
        await cloud.create_route("k", "vpn", "192.168.0.0/24")  # outside the cluster CIDR: not ours
        events: list[tuple] = []
        cloud.on_route_change(lambda ev, r: events.append((ev, r.node_name, r.destination_cidr)))
        routed = {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"}
        nodes = [node("n1", cidr="10.244.1.0/24", conditions=[routed]), node("n2", cidr="10.244.2.0/24"),
                 node("n3")]
        api = Api(*nodes)
        c = RouteController(indexer(*nodes), cloud, api, cluster="k", cluster_cidr="10.244.0.0/16",
                            clock=lambda: 0.0, wall=lambda: NOW)
        await c.sync(c.KEY)
        assert sorted((r.node_name, r.destination_cidr) for r in await cloud.list_routes("k")) == [
            ("n1", "10.244.1.0/24"), ("n2", "10.244.2.0/24"), ("vpn", "192.168.0.0/24")]
        assert events == [("delete", "old", "10.244.2.0/24"), ("delete", "gone", "10.244.9.0/24"),
                          ("add", "n2", "10.244.2.0/24")]
        t = format_time(NOW)
        assert api.sent == [("n2", "status", "strategic", {"status": {"conditions": [
            {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated",
             "message": "RouteController created a route", "lastTransitionTime": t, "lastHeartbeatTime": t}]}},
            None)]
        # a node's deletion takes its route with it
        c.nodes.delete(nodes[0])
        c.on_node_delete(nodes[0])
        assert await c.drain() == 1
        assert [r.node_name for r in await cloud.list_routes("k")] == ["n2", "vpn"]
    run(go())


def test_a_route_that_cannot_be_made_marks_the_network_unavailable_and_retries():
    async def go() -> None:
        cloud = FakeCloud()
        await cloud.create_route("k", "vpn", "192.168.0.0/24")
        n = node("odd", cidr="192.168.0.0/24")  # clashes with a route that is not the cluster's
        api = Api(n)
        c = RouteController(indexer(n), cloud, api, cluster="k", cluster_cidr="10.244.0.0/16",
                            clock=lambda: 0.0, wall=lambda: NOW)
        with pytest.raises(Conflict):
            await c.sync(c.KEY)
        [(name, sub, ptype, patch, _)] = api.sent
        cond = patch["status"]["conditions"][0]
        assert (name, sub, cond["status"], cond["reason"]) == ("odd", "status", "True", "NoRouteCreated")
        c.on_node_add(n)
        assert await c.drain() == 1 and c.errors == 1  # the failed sync is retried
    run(go())


# ================================================================ service LB
def svc(name: str = "web", *, stype: str = "LoadBalancer", finalizers: list | None = None,
        ingress: list | None = None, deleting: bool = False, **spec: Any) -> dict:
    s: dict = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "3"},
               "spec": {"type": stype, "ports": [{"name": "http", "protocol": "TCP", "port": 80,
                                                  "targetPort": 8080, "nodePort": 30080}], **spec},
               "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}
    if finalizers:
        s["metadata"]["finalizers"] = finalizers
    if deleting:
        s["metadata"]["deletionTimestamp"] = format_time(NOW)
    return s


NODES = [node("n1"), node("n2", unschedulable=True), node("n3", ready="False"),
         node("n4", labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""}), node("n5")]


def lb_controller(services: list[dict], cloud: FakeCloud, nodes: list[dict] = NODES):
    api = Api(*services, cloud=cloud)
    return ServiceLBController(indexer(*services), indexer(*nodes), cloud, api, cluster="k",
                               clock=lambda: 0.0), api


def test_a_load_balancer_service_gets_its_finalizer_first_then_its_ingress():
    cloud = FakeCloud()
    s = svc()
    c, api = lb_controller([s], cloud)
    run(c.sync("ns/web"))
    assert api.sent == [
        ("web", None, "merge", {"metadata": {"finalizers": [LB_FINALIZER], "resourceVersion": "3"}}, 0),
        ("web", "status", "merge", {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}}, 1)]
    lb = run(cloud.get_load_balancer("k", "ns/web"))
    assert lb.hosts == ("n1", "n5") and lb.ports == (LBPort("http", "TCP", 80, 30080),)
    # once both are there, a sync writes nothing and keeps the IP
    api.sent.clear()
    c.services.add(svc(finalizers=[LB_FINALIZER], ingress=[{"ip": "203.0.113.1"}]))
    run(c.sync("ns/web"))
    assert api.sent == [] and run(cloud.get_load_balancer("k", "ns/web")).ip == "203.0.113.1"


def test_no_ip_left_fails_the_sync_after_the_finalizer():
    cloud = FakeCloud(lb_pool="203.0.113.0/30")
    run(cloud.ensure_load_balancer("k", "ns/a", [{"port": 1}], []))
    run(cloud.ensure_load_balancer("k", "ns/b", [{"port": 1}], []))
    c, api = lb_controller([svc()], cloud)
    c.enqueue("ns/web")
    assert run(c.drain()) == 1 and c.errors == 1
    assert [p[1] for p in api.sent] == [None]  # the finalizer only, no status
    with pytest.raises(PoolExhausted):
        run(c.sync("ns/web"))


@pytest.mark.parametrize("s,patches", [
    # no longer a LoadBalancer: LB deleted, then the finalizer dropped, then the status cleared
    (svc(stype="ClusterIP", finalizers=[LB_FINALIZER], ingress=[{"ip": "203.0.113.1"}]),
     [("web", None, "merge", {"metadata": {"finalizers": None, "resourceVersion": "3"}}, 0),
      ("web", "status", "merge", {"status": {"loadBalancer": {"ingress": None}}}, 0)]),
    # being deleted: LB deleted, then our finalizer dropped (others kept); the object goes, no status write
    (svc(finalizers=["example.com/keep", LB_FINALIZER], ingress=[{"ip": "203.0.113.1"}], deleting=True),
     [("web", None, "merge", {"metadata": {"finalizers": ["example.com/keep"], "resourceVersion": "3"}}, 0)]),
    # handed to another load balancer implementation
    (svc(finalizers=[LB_FINALIZER], loadBalancerClass="example.com/lb"),
     [("web", None, "merge", {"metadata": {"finalizers": None, "resourceVersion": "3"}}, 0)]),
    # deleted before we ever saw its finalizer: the LB is still released
    (None, []),
])
def test_the_load_balancer_is_released(s, patches):
    cloud = FakeCloud()
    run(cloud.ensure_load_balancer("k", "ns/web", [{"port": 80}], ["n1"]))
    c, api = lb_controller([s] if s else [], cloud)
    run(c.sync("ns/web"))
    assert api.sent == patches
    assert run(cloud.get_load_balancer("k", "ns/web")) is None and cloud.free_lb_ips == 254


def test_handlers_enqueue_only_what_concerns_load_balancers():
    cloud = FakeCloud()
    c, _ = lb_controller([], cloud)
    c.on_service_add(svc("plain", stype="ClusterIP"))
    c.on_service_update(svc("plain", stype="ClusterIP"), svc("plain", stype="NodePort"))
    assert len(c.queue.core) == 0
    c.on_service_add(svc("lb"))
    c.on_service_update(svc("was", stype="LoadBalancer"), svc("was", stype="ClusterIP"))
    c.on_service_delete(svc("gone", finalizers=[LB_FINALIZER]))
    beat = node("n1")
    beat["metadata"]["resourceVersion"] = "8"
    c.on_node_update(node("n1"), beat)  # a heartbeat changes nothing the LBs care about
    assert queued(c) == ["ns/gone", "ns/lb", "ns/was"]


def test_node_changes_retarget_load_balancers():
    async def go() -> None:
        cloud = FakeCloud()
        s = svc(finalizers=[LB_FINALIZER], ingress=[{"ip": "203.0.113.1"}])
        c, api = lb_controller([s, svc("plain", stype="ClusterIP")], cloud)
        await c.sync("ns/web")
        assert (await cloud.get_load_balancer("k", "ns/web")).hosts == ("n1", "n5")
        ready = node("n3")
        c.nodes.add(ready)
        c.on_node_update(NODES[2], ready)
        c.nodes.delete(NODES[0])
        c.on_node_delete(NODES[0])
        assert await c.drain() == 1  # one pass over every LB
        assert (await cloud.get_load_balancer("k", "ns/web")).hosts == ("n3", "n5")
        assert api.sent == [] and await cloud.get_load_balancer("k", "ns/plain") is None
    run(go())


def test_cloud_errors_are_typed():
    assert issubclass(PoolExhausted, CloudError) and issubclass(RouteNotFound, CloudError)


# ================================================ against an in-process apiserver
def test_load_balancer_service_against_a_real_apiserver():
    async def go() -> None:
        server = APIServer(LocalKV())
        client = Client(LocalTransport(server), poll_seconds=0.05)
        cloud = FakeCloud(lb_pool="198.18.0.0/29")
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                             "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        svci, nodei = SharedInformer(client, "services"), SharedInformer(client, "nodes")
        c = ServiceLBController(svci.indexer, nodei.indexer, cloud, client, cluster="k")
        svci.add_event_handler(c.on_service_add, c.on_service_update, c.on_service_delete)
        nodei.add_event_handler(c.on_node_add, c.on_node_update, c.on_node_delete)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(svci.run(stop)), asyncio.create_task(nodei.run(stop)),
                 asyncio.create_task(c.run(1, stop))]
        await client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"},
                             "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                                      "ports": [{"port": 80, "targetPort": 8080}]}})

        async def ingress() -> bool:
            got = await client.get("services", "web", "ns")
            return (got["status"].get("loadBalancer") or {}).get("ingress") == [{"ip": "198.18.0.1"}]
        await eventually(ingress, "the load balancer's IP in status")
        got = await client.get("services", "web", "ns")
        assert got["metadata"]["finalizers"] == [LB_FINALIZER]
        assert (await cloud.get_load_balancer("k", "ns/web")).hosts == ("n1",) and cloud.free_lb_ips == 5
        await client.delete("services", "web", "ns")

        async def gone() -> bool:
            try:
                await client.get("services", "web", "ns")
            except errors.ApiError as e:
                return errors.is_not_found(e)
            return False
        await eventually(gone, "the Service to be deleted")
        assert await cloud.get_load_balancer("k", "ns/web") is None and cloud.free_lb_ips == 6
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
    run(go())


def test_nodes_registered_without_the_external_cloud_provider_are_left_alone():
    # no providerID and no uninitialized taint: a node the cloud never launched (a bare kubelet)
    n = node("bare", ready="Unknown")
    c, api, _ = node_controller([n], FakeCloud())
    run(c.sync("bare"))
    assert api.actions == []
