"""Service virtual IPs as kube-proxy programs them: what a node does with a
connection to a ClusterIP, a NodePort, a load balancer's IP or an external
IP — pick one endpoint (at random, as iptables mode's ``statistic`` rules do,
or in turn, as IPVS's ``rr`` scheduler does), keep a client on its endpoint
under ``sessionAffinity: ClientIP``, reject when the service has no
endpoints, drop when a ``Local`` policy leaves none on this node.

:func:`service_ports` compiles a Service and its EndpointSlices into rules;
:class:`ServiceTable` holds the rules a node (or a pool of hollow nodes:
the per-node policies are applied when choosing) looks connections up in.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

RANDOM, ROUND_ROBIN = "random", "round-robin"
MODES = (RANDOM, ROUND_ROBIN)
CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_IP = "ClusterIP", "NodePort", "LoadBalancer", "externalIP"
ACCEPT, REJECT, DROP = "accept", "reject", "drop"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node: str = ""
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    pod: str = ""          # namespace/name of the pod behind it, for the hops


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with everything that reaches it."""
    service: str                         # namespace/name
    name: str
    protocol: str
    port: int
    cluster_ips: tuple[str, ...] = ()
    node_port: int = 0
    lb_ips: tuple[str, ...] = ()
    external_ips: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    affinity_seconds: int = 0            # sessionAffinity ClientIP's timeout; 0: none
    external_local: bool = False         # externalTrafficPolicy: Local
    internal_local: bool = False         # internalTrafficPolicy: Local

    @property
    def key(self) -> str:
        """upstream's ServicePortName: ``ns/name:port`` (``ns/name`` for an unnamed port)."""
        return f"{self.service}:{self.name}" if self.name else self.service


@dataclass(frozen=True)
class Decision:
    verdict: str                          # accept | reject | drop
    endpoint: Endpoint | None = None
    how: str = ""                         # "random of 3", "session affinity", "no endpoints"...
    masquerade: bool = False              # the endpoint sees the node's address, not the client's


# ------------------------------------------------------------ compile
def _slice_endpoints(slc: Mapping[str, Any], port_name: str, protocol: str) -> list[Endpoint]:
    port = None
    for p in slc.get("ports") or ():
        if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol:
            port = p.get("port")
            break
    if not port:
        return []
    out = []
    for ep in slc.get("endpoints") or ():
        addrs = ep.get("addresses") or ()
        if not addrs:
            continue
        cond = ep.get("conditions") or {}
        ready = cond.get("ready") is not False
        serving = cond.get("serving") if cond.get("serving") is not None else ready
        ref = ep.get("targetRef") or {}
        pod = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("kind") == "Pod" else ""
        out.append(Endpoint(addrs[0], int(port), ep.get("nodeName") or "", ready, bool(serving),
                            bool(cond.get("terminating")), pod))
    return out


def service_ports(svc: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]) -> list[ServicePort]:
    """The rules of a Service: none for headless and ExternalName services
    (DNS answers those), one :class:`ServicePort` per port otherwise, its
    endpoints gathered from the service's slices (deduplicated by address)."""
    spec = svc.get("spec") or {}
    meta = svc.get("metadata") or {}
    typ = spec.get("type") or "ClusterIP"
    cluster_ips = tuple(ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP") or ""]) if ip and ip != "None")
    if typ == "ExternalName" or not cluster_ips:
        return []
    slices = list(slices)
    lb_ips: tuple[str, ...] = ()
    if typ == "LoadBalancer":
        lb_ips = tuple(i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
                       if i.get("ip"))
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        affinity = int((((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                        .get("timeoutSeconds")) or 10800)
    out = []
    for p in spec.get("ports") or ():
        name, protocol = p.get("name") or "", p.get("protocol") or "TCP"
        seen: dict[str, Endpoint] = {}
        for slc in slices:
            for ep in _slice_endpoints(slc, name, protocol):
                seen.setdefault(ep.ip, ep)
        out.append(ServicePort(
            service=f"{meta.get('namespace')}/{meta.get('name')}", name=name, protocol=protocol,
            port=int(p.get("port") or 0), cluster_ips=cluster_ips,
            node_port=int(p.get("nodePort") or 0) if typ in ("NodePort", "LoadBalancer") else 0,
            lb_ips=lb_ips, external_ips=tuple(spec.get("externalIPs") or ()),
            endpoints=tuple(sorted(seen.values(), key=lambda e: e.ip)), affinity_seconds=affinity,
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local"))
    return out


def usable(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """The endpoints traffic goes to: the ready ones, or when there are none the
    serving-but-terminating ones (upstream's terminating-endpoints fallback)."""
    eps = list(endpoints)
    ready = [e for e in eps if e.ready]
    return ready or [e for e in eps if e.serving and e.terminating]


def local_endpoints(sp: ServicePort, node: str) -> list[Endpoint]:
    return usable(e for e in sp.endpoints if e.node == node)


# ------------------------------------------------------------ table
@dataclass
class _Affinity:
    endpoint: Endpoint
    expires: float


@dataclass
class ServiceTable:
    """The Service rules of one node, or of many hollow nodes at once."""
    mode: str = RANDOM
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"proxy mode {self.mode!r}: expected one of {', '.join(MODES)}")
        self._services: dict[str, list[ServicePort]] = {}
        self._vips: dict[tuple[str, int, str], tuple[ServicePort, str]] = {}
        self._node_ports: dict[tuple[int, str], ServicePort] = {}
        self._cursor: dict[str, int] = {}
        self._affinity: dict[tuple[str, str], _Affinity] = {}

    # ------------------------------------------------------------ programming
    def set_service(self, key: str, ports: list[ServicePort]) -> None:
        """Replace the rules of Service ``key`` (namespace/name); [] removes them."""
        for sp in self._services.pop(key, ()):
            for ip, kind in self._addresses(sp):
                if self._vips.get((ip, sp.port, sp.protocol), (None,))[0] is sp:
                    del self._vips[(ip, sp.port, sp.protocol)]
            if sp.node_port and self._node_ports.get((sp.node_port, sp.protocol)) is sp:
                del self._node_ports[(sp.node_port, sp.protocol)]
        if not ports:
            return
        self._services[key] = list(ports)
        for sp in ports:
            for ip, kind in self._addresses(sp):
                self._vips[(ip, sp.port, sp.protocol)] = (sp, kind)
            if sp.node_port:
                self._node_ports[(sp.node_port, sp.protocol)] = sp

    @staticmethod
    def _addresses(sp: ServicePort) -> list[tuple[str, str]]:
        return ([(ip, CLUSTER_IP) for ip in sp.cluster_ips] + [(ip, LOAD_BALANCER) for ip in sp.lb_ips]
                + [(ip, EXTERNAL_IP) for ip in sp.external_ips])

    def __len__(self) -> int:
        return len(self._services)

    # ------------------------------------------------------------ lookups
    def lookup(self, ip: str, port: int, protocol: str, node_ips: Iterable[str] = ()) -> tuple[ServicePort, str] | None:
        """The service port a connection to (ip, port) is for, and how it was
        reached; NodePorts match on the node's own addresses only."""
        hit = self._vips.get((ip, port, protocol))
        if hit is not None:
            return hit
        sp = self._node_ports.get((port, protocol))
        if sp is not None and ip in node_ips:
            return sp, NODE_PORT
        return None

    def load_balancer(self, ip: str, port: int, protocol: str) -> ServicePort | None:
        hit = self._vips.get((ip, port, protocol))
        return hit[0] if hit is not None and hit[1] == LOAD_BALANCER else None

    def choose(self, sp: ServicePort, kind: str, node: str, client_ip: str, external: bool) -> Decision:
        """The endpoint for one new connection to ``sp`` arriving at ``node``.

        External traffic (from outside the cluster, to a NodePort, load
        balancer or external IP) follows externalTrafficPolicy: ``Local``
        keeps the client's address and only this node's endpoints, ``Cluster``
        may go anywhere and is masqueraded. Traffic from inside the cluster
        follows internalTrafficPolicy (pods reaching a NodePort or LB IP are
        short-circuited to all endpoints, as upstream does)."""
        cluster = usable(sp.endpoints)
        if not cluster:
            return Decision(REJECT, how="no endpoints")
        via_external = kind != CLUSTER_IP
        if external and via_external:
            local = sp.external_local
        else:
            local = sp.internal_local and not via_external
        eps = local_endpoints(sp, node) if local else cluster
        if not eps:
            return Decision(DROP, how="no local endpoints")
        masquerade = external and via_external and not sp.external_local
        if sp.affinity_seconds:
            now = self.clock()
            pinned = self._affinity.get((sp.key, client_ip))
            if pinned is not None and pinned.expires > now and pinned.endpoint in eps:
                pinned.expires = now + sp.affinity_seconds
                return Decision(ACCEPT, pinned.endpoint, "session affinity (ClientIP)", masquerade)
        if self.mode == ROUND_ROBIN:
            i = self._cursor.get(sp.key, 0)
            ep = eps[i % len(eps)]
            self._cursor[sp.key] = i + 1
        else:
            ep = eps[self.rng.randrange(len(eps))]
        if sp.affinity_seconds:
            self._affinity[(sp.key, client_ip)] = _Affinity(ep, self.clock() + sp.affinity_seconds)
        return Decision(ACCEPT, ep, f"{self.mode} of {len(eps)}", masquerade)
