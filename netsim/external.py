"""The world outside the cluster: a client on the internet and the cloud's
load balancers in front of the nodes. From outside, only node addresses
(NodePorts) and load balancer IPs are reachable; pod and cluster IPs are not.
"""
from __future__ import annotations

import itertools

from .host import Dataplane, Fabric, LinkFactory, is_ip
from .services import ServiceTable, local_endpoints
from .traffic import EXTERNAL_CLIENT_IP, NO_ROUTE, NXDOMAIN, TIMEOUT, Flow, Reply, failed


class Outside(Dataplane):
    """Where ``raykube net curl`` without ``--from`` starts. ``services``
    holds the load balancers' view (which IP is which Service, and for
    ``externalTrafficPolicy: Local`` which nodes pass the health check: the
    ones with a ready endpoint of their own)."""

    name = "outside"

    def __init__(self, fabric: Fabric | None = None, services: ServiceTable | None = None, *,
                 links: LinkFactory | None = None, client_ip: str = EXTERNAL_CLIENT_IP) -> None:
        self.fabric = fabric if fabric is not None else Fabric()
        self.services = services if services is not None else ServiceTable()
        self.links = links
        self.client_ip = client_ip
        self._turn = itertools.count()
        self._ports = itertools.count(50000)

    async def request(self, host: str, port: int, payload: bytes = b"", *, protocol: str = "TCP",
                      timeout: float = 10.0) -> Reply:
        flow = Flow(self.client_ip, next(self._ports), host, int(port), protocol, payload, timeout, external=True)
        flow.hop("external client", f"{self.client_ip} connects to {host}:{port}")
        if not is_ip(host):
            return failed(flow, NXDOMAIN, f"Could not resolve host: {host} (cluster names resolve inside the cluster)")
        sp = self.services.load_balancer(host, int(port), protocol)
        if sp is not None:
            nodes = sorted(self.fabric.nodes())
            if sp.external_local:
                nodes = [n for n in nodes if local_endpoints(sp, n)]
            if not nodes:
                flow.hop(f"load balancer {host}", f"{sp.key} has no healthy backend node")
                return failed(flow, TIMEOUT)
            node = nodes[next(self._turn) % len(nodes)]
            check = " (passes the health check)" if sp.external_local else ""
            flow.hop(f"load balancer {host}", f"{sp.key} -> node {node}{check}")
            return await self.fabric.send(node, flow)
        node = self.fabric.node_of_ip(host)
        if node is None:
            flow.hop("internet", f"no route to {host}")
            return failed(flow, NO_ROUTE)
        return await self.fabric.send(node, flow)
