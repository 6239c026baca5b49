"""Service ClusterIP and NodePort allocation: claims in the store keep
several apiserver replicas from handing out one value twice."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import random
from typing import Any

import pytest

from actors.apiserver.allocators import (NODE_PORTS_PREFIX, SERVICE_IPS_PREFIX, Claims, ClaimTaken,
                                         ServiceAllocator, Taken, ValueRange, static_band)
from actors.apiserver.handler import APIHandler, Request, Response
from actors.apiserver.server import APIServer
from actors.apiserver.storage import LocalKV, ObjectStore
from kubeapi.registry import by_plural

NS = "team"
SERVICES = by_plural("", "v1", "services")


class FirstRng(random.Random):
    """Always starts a scan at the lowest free value: makes picks predictable."""

    def randrange(self, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        return 0


def handler(kv: LocalKV, rng: random.Random | None = None, **kw: Any) -> APIHandler:
    return APIHandler(ObjectStore(kv, rng=rng or random.Random(7)), **kw)


def run(*reqs: Request, h: APIHandler) -> Any:
    async def go() -> list[Response]:
        return [await h.handle(r) for r in reqs]
    out = asyncio.run(go())
    return out if len(out) > 1 else out[0]


def svc(name: str, ports: list[dict] | None = None, **spec: Any) -> dict:
    default_ports = [{"name": "http", "port": 80}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": default_ports if ports is None else ports, **spec}}


def create(body: dict, **query: str) -> Request:
    return Request("create", "", "v1", "services", namespace=NS, body=body, query=query)


def update(body: dict, **query: str) -> Request:
    return Request("update", "", "v1", "services", namespace=NS, name=body["metadata"]["name"], body=body,
                   query=query)


def get(name: str) -> Request:
    return Request("get", "", "v1", "services", namespace=NS, name=name)


def delete(name: str) -> Request:
    return Request("delete", "", "v1", "services", namespace=NS, name=name)


def setup(**kw: Any) -> tuple[LocalKV, APIHandler]:
    """A store with namespace ``team`` and a handler over it."""
    kv = LocalKV()
    h = handler(kv, **kw)
    assert run(Request("create", "", "v1", "namespaces", body={"metadata": {"name": NS}}), h=h).code == 201
    return kv, h


def claims(kv: LocalKV) -> dict[str, dict]:
    """Claim key -> its owner, as stored."""
    got = kv.store.range(b"/registry/ranges/", b"/registry/ranges0")
    return {kv_["key"].decode(): json.loads(kv_["value"]) for kv_ in got["kvs"]}


def node_ports(body: dict) -> list[int]:
    return [p.get("nodePort") for p in body["spec"]["ports"]]


def cause(resp: Response) -> tuple[str, str]:
    """(field, message) of a 422's only cause."""
    assert resp.code == 422, resp.body
    (only,) = resp.body["details"]["causes"]
    return only["field"], only["message"]


# ------------------------------------------------------------------ ranges
def test_static_band_sizes_follow_upstream() -> None:
    assert static_band(2 ** 20, 16, 256, 16) == 256      # a /12
    assert static_band(2 ** 11, 16, 256, 16) == 128      # a /21
    assert static_band(64, 16, 256, 16) == 16            # a /26: at least 16
    assert static_band(16, 16, 256, 16) == 0             # a /28: no band
    assert static_band(2768, 16, 128, 32) == 86          # node ports 30000-32767


def test_dynamic_picks_fill_the_upper_band_before_the_static_one() -> None:
    band = ValueRange(1, 20, 4)
    rng, taken = random.Random(1), set()
    picks = []
    for _ in range(20):
        value = band.pick(taken, rng)
        assert value is not None
        picks.append(value)
        taken.add(value)
    assert sorted(picks[:16]) == list(range(5, 21)) and sorted(picks[16:]) == [1, 2, 3, 4]
    assert band.pick(taken, rng) is None


# ------------------------------------------------------------- cluster IPs
def test_cluster_ip_is_allocated_from_the_upper_band_and_claimed() -> None:
    kv, h = setup()
    out = run(create(svc("web")), h=h)
    assert out.code == 201, out.body
    spec = out.body["spec"]
    ip = ipaddress.ip_address(spec["clusterIP"])
    net = ipaddress.ip_network("10.96.0.0/12")
    assert ip in net and int(ip) - int(net.network_address) > 256  # above the static band
    assert spec["clusterIPs"] == [str(ip)] and spec["ipFamilies"] == ["IPv4"]
    assert claims(kv) == {SERVICE_IPS_PREFIX + str(ip): {"namespace": NS, "name": "web",
                                                          "uid": out.body["metadata"]["uid"]}}
    assert run(get("web"), h=h).body["spec"]["clusterIP"] == str(ip)


def test_headless_and_external_name_services_get_no_ip() -> None:
    kv, h = setup()
    headless, external = run(create(svc("db", clusterIP="None")),
                             create(svc("ext", ports=[], type="ExternalName", externalName="example.com")), h=h)
    assert headless.code == 201 and headless.body["spec"]["clusterIP"] == "None"
    assert headless.body["spec"]["clusterIPs"] == ["None"]
    assert external.code == 201 and "clusterIP" not in external.body["spec"]
    assert claims(kv) == {}


def test_two_replicas_over_one_store_never_collide() -> None:
    """Alternating creates through two apiservers, each with its own random
    source, over a range barely larger than the services: all distinct."""
    kv, first = setup(service_cidr="10.0.0.0/23", node_port_range=(30000, 30699))
    second = handler(kv, random.Random(7), service_cidr="10.0.0.0/23", node_port_range=(30000, 30699))
    reqs = [create(svc(f"s{i}", type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}]))
            for i in range(300)]

    async def go() -> list[Response]:
        return [await (first if i % 2 else second).handle(r) for i, r in enumerate(reqs)]
    out = asyncio.run(go())
    assert [r.code for r in out] == [201] * 300
    ips = [r.body["spec"]["clusterIP"] for r in out]
    ports = [p for r in out for p in node_ports(r.body)]
    assert len(set(ips)) == 300 and len(set(ports)) == 600
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.0.0/23") for ip in ips)
    assert all(30000 <= p <= 30699 for p in ports)
    assert len(claims(kv)) == 900


def test_a_value_claimed_between_read_and_write_is_picked_again() -> None:
    """Another replica claims 10.0.0.1 after this one read the claims: the
    write fails on that claim, and the retry takes the other address."""
    kv, h = setup(rng=FirstRng(), service_cidr="10.0.0.0/30")
    kv.store.txn([], [{"op": "put", "key": (SERVICE_IPS_PREFIX + "10.0.0.1").encode(), "value": b"{}"}])
    reads = []
    real_keys = h.store.keys

    async def stale_then_fresh(prefix: str) -> list[str]:
        reads.append(prefix)
        return [] if len(reads) == 1 else await real_keys(prefix)
    h.store.keys = stale_then_fresh  # type: ignore[method-assign]
    out = run(create(svc("web")), h=h)
    assert out.code == 201 and out.body["spec"]["clusterIP"] == "10.0.0.2"
    assert len(reads) == 2
    assert set(claims(kv)) == {SERVICE_IPS_PREFIX + "10.0.0.1", SERVICE_IPS_PREFIX + "10.0.0.2"}


def test_storage_reports_the_taken_claim_and_writes_nothing() -> None:
    kv = LocalKV()
    store = ObjectStore(kv)
    taken = SERVICE_IPS_PREFIX + "10.96.0.7"
    kv.store.txn([], [{"op": "put", "key": taken.encode(), "value": b"{}"}])
    body = svc("web")
    with pytest.raises(ClaimTaken) as e:
        asyncio.run(store.create(SERVICES, NS, body, claims=Claims((NODE_PORTS_PREFIX + "30001", taken))))
    assert e.value.key == taken
    assert set(claims(kv)) == {taken} and kv.store.range(SERVICES.key(NS, "web").encode())["kvs"] == []


def test_a_full_range_is_an_internal_error_and_a_delete_frees_its_address() -> None:
    kv, h = setup(service_cidr="10.0.0.0/29")  # .1 to .6: no network, no broadcast address
    made = run(*[create(svc(f"s{i}")) for i in range(6)], h=h)
    ips = [r.body["spec"]["clusterIP"] for r in made]
    assert sorted(ips) == [f"10.0.0.{i}" for i in range(1, 7)]
    full = run(create(svc("late")), h=h)
    assert full.code == 500 and full.body["reason"] == "InternalError"
    assert full.body["message"] == "Internal error occurred: failed to allocate a serviceIP: range is full"
    assert run(get("late"), h=h).code == 404
    assert run(delete("s3"), h=h).code == 200
    assert SERVICE_IPS_PREFIX + ips[3] not in claims(kv)
    again = run(create(svc("late")), h=h)
    assert again.code == 201 and again.body["spec"]["clusterIP"] == ips[3]


@pytest.mark.parametrize("ip, why", [
    ("1.2.3.4", "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
    ("10.96.0.0", "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
    ("10.111.255.255", "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
    ("10.96.0.10", "provided IP is already allocated"),
])
def test_a_chosen_cluster_ip_must_be_in_range_and_free(ip: str, why: str) -> None:
    kv, h = setup()
    dns = run(create(svc("dns", clusterIP="10.96.0.10")), h=h)
    assert dns.code == 201 and dns.body["spec"]["clusterIPs"] == ["10.96.0.10"]
    bad = run(create(svc("web", clusterIP=ip)), h=h)
    assert cause(bad) == ("spec.clusterIPs[0]", f'Invalid value: "{ip}": failed to allocate IP {ip}: {why}')
    assert set(claims(kv)) == {SERVICE_IPS_PREFIX + "10.96.0.10"}


@pytest.mark.parametrize("spec, field, message", [
    ({"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.6"]}, "spec.clusterIPs",
     'Invalid value: ["10.96.0.6"]: first value must match `clusterIP`'),
    ({"clusterIPs": ["10.96.0.6"]}, "spec.clusterIPs",
     'Invalid value: ["10.96.0.6"]: must be empty when `clusterIP` is not specified'),
    ({"clusterIP": "None", "clusterIPs": ["None", "10.96.0.6"]}, "spec.clusterIPs",
     'Invalid value: ["None","10.96.0.6"]: \'None\' must be the first and only value'),
])
def test_cluster_ip_fields_must_agree(spec: dict, field: str, message: str) -> None:
    kv, h = setup()
    assert cause(run(create(svc("web", **spec)), h=h)) == (field, message)
    assert claims(kv) == {}


# -------------------------------------------------------------- node ports
def test_node_ports_are_allocated_claimed_and_shared_by_protocols_of_one_port() -> None:
    kv, h = setup()
    dns = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
           {"name": "metrics", "port": 9153}]
    out = run(create(svc("dns", type="NodePort", ports=dns)), h=h)
    assert out.code == 201, out.body
    udp, tcp, metrics = node_ports(out.body)
    assert udp == tcp != metrics and all(30000 <= p <= 32767 for p in (udp, metrics))
    assert {k for k in claims(kv) if k.startswith(NODE_PORTS_PREFIX)} == \
        {NODE_PORTS_PREFIX + str(udp), NODE_PORTS_PREFIX + str(metrics)}
    # a chosen one is shared as well
    dns[1]["nodePort"] = 30053
    chosen = run(create(svc("dns2", type="NodePort", ports=dns)), h=h)
    assert chosen.code == 201 and node_ports(chosen.body)[:2] == [30053, 30053]


def test_a_chosen_node_port_must_be_in_range_and_free() -> None:
    kv, h = setup(node_port_range=(30000, 30009))
    first = run(create(svc("a", type="NodePort", ports=[{"port": 80, "nodePort": 30005}])), h=h)
    assert first.code == 201 and node_ports(first.body) == [30005]
    before = claims(kv)
    taken = run(create(svc("b", type="NodePort", ports=[{"port": 80, "nodePort": 30005}])), h=h)
    assert cause(taken) == ("spec.ports[0].nodePort", "Invalid value: 30005: provided port is already allocated")
    outside = run(create(svc("b", type="NodePort", ports=[{"port": 80, "nodePort": 30500}])), h=h)
    assert cause(outside) == ("spec.ports[0].nodePort", "Invalid value: 30500: provided port is not in the "
                                                        "valid range. The range of valid ports is 30000-30009")
    assert claims(kv) == before


def test_a_full_node_port_range_is_an_internal_error_that_claims_nothing() -> None:
    kv, h = setup(node_port_range=(30000, 30001))
    two = run(create(svc("a", type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}])), h=h)
    assert two.code == 201 and sorted(node_ports(two.body)) == [30000, 30001]
    before = claims(kv)
    full = run(create(svc("b", type="NodePort")), h=h)
    assert full.code == 500
    assert full.body["message"] == "Internal error occurred: failed to allocate a nodePort: range is full"
    assert claims(kv) == before


def test_load_balancer_node_ports_and_health_check_port() -> None:
    kv, h = setup()
    bare, local = run(create(svc("bare", type="LoadBalancer", allocateLoadBalancerNodePorts=False)),
                      create(svc("local", type="LoadBalancer", externalTrafficPolicy="Local")), h=h)
    assert bare.code == 201 and node_ports(bare.body) == [None] and "healthCheckNodePort" not in bare.body["spec"]
    assert local.code == 201, local.body
    hc, (np,) = local.body["spec"]["healthCheckNodePort"], node_ports(local.body)
    assert 30000 <= hc <= 32767 and hc != np
    assert {k for k in claims(kv) if k.startswith(NODE_PORTS_PREFIX)} == \
        {NODE_PORTS_PREFIX + str(hc), NODE_PORTS_PREFIX + str(np)}
    taken = run(create(svc("b", type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=hc)), h=h)
    assert cause(taken) == ("spec.healthCheckNodePort", f"Invalid value: {hc}: provided port is already allocated")
    cluster = run(create(svc("c", type="LoadBalancer", healthCheckNodePort=31000)), h=h)
    assert cause(cluster) == ("spec.healthCheckNodePort", "Invalid value: 31000: may only be set when `type` is "
                                                          "'LoadBalancer' and `externalTrafficPolicy` is 'Local'")


# ----------------------------------------------------------------- updates
def test_an_update_that_omits_allocated_values_keeps_them() -> None:
    kv, h = setup()
    ports = [{"name": "a", "port": 80}, {"name": "b", "port": 81}]
    made = run(create(svc("web", type="NodePort", ports=ports)), h=h).body
    before = claims(kv)
    revisions = {k: kv.store.get(k.encode())["mod_revision"] for k in before}
    body = svc("web", type="NodePort", ports=[dict(p) for p in ports])  # no clusterIP, no nodePorts
    body["metadata"]["labels"] = {"tier": "front"}
    out = run(update(body), h=h)
    assert out.code == 200, out.body
    assert out.body["spec"]["clusterIP"] == made["spec"]["clusterIP"]
    assert node_ports(out.body) == node_ports(made)
    assert {k: kv.store.get(k.encode())["mod_revision"] for k in claims(kv)} == revisions  # untouched
    # a port added gets a node port, a port removed releases its own
    body["spec"]["ports"] = [{"name": "b", "port": 81}, {"name": "c", "port": 82}]
    out = run(update(body), h=h)
    kept, added = node_ports(out.body)
    assert kept == node_ports(made)[1] and added not in node_ports(made)
    ports_claimed = {k for k in claims(kv) if k.startswith(NODE_PORTS_PREFIX)}
    assert ports_claimed == {NODE_PORTS_PREFIX + str(kept), NODE_PORTS_PREFIX + str(added)}


def test_cluster_ip_may_not_change() -> None:
    _, h = setup()
    made = run(create(svc("web")), h=h).body
    made["spec"]["clusterIP"], made["spec"]["clusterIPs"] = "10.96.0.99", ["10.96.0.99"]
    assert cause(run(update(made), h=h)) == ("spec.clusterIPs[0]",
                                             'Invalid value: ["10.96.0.99"]: may not change once set')


def test_node_port_to_cluster_ip_releases_the_node_ports() -> None:
    kv, h = setup()
    made = run(create(svc("web", type="NodePort")), h=h).body
    (port,) = node_ports(made)
    made["spec"]["type"] = "ClusterIP"  # the stored object, as kubectl edit sends it
    out = run(update(made), h=h)
    assert out.code == 200, out.body
    assert node_ports(out.body) == [None] and "externalTrafficPolicy" not in out.body["spec"]
    assert out.body["spec"]["clusterIP"] == made["spec"]["clusterIP"]
    assert set(claims(kv)) == {SERVICE_IPS_PREFIX + made["spec"]["clusterIP"]}
    other = run(create(svc("other", type="NodePort", ports=[{"port": 80, "nodePort": port}])), h=h)
    assert other.code == 201 and node_ports(other.body) == [port]


def test_external_name_transitions_allocate_and_release() -> None:
    kv, h = setup()
    ext = run(create(svc("web", ports=[], type="ExternalName", externalName="example.com")), h=h).body
    ext["spec"].update(type="ClusterIP", ports=[{"port": 80}])
    del ext["spec"]["externalName"]
    to_cluster = run(update(ext), h=h)
    assert to_cluster.code == 200, to_cluster.body
    ip = to_cluster.body["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12")
    assert set(claims(kv)) == {SERVICE_IPS_PREFIX + ip}
    back = to_cluster.body
    back["spec"].update(type="ExternalName", externalName="example.com")
    to_external = run(update(back), h=h)
    assert to_external.code == 200, to_external.body
    assert "clusterIP" not in to_external.body["spec"] and "clusterIPs" not in to_external.body["spec"]
    assert claims(kv) == {}


def test_allocator_update_claims_only_the_difference() -> None:
    alloc = ServiceAllocator(node_port_range=(30000, 30009), rng=FirstRng())
    old = svc("web", type="NodePort", clusterIP="10.96.0.5", clusterIPs=["10.96.0.5"],
              ports=[{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30002}])
    new = svc("web", type="NodePort", clusterIP="10.96.0.5", clusterIPs=["10.96.0.5"],
              ports=[{"name": "b", "port": 81, "nodePort": 30002}, {"name": "c", "port": 82}])
    got = alloc.allocate(new, old, Taken(frozenset({"10.96.0.5"}), frozenset({30001, 30002, 30000})))
    assert node_ports(new) == [30002, 30003]  # 30000 and 30001 taken or still held by this write's old self
    assert got == Claims(create=(NODE_PORTS_PREFIX + "30003",), delete=(NODE_PORTS_PREFIX + "30001",))


# ------------------------------------------------------ deletes, dry runs
def test_deleting_releases_the_claims_also_after_finalizers() -> None:
    kv, h = setup()
    plain = run(create(svc("plain", type="NodePort")), h=h)
    held = svc("held", type="NodePort")
    held["metadata"]["finalizers"] = ["example.com/wait"]
    held = run(create(held), h=h).body
    assert len(claims(kv)) == 4
    assert run(delete("plain"), h=h).code == 200
    assert all(owner["name"] == "held" for owner in claims(kv).values()) and len(claims(kv)) == 2
    marked = run(delete("held"), h=h)
    assert marked.code == 200 and "deletionTimestamp" in marked.body["metadata"]
    assert len(claims(kv)) == 2  # still there while the finalizer is
    finished = marked.body
    finished["metadata"]["finalizers"] = []
    assert run(update(finished), h=h).code == 200
    assert run(get("held"), h=h).code == 404 and claims(kv) == {}
    assert plain.body["spec"]["clusterIP"] != held["spec"]["clusterIP"]


def test_dry_run_allocates_but_claims_nothing() -> None:
    kv, h = setup()
    dry = run(create(svc("web", type="NodePort"), dryRun="All"), h=h)
    assert dry.code == 201 and dry.body["spec"]["clusterIP"] and node_ports(dry.body)[0]
    assert claims(kv) == {} and run(get("web"), h=h).code == 404
    made = run(create(svc("web", type="NodePort")), h=h).body
    before = claims(kv)
    made["spec"]["ports"].append({"name": "extra", "port": 81})
    made["spec"]["ports"][0]["name"] = "http"
    out = run(update(made, dryRun="All"), h=h)
    assert out.code == 200 and node_ports(out.body)[1] not in (None, node_ports(made)[0])
    assert claims(kv) == before


def test_a_failed_create_claims_nothing() -> None:
    kv, h = setup()
    assert run(create(svc("web")), h=h).code == 201
    before = claims(kv)
    again = run(create(svc("web", type="NodePort", clusterIP="10.96.0.20")), h=h)
    assert again.code == 409 and again.body["reason"] == "AlreadyExists"
    assert claims(kv) == before


def test_the_apiserver_passes_its_ranges_to_the_allocator() -> None:
    async def go() -> tuple[str, tuple[int, int]]:
        server = APIServer(LocalKV(), service_cidr="10.0.0.0/24", node_port_range=(31000, 31099))
        try:
            alloc = server.handler.allocator
            return str(alloc.cidr), alloc.node_port_range
        finally:
            await server.close()
    assert asyncio.run(go()) == ("10.0.0.0/24", (31000, 31099))
