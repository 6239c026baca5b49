"""The pod network's data plane: network namespaces (one per pod sandbox:
one address, one port space its containers share), the nodes they hang off,
the fabric between nodes (which node owns which pod CIDR and node address,
and how to hand it a flow), and :class:`Host` — the part of the network one
process holds (a node's runtime, or a pool of hollow nodes) that moves a
flow from its source through DNS, kube-proxy's rules and the routes to the
socket that answers, writing down each hop.
"""
from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from .services import ACCEPT, REJECT, ServiceTable
from .traffic import (NO_ROUTE, NXDOMAIN, REFUSED, RESET, TIMEOUT, Flow, Listener, Reply, failed)

Sleep = Callable[[float], Awaitable[None]]
Closer = Callable[[], None]
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


@functools.lru_cache(maxsize=4096)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR parsed once: every flow asks its node whether it owns the destination."""
    return ipaddress.ip_network(cidr)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class RealSockets(Protocol):
    """How a namespace whose servers are real processes is reached."""

    async def exchange(self, ip: str, port: int, payload: bytes, timeout: float, source: str = "") -> bytes: ...


# ------------------------------------------------------------------ namespaces
@dataclass(eq=False)
class NetNS:
    """A pod sandbox's network namespace. ``real_ip``: its servers are real
    processes listening on that address of this machine (the process
    runtime), reached through ``sockets``."""
    path: str
    node: str
    pod: str = ""                        # namespace/name
    ip: str = ""
    dns: Any = None                      # the pod's resolver configuration (netsim.dns.ResolverConfig)
    real_ip: str = ""
    sockets: RealSockets | None = None
    listeners: dict[tuple[str, int], Listener] = field(default_factory=dict)

    def bind(self, port: int, listener: Listener, protocol: str = "TCP") -> Closer:
        """Listen on ``port`` of the namespace (any container of the pod);
        EADDRINUSE when a container of the pod already does."""
        key = (protocol, int(port))
        if key in self.listeners:
            raise OSError(errno.EADDRINUSE, f"listen {protocol.lower()} :{port}: bind: address already in use")
        self.listeners[key] = listener

        def close() -> None:
            if self.listeners.get(key) is listener:
                del self.listeners[key]
        return close

    def listening(self, protocol: str = "TCP") -> list[int]:
        return sorted(p for (proto, p) in self.listeners if proto == protocol)

    @property
    def label(self) -> str:
        return f"pod {self.pod}" if self.pod else f"netns {self.path}"


class NodeNet:
    """One node's network: its addresses, its pod CIDR, the bridge its pods'
    namespaces are attached to (by address) and the namespaces it made."""

    def __init__(self, name: str, ips: tuple[str, ...] = (), pod_cidr: str | None = None) -> None:
        self.name = name
        self.ips = tuple(ips)
        self.pod_cidr = pod_cidr
        self.bridge: dict[str, NetNS] = {}
        self.namespaces: dict[str, NetNS] = {}

    def namespace(self, path: str) -> NetNS | None:
        return self.namespaces.get(path)

    def attach(self, ns: NetNS, ip: str) -> None:
        if ns.ip and self.bridge.get(ns.ip) is ns and ns.ip != ip:
            del self.bridge[ns.ip]
        ns.ip = ip
        self.bridge[ip] = ns

    def detach(self, ns: NetNS) -> None:
        if ns.ip and self.bridge.get(ns.ip) is ns:
            del self.bridge[ns.ip]

    def owns(self, ip: str) -> bool:
        if not self.pod_cidr:
            return False
        try:
            return ipaddress.ip_address(ip) in _network(self.pod_cidr)
        except ValueError:
            return False

    @property
    def address(self) -> str:
        return self.ips[0] if self.ips else ""


# ------------------------------------------------------------------ fabric
class Link(Protocol):
    """How the fabric hands a flow to the host of a node."""

    async def deliver(self, node: str, flow: Flow) -> Reply: ...


@dataclass(frozen=True)
class RouteEntry:
    cidr: str
    node: str
    via: str = "overlay"       # "overlay", or the cloud route's name


class Fabric:
    """The network between nodes: routes (pod CIDR -> node, from the cloud's
    route table or a flat overlay), node addresses, and a link to each node's
    host. A flow to a node whose host does not answer times out, as packets
    to a dead machine do."""

    def __init__(self, *, link_timeout: float = 30.0) -> None:
        self.link_timeout = link_timeout
        self._routes: dict[int, dict[int, RouteEntry]] = {}   # prefixlen -> network int -> route
        self._node_ips: dict[str, str] = {}
        self._node_addresses: dict[str, tuple[str, ...]] = {}
        self._links: dict[str, Link] = {}

    # ---------------------------------------------------------- programming
    def set_node(self, name: str, ips: tuple[str, ...] | list[str], link: Link | None) -> None:
        for ip in self._node_addresses.get(name, ()):
            if self._node_ips.get(ip) == name:
                del self._node_ips[ip]
        self._node_addresses[name] = tuple(ips)
        for ip in ips:
            self._node_ips[ip] = name
        if link is not None:
            self._links[name] = link
        else:
            self._links.pop(name, None)

    def remove_node(self, name: str) -> None:
        self.set_node(name, (), None)
        self._node_addresses.pop(name, None)

    def set_route(self, cidr: str, node: str, via: str = "overlay") -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        self._routes.setdefault(net.prefixlen, {})[int(net.network_address)] = RouteEntry(str(net), node, via)

    def delete_route(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        self._routes.get(net.prefixlen, {}).pop(int(net.network_address), None)

    def replace_routes(self, routes: list[RouteEntry]) -> None:
        """Every route at once (the cloud's route table, read whole)."""
        self._routes = {}
        for r in routes:
            self.set_route(r.cidr, r.node, r.via)

    def routes(self) -> list[RouteEntry]:
        return sorted((r for table in self._routes.values() for r in table.values()), key=lambda r: r.cidr)

    def nodes(self) -> dict[str, tuple[str, ...]]:
        return dict(self._node_addresses)

    # ---------------------------------------------------------- lookups
    def route(self, ip: str) -> RouteEntry | None:
        """The longest-prefix route for ``ip``."""
        try:
            n = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return None
        for plen in sorted(self._routes, reverse=True):
            hit = self._routes[plen].get(n & (((1 << plen) - 1) << (32 - plen)) if plen else 0)
            if hit is not None:
                return hit
        return None

    def node_of_ip(self, ip: str) -> str | None:
        return self._node_ips.get(ip)

    def address_of(self, node: str) -> str:
        ips = self._node_addresses.get(node) or ()
        return ips[0] if ips else ""

    async def send(self, node: str, flow: Flow) -> Reply:
        link = self._links.get(node)
        if link is None:
            return failed(flow, NO_ROUTE, f"No route to host: node {node} has no link")
        try:
            return await asyncio.wait_for(link.deliver(node, flow), min(self.link_timeout, flow.timeout + 5))
        except asyncio.TimeoutError:
            pass
        except Exception as e:  # the node's host is gone (a dead machine): its packets go nowhere
            flow.hop(node, f"unreachable ({type(e).__name__})")
        return failed(flow, TIMEOUT)


# ------------------------------------------------------------------ host
@dataclass(frozen=True)
class Resolved:
    """A name lookup's outcome: the addresses, the name that answered, the nameserver asked."""
    name: str
    ips: tuple[str, ...]
    fqdn: str
    server: str

    @property
    def note(self) -> str:
        more = " ..." if len(self.ips) > 4 else ""
        return f"{self.name} -> {self.fqdn} A {', '.join(self.ips[:4])}{more} (nameserver {self.server})"


Resolve = Callable[[NetNS | None, str], Awaitable[Resolved]]
LinkFactory = Callable[[str], "Link | None"]


class Dataplane:
    """What kube-proxy and the network agent program (here or over Ray):
    Service rules into ``services``, nodes and routes into ``fabric``; a
    node's host name becomes a link through ``links``."""

    name: str
    fabric: Fabric
    services: ServiceTable
    links: LinkFactory | None

    def program_service(self, key: str, ports: list) -> None:
        self.services.set_service(key, ports)

    def program_node(self, name: str, ips: tuple[str, ...] | list[str], host: str) -> None:
        """Node ``name`` has addresses ``ips`` and its network lives on host ``host``."""
        link = self._link(host)
        self.fabric.set_node(name, tuple(ips), link)

    def _link(self, host: str) -> "Link | None":
        return self.links(host) if self.links is not None and host else None

    def forget_node(self, name: str) -> None:
        self.fabric.remove_node(name)

    def program_route(self, cidr: str, node: str, via: str = "overlay") -> None:
        self.fabric.set_route(cidr, node, via)

    def unprogram_route(self, cidr: str) -> None:
        self.fabric.delete_route(cidr)

    def program_routes(self, routes: list[RouteEntry]) -> None:
        self.fabric.replace_routes(routes)


class Host(Dataplane):
    """The nodes one process holds and the flows through them.

    ``services`` is kube-proxy's programming for these nodes; ``resolve``
    answers a name for a source (by its resolver configuration) with a
    :class:`Resolved`, raising LookupError when the name does not exist."""

    def __init__(self, name: str, fabric: Fabric, *, services: ServiceTable | None = None,
                 resolve: Resolve | None = None, links: LinkFactory | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        """``links`` turns the name of another host (a node's
        ``raykube.io/netsim-host``) into a link to it."""
        self.name = name
        self.epoch = uuid.uuid4().hex    # a new one each life: its programmers know to start over
        self.fabric = fabric
        self.services = services if services is not None else ServiceTable()
        self.resolve = resolve
        self.links = links
        self._sleep = sleep
        self.nodes: dict[str, NodeNet] = {}
        self._ports = itertools.count(40000)

    # ------------------------------------------------------------ nodes
    def add_node(self, name: str, ips: tuple[str, ...] = (), pod_cidr: str | None = None) -> NodeNet:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = NodeNet(name, ips, pod_cidr)
        else:
            node.ips = tuple(ips) or node.ips
            node.pod_cidr = pod_cidr or node.pod_cidr
        return node

    def _link(self, host: str) -> "Link | None":
        return self if host == self.name else super()._link(host)

    def program_node(self, name: str, ips: tuple[str, ...] | list[str], host: str) -> None:
        super().program_node(name, ips, host)
        if name in self.nodes and ips:
            self.nodes[name].ips = tuple(ips)

    def create_netns(self, node: str, path: str, pod: str = "", dns: Any = None) -> NetNS:
        nn = self.nodes[node]
        ns = nn.namespaces.get(path)
        if ns is None:
            ns = nn.namespaces[path] = NetNS(path, node, pod, dns=dns)
        return ns

    def delete_netns(self, node: str, path: str) -> None:
        nn = self.nodes.get(node)
        if nn is not None:
            ns = nn.namespaces.pop(path, None)
            if ns is not None:
                nn.detach(ns)
                ns.listeners.clear()

    def pod(self, ip: str) -> NetNS | None:
        """The local namespace with address ``ip``."""
        for nn in self.nodes.values():
            ns = nn.bridge.get(ip)
            if ns is not None:
                return ns
        return None

    # ------------------------------------------------------------ traffic
    def _ephemeral(self) -> int:
        return 32768 + next(self._ports) % 28232

    async def request(self, source: NetNS | str, host: str, port: int, payload: bytes = b"", *,
                      protocol: str = "TCP", timeout: float = 10.0) -> Reply:
        """A connection from ``source`` (a namespace, or a node name for the
        node's own network) to ``host``:``port`` carrying ``payload``; the
        answer or the error, with the hops either way."""
        if isinstance(source, NetNS):
            ns: NetNS | None = source
            node = source.node
            src_ip = source.ip
            flow = Flow(src_ip, self._ephemeral(), "", int(port), protocol, payload, timeout)
            flow.hop(source.label, f"{src_ip} on {node} connects to {host}:{port}")
        else:
            ns, node = None, source
            if node not in self.nodes:
                raise KeyError(f"node {node!r} is not on host {self.name}")
            src_ip = self.nodes[node].address
            flow = Flow(src_ip, self._ephemeral(), "", int(port), protocol, payload, timeout)
            flow.hop(f"node {node}", f"host network {src_ip} connects to {host}:{port}")
        name = host.strip("[]")
        if name.lower() in LOOPBACK_NAMES:
            name = "127.0.0.1"
        if not is_ip(name):
            if self.resolve is None:
                return failed(flow, NXDOMAIN, f"Could not resolve host: {host} (no DNS)")
            try:
                found = await self.resolve(ns, name)
            except LookupError as e:
                flow.hop("dns", str(e) or f"{name}: NXDOMAIN")
                return failed(flow, NXDOMAIN, f"Could not resolve host: {host}")
            flow.hop("dns", found.note)
            name = found.ips[0]
        flow.dst_ip = name
        if is_loopback(name):
            flow.src_ip = name
            if ns is None:
                return failed(flow, REFUSED)
            flow.hop(ns.label, "loopback")
            return await self._accept(ns, flow)
        return await self._route(node, flow)

    async def deliver(self, node: str, flow: Flow) -> Reply:
        """A flow the fabric brings to ``node``: for one of its addresses (a
        NodePort, a load balancer's IP) or one of its pods."""
        nn = self.nodes.get(node)
        if nn is None:
            return failed(flow, NO_ROUTE, f"No route to host: node {node} is not here")
        flow.hop(f"node {node}", f"receives {flow.dst_ip}:{flow.dst_port}")
        return await self._route(node, flow, arrived=True)

    async def _route(self, node: str, flow: Flow, arrived: bool = False) -> Reply:
        nn = self.nodes[node]
        hit = self.services.lookup(flow.dst_ip, flow.dst_port, flow.protocol, nn.ips)
        if hit is not None:
            sp, kind = hit
            d = self.services.choose(sp, kind, node, flow.src_ip, flow.external)
            vip = f"{flow.dst_ip}:{flow.dst_port}"
            if d.verdict == REJECT:
                flow.hop(f"kube-proxy {node}", f"{kind} {vip} ({sp.key}) has no endpoints: reject")
                return failed(flow, REFUSED)
            if d.verdict != ACCEPT:
                flow.hop(f"kube-proxy {node}", f"{kind} {vip} ({sp.key}) has {d.how}: drop")
                await self._sleep(flow.timeout)
                return failed(flow, TIMEOUT)
            ep = d.endpoint
            assert ep is not None
            flow.hop(f"kube-proxy {node}", f"{kind} {vip} ({sp.key}) -> {ep.ip}:{ep.port}"
                                           f"{' ' + ep.pod if ep.pod else ''} [{d.how}]")
            if d.masquerade:
                flow.src_ip, flow.src_port = nn.address, self._ephemeral()
                flow.hop(f"kube-proxy {node}", f"masquerade source as {nn.address}")
            flow.dst_ip, flow.dst_port = ep.ip, ep.port
        dst = flow.dst_ip
        if dst in nn.ips:
            return failed(flow, REFUSED)  # nothing of the node's own listens here
        if nn.owns(dst):
            ns = nn.bridge.get(dst)
            if ns is None:
                flow.hop(f"node {node}", f"bridge cni0 has no {dst}")
                return failed(flow, NO_ROUTE)
            flow.hop(f"node {node}", f"bridge cni0 -> {ns.label} ({dst})")
            return await self._accept(ns, flow)
        route = self.fabric.route(dst)
        target = route.node if route is not None else self.fabric.node_of_ip(dst)
        if target is None or (arrived and target == node):
            flow.hop(f"node {node}", f"no route to {dst}")
            return failed(flow, NO_ROUTE)
        via = f"route {route.cidr} via {route.via}" if route is not None else "node address"
        flow.hop(f"node {node}", f"{via} -> node {target} ({self.fabric.address_of(target) or '?'})")
        return await self.fabric.send(target, flow)

    async def _accept(self, ns: NetNS, flow: Flow) -> Reply:
        """The flow reaches its namespace: the socket listening on the port answers."""
        server = f"{flow.dst_ip}:{flow.dst_port}"
        if ns.real_ip and ns.sockets is not None:
            try:
                data = await ns.sockets.exchange(ns.real_ip, flow.dst_port, flow.payload, flow.timeout, flow.src_ip)
            except ConnectionRefusedError:
                flow.hop(ns.label, f"nothing listens on {flow.dst_port} ({ns.real_ip})")
                return failed(flow, REFUSED)
            except (TimeoutError, asyncio.TimeoutError):
                return failed(flow, TIMEOUT)
            except OSError as e:
                return failed(flow, RESET, str(e))
            flow.hop(ns.label, f"process on {ns.real_ip}:{flow.dst_port} answers")
            return Reply(data, hops=list(flow.hops), server=server)
        listener = ns.listeners.get((flow.protocol, flow.dst_port))
        if listener is None:
            flow.hop(ns.label, f"nothing listens on {flow.protocol} {flow.dst_port}")
            return failed(flow, REFUSED)
        call = asyncio.ensure_future(listener(flow.payload, flow.peer))
        timer = asyncio.ensure_future(self._sleep(flow.timeout))
        try:
            await asyncio.wait({call, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not call.done():
                call.cancel()
        if not call.done() or call.cancelled():
            flow.hop(ns.label, f"no answer within {flow.timeout:g}s")
            return failed(flow, TIMEOUT)
        if call.exception() is not None:
            return failed(flow, RESET, f"{type(call.exception()).__name__}: {call.exception()}")
        flow.hop(ns.label, f"{server} answers (client {flow.peer})")
        return Reply(call.result(), hops=list(flow.hops), server=server)

