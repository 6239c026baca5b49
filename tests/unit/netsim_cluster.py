"""A whole cluster's network in one process, for the networking tests: an
apiserver (with its ClusterIP and NodePort allocators), the controllers that
matter (deployments, replica sets, endpoint slices, node IPAM, the cloud's
load balancers and routes over a FakeCloud), hollow nodes in two pools —
two network hosts, as two actors would be, so flows cross the fabric — each
pool with its hollow kube-proxy, the cluster DNS, and the outside world.
A tiny binder spreads pending pods over the nodes in turn."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any, AsyncIterator

from actors.addons.dns import ClusterDNS, ensure_kube_dns_service
from actors.apiserver.server import APIServer, LocalTransport
from actors.apiserver.storage import LocalKV
from actors.cloud.controllers import RouteController, ServiceLBController
from actors.cloud.provider import FakeCloud
from actors.controllers.manager import CONTROLLERS, Settings
from actors.kubelet.kubelet import KubeletConfig
from actors.kubelet.node import NodeConfig
from actors.kubelet.pool import NodePool
from actors.proxy.proxier import FabricSync, Proxier
from kubeapi.client import Client
from kubeapi.informer import SharedInformerFactory
from netsim.addresses import CLUSTER_DNS_IP, node_address
from netsim.external import Outside
from netsim.host import RouteEntry
from netsim.resolver import local_nameserver, pod_resolver
from netsim.services import RANDOM
from netsim.traffic import Reply, http_request_bytes, parse_http_response
from tests.fakes import eventually

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.52"
BUSYBOX = "busybox:1.36"
CONTROLLER_NAMES = ("deployment", "replicaset", "endpointslice", "nodeipam")


class NetCluster:
    def __init__(self, pools: int = 2, nodes_per_pool: int = 2, *, proxy_mode: str = RANDOM,
                 cloud_routes: bool = False) -> None:
        self.server = APIServer(LocalKV())
        self.client = Client(LocalTransport(self.server), poll_seconds=0.05)
        self.factory = SharedInformerFactory(self.client)
        self.stop = asyncio.Event()
        self.cloud = FakeCloud()
        self.dns = ClusterDNS()
        nameservers = {CLUSTER_DNS_IP: local_nameserver(self.dns)}
        resolve = pod_resolver(nameservers.get)
        self.pools: list[NodePool] = []
        hosts: dict[str, Any] = {}
        template = KubeletConfig(NodeConfig("t"), renew_interval=0.5, status_interval=0.5, relist_period=0.1)
        ordinal = itertools.count()
        for p in range(pools):
            names = [f"node-{p}{i}" for i in range(nodes_per_pool)]
            pool = NodePool(self.client, names, template=template, host=f"pool-{p}",
                            addresses=[node_address(next(ordinal)) for _ in names], links=hosts.get,
                            resolve=resolve, proxy_mode=proxy_mode, overlay=not cloud_routes)
            hosts[pool.host.name] = pool.host
            self.pools.append(pool)
        self.hosts = hosts
        self.node_names = [n for pool in self.pools for n in pool.kubelets]
        self.outside = Outside(links=hosts.get)
        self.cloud_routes = cloud_routes
        self.tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------ running
    async def start(self) -> None:
        await self.server.ensure_system_objects()
        f, client = self.factory, self.client
        controllers = [CONTROLLERS[n](f, client, Settings()) for n in CONTROLLER_NAMES]
        services, nodes, slices = f.informer("services"), f.informer("nodes"), f.informer("endpointslices")
        lb = ServiceLBController(services.indexer, nodes.indexer, self.cloud, client)
        services.add_event_handler(lb.on_service_add, lb.on_service_update, lb.on_service_delete)
        nodes.add_event_handler(lb.on_node_add, lb.on_node_update, lb.on_node_delete)
        controllers.append(lb)
        if self.cloud_routes:
            routes = RouteController(nodes.indexer, self.cloud, client)
            nodes.add_event_handler(routes.on_node_add, routes.on_node_update, routes.on_node_delete)
            controllers.append(routes)

            def follow(event: str, route: Any) -> None:   # the VPC's routing table, as every host sees it
                for host in self.hosts.values():
                    if event == "add":
                        host.program_route(route.destination_cidr, route.node_name, f"cloud route {route.name}")
                    else:
                        host.unprogram_route(route.destination_cidr)
            self.cloud.on_route_change(follow)
        # the outside's view: load balancers and node addresses, fed as a node's are
        self.ext_proxier = Proxier(services.indexer, slices.indexer, self.outside)
        services.add_event_handler(self.ext_proxier.on_service, self.ext_proxier.on_service,
                                   self.ext_proxier.on_service)
        slices.add_event_handler(self.ext_proxier.on_slice, self.ext_proxier.on_slice, self.ext_proxier.on_slice)
        self.ext_fabric = FabricSync(nodes.indexer, self.outside, overlay=False)
        nodes.add_event_handler(self.ext_fabric.on_node, self.ext_fabric.on_node, self.ext_fabric.on_node)
        controllers += [self.ext_proxier, self.ext_fabric]
        self.dns.attach(f)
        pods = f.informer("pods")
        turn = itertools.count()

        def bind(pod: dict) -> None:
            if not (pod.get("spec") or {}).get("nodeName") and not pod["metadata"].get("deletionTimestamp"):
                node = self.node_names[next(turn) % len(self.node_names)]
                self.tasks.append(asyncio.create_task(self._bind(pod, node)))
        pods.add_event_handler(bind, lambda _old, new: None, lambda _obj: None)
        f.start(self.stop)
        await f.wait_for_cache_sync(None)
        for c in controllers:
            c.on_synced()
        self.tasks += [asyncio.create_task(c.run(c.workers or 2, self.stop)) for c in controllers]
        self.tasks += [asyncio.create_task(pool.run(self.stop)) for pool in self.pools]
        await ensure_kube_dns_service(client, CLUSTER_DNS_IP)

        async def nodes_routed() -> bool:
            want = len(self.node_names)
            return all(len(h.fabric.nodes()) == want and len(h.fabric.routes()) == want for h in self.hosts.values())
        await eventually(nodes_routed, "every host knows every node and its route", tries=400, every=0.05)

    async def _bind(self, pod: dict, node: str) -> None:
        with contextlib.suppress(Exception):   # bound or gone meanwhile
            await self.client.bind(pod["metadata"]["namespace"], pod["metadata"]["name"], node)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.factory.shutdown()
        await self.server.close()

    # ------------------------------------------------------------ objects
    async def namespace(self, name: str) -> None:
        await self.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    async def deployment(self, ns: str, name: str, replicas: int, containers: list[dict], **spec: Any) -> None:
        await self.client.create({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": containers, **spec}}}})

    async def service(self, ns: str, name: str, ports: list[dict], selector: dict | None = None, **spec: Any) -> dict:
        return await self.client.create({"apiVersion": "v1", "kind": "Service",
                                         "metadata": {"name": name, "namespace": ns},
                                         "spec": {"selector": selector or {"app": name}, "ports": ports, **spec}})

    async def pods(self, ns: str, app: str | None = None) -> list[dict]:
        items = (await self.client.list("pods", ns))["items"]
        return [p for p in items if app is None or p["metadata"].get("labels", {}).get("app") == app]

    async def running(self, ns: str, app: str, count: int, *, ready: bool = True) -> list[dict]:
        """Until ``count`` pods of ``app`` run (and are Ready, unless not asked), with IPs."""
        async def check() -> list[dict] | None:
            pods = [p for p in await self.pods(ns, app) if (p.get("status") or {}).get("phase") == "Running"
                    and p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")]
            if ready:
                pods = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                               for c in p["status"].get("conditions") or ())]
            return pods if len(pods) == count else None
        return await eventually(check, f"{count} pods of {ns}/{app} running", tries=600, every=0.05)

    def host_of(self, node: str) -> Any:
        return next(pool.host for pool in self.pools if node in pool.kubelets)

    def kubelet_of(self, node: str) -> Any:
        return next(pool.kubelets[node] for pool in self.pools if node in pool.kubelets)

    # ------------------------------------------------------------ traffic
    async def send(self, source: dict | str, host: str, port: int, payload: bytes, *,
                   timeout: float = 5.0) -> Reply:
        """``source``: a pod (its dict), a node name, or "external"."""
        if source == "external":
            return await self.outside.request(host, port, payload, timeout=timeout)
        if isinstance(source, str):
            return await self.host_of(source).request(source, host, port, payload, timeout=timeout)
        h = self.host_of(source["spec"]["nodeName"])
        ns = h.pod(source["status"]["podIP"])
        assert ns is not None, f"no namespace for {source['metadata']['name']}"
        return await h.request(ns, host, port, payload, timeout=timeout)

    async def get(self, source: dict | str, host: str, port: int, path: str = "/hostname", *,
                  timeout: float = 5.0) -> tuple[int, str, Reply]:
        """An HTTP GET: (status, body, reply); status 0 when the flow failed."""
        reply = await self.send(source, host, port, http_request_bytes("GET", host, port, path), timeout=timeout)
        if not reply.ok:
            return 0, "", reply
        status, _, body = parse_http_response(reply.payload)
        return status, body.decode(), reply

    async def exec(self, pod: dict, argv: list[str], container: str = "") -> Any:
        kubelet = self.kubelet_of(pod["spec"]["nodeName"])
        _, views = await kubelet._instances(pod["metadata"]["namespace"], pod["metadata"]["name"], container)
        return await kubelet.runtime.ExecSync(views[0].id, argv, 10)


@contextlib.asynccontextmanager
async def netcluster(**kw: Any) -> AsyncIterator[NetCluster]:
    c = NetCluster(**kw)
    try:
        await c.start()
        yield c
    finally:
        await c.close()


def netexec(port: int = 8080, **extra: Any) -> dict:
    return {"name": "web", "image": AGNHOST, "args": ["netexec", f"--http-port={port}"],
            "ports": [{"containerPort": port, "name": "http"}], **extra}


def route_entries(host: Any) -> list[RouteEntry]:
    return host.fabric.routes()
