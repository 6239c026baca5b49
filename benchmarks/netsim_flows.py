"""What the pod network costs: flows per second through its data plane
(pod to pod on one host and across hosts, pod to a Service's ClusterIP, pod
to a Service by DNS name) with many Services programmed, how long a
Service's rules take to program, and the memory of a pod's namespace and of
a Service's rules.

Everything runs in one process: hosts linked in-process as a pool's nodes
are, agnhost-like listeners in every pod, the cluster DNS's records and
kube-proxy's table filled directly (no apiserver), so the numbers are the
network's own.

    python -m benchmarks.netsim_flows [--hosts 2] [--nodes 10] [--pods 1000] [--services 1000] [--flows 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
import time
import tracemalloc
from typing import Any

from netsim.addresses import CLUSTER_DNS_IP
from netsim.dns import DNSRecords, ResolverConfig
from netsim.host import Fabric, Host
from netsim.pods import PodNetwork
from netsim.resolver import local_nameserver, pod_resolver
from netsim.services import SERVICE_NAME_LABEL, ServiceTable, service_ports
from netsim.traffic import http_listener, http_request_bytes


async def hostname(method: str, path: str, headers: dict, body: bytes, client: str) -> tuple[int, dict, bytes]:
    return 200, {}, b"ok"


def service(i: int, ips: list[str]) -> tuple[dict, dict]:
    name = f"svc-{i}"
    svc = {"metadata": {"name": name, "namespace": "bench"},
           "spec": {"type": "ClusterIP", "clusterIP": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
    svc["spec"]["clusterIPs"] = [svc["spec"]["clusterIP"]]
    slc = {"metadata": {"name": f"{name}-x", "namespace": "bench", "labels": {SERVICE_NAME_LABEL: name}},
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}
    return svc, slc


class Bench:
    def __init__(self, hosts: int, nodes: int, pods: int, services: int, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.records = DNSRecords()
        resolve = pod_resolver({CLUSTER_DNS_IP: local_nameserver(self.records)}.get)
        registry: dict[str, Host] = {}
        table = ServiceTable(rng=random.Random(seed))
        self.hosts = [Host(f"h{h}", Fabric(), services=table, resolve=resolve, links=registry.get)
                      for h in range(hosts)]
        registry.update({h.name: h for h in self.hosts})
        self.networks: list[PodNetwork] = []
        for n in range(nodes):
            host = self.hosts[n % hosts]
            net = PodNetwork(host, f"n{n}")
            net.set_pod_cidr(f"10.{244 + n // 256}.{n % 256}.0/24")
            self.networks.append(net)
        for h in self.hosts:       # every host knows every node and route
            for n, net in enumerate(self.networks):
                h.program_node(net.node, [f"172.16.{n // 256}.{n % 256 + 1}"], net.host.name)
                h.program_route(net.plugin.ipam.subnet, net.node)
        dns = ResolverConfig([CLUSTER_DNS_IP], ["bench.svc.cluster.local", "svc.cluster.local", "cluster.local"],
                             {"ndots": "5"})
        self.pods: list[tuple[PodNetwork, str]] = []
        for p in range(pods):
            net = self.networks[p % nodes]
            ip = net.setup(f"pod-{p}", pod=f"bench/p{p}", dns=dns).ip
            net.namespace(ip).bind(8080, http_listener(hostname))
            self.pods.append((net, ip))
        self.services = services
        t0 = time.perf_counter()
        for i in range(services):
            eps = [self.pods[self.rng.randrange(pods)][1] for _ in range(3)]
            svc, slc = service(i, eps)
            self.records.set_service(svc)
            self.records.set_endpoint_slice(slc)
            table.set_service(f"bench/svc-{i}", service_ports(svc, [slc]))
        self.program_seconds = time.perf_counter() - t0

    def pick(self, same_host: bool | None) -> tuple[PodNetwork, str, str]:
        """A source pod and a destination pod IP (on the same host or not, or either)."""
        while True:
            src_net, src = self.pods[self.rng.randrange(len(self.pods))]
            dst_net, dst = self.pods[self.rng.randrange(len(self.pods))]
            if same_host is None or (src_net.host is dst_net.host) == same_host:
                return src_net, src, dst

    async def rate(self, flows: int, target: Any) -> dict:
        """``flows`` requests, each to what ``target()`` picks: flows/s, all answered?"""
        payload = http_request_bytes("GET", "x", 8080, "/")
        ok = 0
        t0 = time.perf_counter()
        for _ in range(flows):
            net, src, host, port = target()
            reply = await net.send(src, host, port, payload)
            ok += reply.ok
        dt = time.perf_counter() - t0
        return {"flows": flows, "answered": ok, "per_second": round(flows / dt, 1),
                "us_per_flow": round(dt / flows * 1e6, 1)}

    async def run(self, flows: int) -> dict:
        out: dict[str, Any] = {}

        def pod_to_pod(same: bool) -> Any:
            def pick() -> tuple:
                net, src, dst = self.pick(same)
                return net, src, dst, 8080
            return pick

        def to_service(by_name: bool) -> Any:
            def pick() -> tuple:
                net, src = self.pods[self.rng.randrange(len(self.pods))]
                i = self.rng.randrange(self.services)
                host = f"svc-{i}" if by_name else service(i, [])[0]["spec"]["clusterIP"]
                return net, src, host, 80
            return pick
        out["pod_to_pod_same_host"] = await self.rate(flows, pod_to_pod(True))
        if len(self.hosts) > 1:
            out["pod_to_pod_across_hosts"] = await self.rate(flows, pod_to_pod(False))
        if self.services:
            out["pod_to_clusterip"] = await self.rate(flows, to_service(False))
            out["pod_to_service_by_name"] = await self.rate(flows, to_service(True))
        return out


def memory(pods: int, services: int) -> dict:
    """Bytes per pod namespace (with its listener and reservation) and per Service's rules."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    bench = Bench(1, 1 + pods // 250, pods, 0)
    gc.collect()
    middle = tracemalloc.take_snapshot()
    table = bench.hosts[0].services
    for i in range(services):
        svc, slc = service(i, [bench.pods[i % pods][1]])
        table.set_service(f"bench/svc-{i}", service_ports(svc, [slc]))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    pod_bytes = sum(s.size_diff for s in middle.compare_to(before, "filename"))
    svc_bytes = sum(s.size_diff for s in after.compare_to(middle, "filename"))
    return {"pods": pods, "bytes_per_pod": pod_bytes // max(1, pods), "services": services,
            "bytes_per_service_rules": svc_bytes // max(1, services)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.netsim_flows", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=2, help="network hosts (as actors would hold them)")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--flows", type=int, default=2000, help="flows per measurement")
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args(argv)
    if min(a.hosts, a.nodes, a.pods, a.flows) < 1 or a.services < 0 or a.nodes < a.hosts or a.nodes > 65536 \
            or a.pods > a.nodes * 253:
        print("netsim_flows: need 1 <= hosts <= nodes <= 65536, pods <= 253 per node, flows >= 1", file=sys.stderr)
        return 2
    bench = Bench(a.hosts, a.nodes, a.pods, a.services)
    flows = asyncio.run(bench.run(a.flows))
    mem = memory(min(a.pods, 2000), min(a.services, 2000))
    print(f"{a.hosts} hosts, {a.nodes} nodes, {a.pods} pods, {a.services} services "
          f"(programmed in {bench.program_seconds * 1e3:.0f} ms)")
    print(f"{'flow':<26}{'flows/s':>10}{'µs/flow':>10}{'answered':>10}")
    for name, r in flows.items():
        print(f"{name:<26}{r['per_second']:>10}{r['us_per_flow']:>10}{r['answered']:>6}/{r['flows']}")
    print(f"memory: {mem['bytes_per_pod']} B per pod namespace, {mem['bytes_per_service_rules']} B per Service's rules")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "netsim_flows", "args": vars(a), "program_seconds": bench.program_seconds,
                       "flows": flows, "memory": mem}, f, indent=2)
    return 0 if all(r["answered"] == r["flows"] for r in flows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
