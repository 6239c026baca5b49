"""kube-proxy's rules (netsim.services) and the data plane's flows
(netsim.host, netsim.external) without any cluster: compiled from Service
and EndpointSlice objects, looked up, chosen; flows that succeed, are
refused, find no route, time out at a dead node; the hops they record."""
from __future__ import annotations

import asyncio

import pytest

from netsim.external import Outside
from netsim.host import Fabric, Host
from netsim.pods import PodNetwork
from netsim.services import (ACCEPT, CLUSTER_IP, DROP, LOAD_BALANCER, NODE_PORT, REJECT, ROUND_ROBIN,
                             SERVICE_NAME_LABEL, ServiceTable, service_ports)
from netsim.traffic import http_listener

from .ctrl_fakes import run


def svc(**spec) -> dict:
    base = {"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    return {"metadata": {"name": "web", "namespace": "app"}, "spec": {**base, **spec}}


def endpoint(ip: str, node: str, ready: bool = True, terminating: bool = False, serving: bool | None = None) -> dict:
    cond = {"ready": ready, "terminating": terminating}
    if serving is not None:
        cond["serving"] = serving
    return {"addresses": [ip], "nodeName": node, "conditions": cond,
            "targetRef": {"kind": "Pod", "namespace": "app", "name": f"web-{ip.rsplit('.', 1)[1]}"}}


def slice_(*eps: dict, name: str = "web-a") -> dict:
    return {"metadata": {"name": name, "namespace": "app", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": list(eps)}


def test_compile_a_service_and_its_slices():
    ports = service_ports(svc(type="LoadBalancer", externalTrafficPolicy="Local", sessionAffinity="ClientIP",
                              ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
                              externalIPs=["198.51.100.9"]),
                          [slice_(endpoint("10.244.1.5", "n1"), endpoint("10.244.2.5", "n2", ready=False)),
                           slice_(endpoint("10.244.1.5", "n1"), name="web-b")])
    assert len(ports) == 1
    sp = ports[0]
    assert (sp.key, sp.port, sp.node_port, sp.external_local, sp.affinity_seconds) == \
        ("app/web:http", 80, 30080, True, 10800)
    assert [(e.ip, e.port, e.node, e.ready, e.pod) for e in sp.endpoints] == \
        [("10.244.1.5", 8080, "n1", True, "app/web-5"), ("10.244.2.5", 8080, "n2", False, "app/web-5")]
    assert sp.external_ips == ("198.51.100.9",)
    assert service_ports(svc(clusterIP="None", clusterIPs=["None"]), []) == []          # headless: DNS only
    assert service_ports({"metadata": {"name": "x", "namespace": "a"},
                          "spec": {"type": "ExternalName", "externalName": "example.com"}}, []) == []
    other_port = slice_(endpoint("10.244.1.9", "n1"))
    other_port["ports"][0]["name"] = "metrics"
    assert service_ports(svc(), [other_port])[0].endpoints == ()                         # no port of that name


def test_choose_rejects_drops_falls_back_and_masquerades():
    table = ServiceTable()
    table.set_service("app/web", service_ports(svc(type="NodePort", externalTrafficPolicy="Local",
                                                   internalTrafficPolicy="Local",
                                                   ports=[{"name": "http", "port": 80, "protocol": "TCP",
                                                           "nodePort": 30080}]),
                                               [slice_(endpoint("10.244.1.5", "n1"))]))
    sp, kind = table.lookup("10.96.0.20", 80, "TCP")
    assert kind == CLUSTER_IP
    assert table.lookup("172.16.0.1", 30080, "TCP", ("172.16.0.1",))[1] == NODE_PORT
    assert table.lookup("172.16.0.2", 30080, "TCP", ("172.16.0.1",)) is None      # not this node's address
    assert table.choose(sp, CLUSTER_IP, "n1", "10.244.1.9", False).endpoint.ip == "10.244.1.5"
    assert table.choose(sp, CLUSTER_IP, "n2", "10.244.2.9", False).verdict == DROP   # internal Local, none here
    d = table.choose(sp, NODE_PORT, "n1", "192.0.2.10", True)
    assert (d.verdict, d.masquerade) == (ACCEPT, False)                            # Local keeps the client's address
    assert table.choose(sp, NODE_PORT, "n2", "192.0.2.10", True).verdict == DROP
    assert table.choose(sp, NODE_PORT, "n2", "10.244.2.9", False).verdict == ACCEPT  # pods: short-circuited
    # no ready endpoint: the terminating-but-serving ones, else a reject
    table.set_service("app/web", service_ports(svc(), [slice_(endpoint("10.244.1.5", "n1", ready=False,
                                                                       terminating=True, serving=True))]))
    sp, _ = table.lookup("10.96.0.20", 80, "TCP")
    assert table.choose(sp, CLUSTER_IP, "n1", "x", False).endpoint.ip == "10.244.1.5"
    table.set_service("app/web", service_ports(svc(), [slice_(endpoint("10.244.1.5", "n1", ready=False))]))
    sp, _ = table.lookup("10.96.0.20", 80, "TCP")
    assert table.choose(sp, CLUSTER_IP, "n1", "x", False).verdict == REJECT
    table.set_service("app/web", [])
    assert table.lookup("10.96.0.20", 80, "TCP") is None and len(table) == 0


def test_cluster_policy_masquerades_external_traffic_and_affinity_expires():
    now = [1000.0]
    table = ServiceTable(clock=lambda: now[0])
    eps = [endpoint(f"10.244.1.{i}", "n1") for i in range(2, 6)]
    lb = svc(type="LoadBalancer", sessionAffinity="ClientIP",
             sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
             ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}])
    table.set_service("app/web", service_ports(lb, [slice_(*eps)]))
    sp, _ = table.lookup("10.96.0.20", 80, "TCP")
    first = table.choose(sp, NODE_PORT, "n1", "192.0.2.10", True)
    assert first.masquerade and first.how == "random of 4"
    for _ in range(20):
        now[0] += 30                                    # renewed by every connection
        assert table.choose(sp, NODE_PORT, "n1", "192.0.2.10", True).endpoint == first.endpoint
    now[0] += 61                                        # idle past the timeout: a fresh pick
    assert table.choose(sp, NODE_PORT, "n1", "192.0.2.10", True).how == "random of 4"


def test_round_robin_takes_turns_and_modes_are_checked():
    table = ServiceTable(mode=ROUND_ROBIN)
    table.set_service("app/web", service_ports(svc(), [slice_(*(endpoint(f"10.244.1.{i}", "n1")
                                                                for i in (2, 3, 4)))]))
    sp, _ = table.lookup("10.96.0.20", 80, "TCP")
    assert [table.choose(sp, CLUSTER_IP, "n1", "c", False).endpoint.ip for _ in range(6)] == \
        ["10.244.1.2", "10.244.1.3", "10.244.1.4"] * 2
    with pytest.raises(ValueError, match="proxy mode"):
        ServiceTable(mode="userspace")


# ------------------------------------------------------------------ flows
async def hello(method, path, headers, body, client):
    return 200, {}, f"hello {client.split(':')[0]}".encode()


def two_hosts() -> tuple[Fabric, dict, PodNetwork, PodNetwork]:
    """Two nodes on two hosts sharing one (logical) fabric view."""
    hosts: dict[str, Host] = {}
    fab_a, fab_b = Fabric(), Fabric()
    a = PodNetwork(Host("ha", fab_a, links=hosts.get), "n1")
    b = PodNetwork(Host("hb", fab_b, links=hosts.get), "n2")
    hosts.update(ha=a.host, hb=b.host)
    a.set_pod_cidr("10.244.1.0/24")
    b.set_pod_cidr("10.244.2.0/24")
    for h in (a.host, b.host):
        h.program_node("n1", ["172.16.0.1"], "ha")
        h.program_node("n2", ["172.16.0.2"], "hb")
        h.program_route("10.244.1.0/24", "n1")
        h.program_route("10.244.2.0/24", "n2")
    return fab_a, hosts, a, b


def test_flows_across_hosts_and_their_failures():
    async def go() -> None:
        _, hosts, a, b = two_hosts()
        client = a.host.nodes["n1"].namespaces[a.setup("s1", pod="app/client").interfaces[2].sandbox]
        server_ip = b.setup("s2", pod="app/server").ip
        b.namespace(server_ip).bind(8080, http_listener(hello))
        reply = await a.host.request(client, server_ip, 8080, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.ok and reply.payload.endswith(f"hello {client.ip}".encode())
        assert [h.where for h in reply.hops] == ["pod app/client", "node n1", "node n2", "node n2", "pod app/server"]
        assert "route 10.244.2.0/24 via overlay -> node n2 (172.16.0.2)" in reply.path()
        assert (await a.host.request(client, server_ip, 9, b"x")).error == "refused"
        assert (await a.host.request(client, "10.244.2.77", 80, b"x")).error == "no-route"   # nobody has it
        assert (await a.host.request(client, "10.99.0.1", 80, b"x")).error == "no-route"     # no route at all
        assert (await a.host.request(client, "web", 80, b"x")).error == "nxdomain"           # no DNS here
        assert (await a.host.request(client, "localhost", 8080, b"x")).error == "refused"    # its own port space
        # the other host dies: its node's traffic goes nowhere
        del hosts["hb"]
        a.host.program_node("n2", ["172.16.0.2"], "hb")
        assert (await a.host.request(client, server_ip, 8080, b"x", timeout=0.2)).error in ("no-route", "timeout")

        class Dead:
            async def deliver(self, node, flow):
                raise ConnectionError("actor died")
        a.host.fabric.set_node("n2", ("172.16.0.2",), Dead())
        reply = await a.host.request(client, server_ip, 8080, b"x", timeout=0.2)
        assert reply.error == "timeout" and "unreachable (ConnectionError)" in reply.path()
    run(go(), timeout=20)


def test_a_slow_server_times_out_and_the_outside_reaches_only_node_ports():
    async def go() -> None:
        _, hosts, a, b = two_hosts()
        server_ip = b.setup("s2", pod="app/server").ip

        async def slow(payload, peer):
            await asyncio.sleep(5)
            return b""
        b.namespace(server_ip).bind(8080, slow)
        reply = await a.host.request("n1", server_ip, 8080, b"x", timeout=0.1)
        assert reply.error == "timeout" and "no answer within 0.1s" in reply.path()
        b.namespace(server_ip).listeners.clear()
        b.namespace(server_ip).bind(8080, http_listener(hello))
        ports = service_ports(svc(type="NodePort", ports=[{"name": "http", "port": 80, "protocol": "TCP",
                                                           "nodePort": 30080}]),
                              [slice_(endpoint(server_ip, "n2"))])
        outside = Outside(links=hosts.get)
        for dp in (a.host, b.host, outside):
            dp.program_service("app/web", ports)
        outside.program_node("n1", ["172.16.0.1"], "ha")
        outside.program_node("n2", ["172.16.0.2"], "hb")
        reply = await outside.request("172.16.0.1", 30080, b"GET / HTTP/1.1\r\n\r\n")
        assert reply.ok and reply.payload.endswith(b"hello 172.16.0.1")             # masqueraded by node n1
        assert "kube-proxy n1" in reply.path() and "masquerade source as 172.16.0.1" in reply.path()
        assert (await outside.request(server_ip, 8080, b"x")).error == "no-route"    # pods are not public
        assert (await outside.request("10.96.0.20", 80, b"x")).error == "no-route"
        assert (await outside.request("web.app", 80, b"x")).error == "nxdomain"
        assert LOAD_BALANCER not in reply.path()
    run(go(), timeout=20)
