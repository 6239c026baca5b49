"""The cluster DNS server fed by real Service and EndpointSlice informers over an
in-process apiserver: answers follow API writes, and the kube-dns Service."""
from __future__ import annotations

import asyncio
import pickle
from typing import Any

from actors.addons.dns import ClusterDNS, ensure_kube_dns_service, kube_dns_service
from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from kubeapi import errors
from kubeapi.client import Client
from kubeapi.field import invalid
from kubeapi.informer import DeletedFinalStateUnknown, SharedInformer, SharedInformerFactory
from netsim.dns import NOERROR, NXDOMAIN, REFUSED, SERVFAIL, SRV, DNSAnswer, DNSRecord, pod_dns_config, resolve
from tests.fakes import eventually

from .ctrl_fakes import run

Z = "cluster.local."


def service(name: str, ns: str = "ns", *, cluster_ip: str = "10.96.0.5", port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}}


def endpoint_slice(name: str, svc: str, ips: list[str], ns: str = "ns", *, not_ready: tuple[str, ...] = ()) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ip not in not_ready}} for ip in ips]}


async def api() -> tuple[APIServer, Client]:
    server = APIServer(LocalKV())
    client = Client(LocalTransport(server), poll_seconds=0.05)
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    return server, client


def ips(dns: ClusterDNS, name: str, qtype: str = "A") -> list[Any]:
    return [r["data"] for r in dns.query(name, qtype)["answers"]]


async def answers_become(dns: ClusterDNS, name: str, want: list[Any], qtype: str = "A") -> None:
    async def now() -> bool:
        return ips(dns, name, qtype) == want
    await eventually(now, f"{qtype} {name} -> {want} (last: {dns.query(name, qtype)})", tries=250)


async def rcode_becomes(dns: ClusterDNS, name: str, rcode: str, qtype: str = "A") -> None:
    async def now() -> bool:
        return dns.query(name, qtype)["rcode"] == rcode
    await eventually(now, f"{qtype} {name} -> {rcode}", tries=250)


def test_answers_follow_services_and_slices_written_through_the_api():
    async def go() -> None:
        _, client = await api()
        factory = SharedInformerFactory(client)
        dns = ClusterDNS()
        dns.attach(factory)
        stop = asyncio.Event()
        factory.start(stop)
        assert all((await factory.wait_for_cache_sync(5)).values())
        try:
            await client.create(service("web"))
            await answers_become(dns, "web.ns.svc.cluster.local", ["10.96.0.5"])
            srv = dns.query("_http._tcp.web.ns.svc.cluster.local", "SRV")
            assert srv["answers"][0]["data"] == {"priority": 0, "weight": 100, "port": 80,
                                                 "target": "web.ns.svc." + Z}

            await client.create(service("db", cluster_ip="None"))
            await client.create(endpoint_slice("db-1", "db", ["10.0.0.2", "10.0.0.3", "10.0.0.4"],
                                               not_ready=("10.0.0.4",)))
            await answers_become(dns, "db.ns.svc.cluster.local", ["10.0.0.2", "10.0.0.3"])
            assert ips(dns, "3.0.0.10.in-addr.arpa", "PTR") == ["10-0-0-3.db.ns.svc." + Z]

            # the slice changes: the headless answers follow
            current = await client.get("endpointslices", "db-1", "ns")
            current["endpoints"] = [{"addresses": ["10.0.0.4"], "conditions": {"ready": True}, "hostname": "db-0"}]
            await client.update(current)
            await answers_become(dns, "db.ns.svc.cluster.local", ["10.0.0.4"])
            assert ips(dns, "db-0.db.ns.svc.cluster.local") == ["10.0.0.4"]
            assert dns.query("10-0-0-2.db.ns.svc.cluster.local", "A")["rcode"] == NXDOMAIN
            srv = dns.query("_http._tcp.db.ns.svc.cluster.local", "SRV")
            assert [r["data"]["target"] for r in srv["answers"]] == ["db-0.db.ns.svc." + Z]
            assert srv["answers"][0]["data"]["port"] == 8080

            # a pod resolves short names through its search list
            cfg = pod_dns_config({"metadata": {"namespace": "ns"}, "spec": {}}, cluster_dns=["10.96.0.10"],
                                 cluster_domain="cluster.local", host=None)
            got = resolve(dns.lookup, "web", "A", cfg)
            assert (got.fqdn, [r.data for r in got.answers]) == ("web.ns.svc." + Z, ["10.96.0.5"])
            got = resolve(dns.lookup, "db-0.db", "A", cfg)
            assert (got.fqdn, [r.data for r in got.answers]) == ("db-0.db.ns.svc." + Z, ["10.0.0.4"])

            # deletions remove the names
            await client.delete("services", "web", "ns")
            await rcode_becomes(dns, "web.ns.svc.cluster.local", NXDOMAIN)
            assert dns.query("5.0.96.10.in-addr.arpa", "PTR")["rcode"] == NXDOMAIN
            await client.delete("endpointslices", "db-1", "ns")
            await rcode_becomes(dns, "db.ns.svc.cluster.local", NXDOMAIN)

            stats = dns.stats()
            assert (stats["synced"], stats["services"], stats["endpointSlices"]) == (True, 1, 0)
            assert stats["events"]["service"] >= 2 and stats["events"]["service-delete"] == 1
            assert stats["events"]["endpointslice-delete"] == 1
            assert stats["rcodes"][NOERROR] > 0 and stats["rcodes"][NXDOMAIN] > 0
        finally:
            stop.set()
            await asyncio.sleep(0)
    run(go(), timeout=30)


def test_servfail_until_the_informers_have_listed():
    async def go() -> None:
        _, client = await api()
        await client.create(service("web"))
        services, slices = SharedInformer(client, "services"), SharedInformer(client, "endpointslices")
        dns = ClusterDNS()
        dns.attach_informers(services, slices)
        assert dns.query("web.ns.svc.cluster.local", "A")["rcode"] == SERVFAIL
        assert dns.query("example.com", "A")["rcode"] == REFUSED  # not ours either way
        stop = asyncio.Event()
        tasks = [asyncio.create_task(i.run(stop)) for i in (services, slices)]
        try:
            await answers_become(dns, "web.ns.svc.cluster.local", ["10.96.0.5"])
            assert dns.stats()["synced"] is True
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    run(go())


def test_run_watches_through_a_client():
    async def go() -> None:
        _, client = await api()
        dns = ClusterDNS("corp.internal", ttl=30)
        stop = asyncio.Event()
        task = asyncio.create_task(dns.run(client, stop))
        try:
            await client.create(service("web", cluster_ip="10.96.0.8"))
            await answers_become(dns, "web.ns.svc.corp.internal", ["10.96.0.8"])
            assert dns.query("web.ns.svc.corp.internal", "A")["answers"][0]["ttl"] == 30
            assert dns.query("web.ns.svc.cluster.local", "A")["rcode"] == REFUSED
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
    run(go())


def test_deletions_seen_only_by_a_relist_arrive_as_tombstones():
    dns = ClusterDNS()
    svc = service("db", cluster_ip="None")
    sl = endpoint_slice("db-1", "db", ["10.0.0.2"])
    dns.on_service_add(svc)
    dns.on_slice_add(sl)
    assert ips(dns, "db.ns.svc.cluster.local") == ["10.0.0.2"]
    dns.on_slice_delete(DeletedFinalStateUnknown("ns/db-1", sl))
    assert dns.query("db.ns.svc.cluster.local", "A")["rcode"] == NXDOMAIN
    dns.on_slice_add(sl)
    dns.on_service_delete(DeletedFinalStateUnknown("ns/db", svc))
    assert dns.query("db.ns.svc.cluster.local", "A")["rcode"] == NXDOMAIN
    assert dns.stats()["services"] == 0 and dns.stats()["endpointSlices"] == 1


def test_query_answers_are_plain_picklable_data():
    dns = ClusterDNS()
    dns.on_service_add(service("web"))
    d = dns.query("_http._tcp.web.ns.svc.cluster.local", "srv")
    back = pickle.loads(pickle.dumps(d))
    assert back == d and type(back) is dict
    answer = DNSAnswer.from_dict(back)
    assert answer.answers == [DNSRecord("_http._tcp.web.ns.svc." + Z, "SRV", 5, SRV(0, 100, 80, "web.ns.svc." + Z))]
    assert answer.additional == [DNSRecord("web.ns.svc." + Z, "A", 5, "10.96.0.5")]


def test_upstream_gets_outside_names_unknown_reverse_lookups_and_external_cnames():
    asked: list[tuple[str, str]] = []

    def upstream(name: str, qtype: str) -> DNSAnswer:
        asked.append((name, qtype))
        if name == "www.example.com.":
            return DNSAnswer(name, qtype, NOERROR, [DNSRecord(name, "A", 300, "192.0.2.53")])
        if name == "broken.example.":
            raise ConnectionError("upstream unreachable")
        return DNSAnswer(name, qtype, NXDOMAIN)

    dns = ClusterDNS(upstream=upstream)
    dns.on_service_add(service("web"))
    dns.on_service_add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "ns"},
                        "spec": {"type": "ExternalName", "externalName": "www.example.com"}})
    got = dns.query("ext.ns.svc.cluster.local", "A")
    assert [(r["type"], r["data"]) for r in got["answers"]] == [("CNAME", "www.example.com."), ("A", "192.0.2.53")]
    assert got["rcode"] == NOERROR
    out = dns.query("www.example.com", "A")
    assert (out["rcode"], out["authoritative"], ips(dns, "www.example.com")) == (NOERROR, False, ["192.0.2.53"])
    assert dns.query("9.9.9.9.in-addr.arpa", "PTR")["rcode"] == NXDOMAIN
    assert ("9.9.9.9.in-addr.arpa.", "PTR") in asked  # fell through
    assert ips(dns, "5.0.96.10.in-addr.arpa", "PTR") == ["web.ns.svc." + Z]  # ours: answered here
    assert ("5.0.96.10.in-addr.arpa.", "PTR") not in asked
    assert dns.query("nope.ns.svc.cluster.local", "A")["rcode"] == NXDOMAIN  # the zone is never forwarded
    assert ("nope.ns.svc.cluster.local.", "A") not in asked
    assert dns.query("broken.example", "A")["rcode"] == SERVFAIL


def test_kube_dns_service_object():
    svc = kube_dns_service("10.96.0.10")
    assert (svc["metadata"]["namespace"], svc["metadata"]["name"]) == ("kube-system", "kube-dns")
    assert svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert svc["metadata"]["labels"]["kubernetes.io/name"] == "CoreDNS"
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert svc["spec"]["selector"] == {"k8s-app": "kube-dns"}
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == \
        [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
    assert kube_dns_service("10.0.0.10")["spec"]["clusterIP"] == "10.0.0.10"


def test_ensure_kube_dns_service_creates_once_and_dns_answers_for_itself():
    async def go() -> None:
        server, client = await api()
        await server.ensure_system_objects()
        made = await ensure_kube_dns_service(client, "10.96.0.10")
        assert made["spec"]["clusterIP"] == "10.96.0.10" and made["metadata"]["uid"]
        again = await ensure_kube_dns_service(client, "10.96.0.10")  # AlreadyExists: the stored one
        assert again["metadata"]["uid"] == made["metadata"]["uid"]
        listed = await client.list("services", "kube-system")
        assert [s["metadata"]["name"] for s in listed["items"]] == ["kube-dns"]

        dns = ClusterDNS()
        stop = asyncio.Event()
        task = asyncio.create_task(dns.run(client, stop))
        try:
            await answers_become(dns, "kube-dns.kube-system.svc.cluster.local", ["10.96.0.10"])
            udp = dns.query("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV")["answers"]
            assert [(r["data"]["port"], r["data"]["target"]) for r in udp] == \
                [(53, "kube-dns.kube-system.svc." + Z)]
            assert ips(dns, "10.0.96.10.in-addr.arpa", "PTR") == ["kube-dns.kube-system.svc." + Z]
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
    run(go())


def test_ensure_kube_dns_service_reraises_when_another_service_holds_the_ip():
    class IPTaken:
        """A client whose apiserver refuses the IP (held elsewhere) and has no kube-dns."""

        def __init__(self) -> None:
            self.calls: list[str] = []

        async def create(self, obj: dict, namespace: str | None = None) -> dict:
            self.calls.append(f"create {namespace}/{obj['metadata']['name']}")
            raise errors.invalid("Service", "kube-dns", [invalid(
                "spec.clusterIPs[0]", "10.96.0.10", "failed to allocate IP 10.96.0.10: provided IP is already allocated")])

        async def get(self, resource: str, name: str, namespace: str | None = None) -> dict:
            self.calls.append(f"get {namespace}/{name}")
            raise errors.not_found(resource, name)

    async def go() -> None:
        client = IPTaken()
        try:
            await ensure_kube_dns_service(client, "10.96.0.10")
        except errors.ApiError as e:
            assert errors.is_invalid(e) and "already allocated" in str(e)
        else:
            raise AssertionError("expected the Invalid error")
        assert client.calls == ["create kube-system/kube-dns", "get kube-system/kube-dns"]
    run(go())
