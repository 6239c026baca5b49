"""A simulated cloud with an API of its own, the counterpart of upstream's
``cloudprovider.Interface`` implementations: instances (what Nodes run on),
load balancers (what ``type: LoadBalancer`` Services get), routes (how pod
CIDRs reach their node) and volumes.

Everything is in memory. The methods are async, so a remote (actor-hosted)
cloud can offer the same interface; none of them awaits mid-change, so one
event loop sees every call as atomic, and a lock keeps threads out of each
other's way too. Results are copies: a caller cannot change the cloud except
through its API. Bad input raises a typed :class:`CloudError`.
"""
from __future__ import annotations

import dataclasses
import inspect
import ipaddress
import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

RUNNING, STOPPED = "running", "stopped"
PROVIDER_PREFIX = "raykube://"
DEFAULT_REGION = "rk-central-1"
DEFAULT_LB_POOL = "203.0.113.0/24"        # TEST-NET-3: never routed on the internet
DEFAULT_PUBLIC_POOL = "198.51.100.0/24"   # TEST-NET-2, instances' external IPs
DEFAULT_PRIVATE_CIDR = "10.128.0.0/16"    # instances' internal IPs (apart from 10.244/16 pod CIDRs)
DEFAULT_INSTANCE_TYPE = "rk.standard-2"


# ----------------------------------------------------------------------- errors
class CloudError(Exception):
    """Any failed cloud call."""


class InvalidArgument(CloudError):
    """The request itself is wrong (unknown zone, malformed CIDR or provider ID...)."""


class NotFound(CloudError):
    """The named resource does not exist (any more)."""


class InstanceNotFound(NotFound):
    pass


class LoadBalancerNotFound(NotFound):
    pass


class RouteNotFound(NotFound):
    pass


class VolumeNotFound(NotFound):
    pass


class Conflict(CloudError):
    """The change clashes with what exists (a name or CIDR already taken)."""


class VolumeInUse(Conflict):
    pass


class PoolExhausted(CloudError):
    """No free address left in a pool."""


# -------------------------------------------------------------------- resources
@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    zone: str
    region: str
    instance_type: str
    provider_id: str
    addresses: tuple[tuple[str, str], ...]  # (type, address): InternalIP, ExternalIP, Hostname
    state: str = RUNNING

    def node_addresses(self) -> list[dict[str, str]]:
        """The addresses as a Node's ``status.addresses``."""
        return [{"type": t, "address": a} for t, a in self.addresses]


@dataclass(frozen=True)
class LBPort:
    name: str
    protocol: str
    port: int
    node_port: int = 0


@dataclass(frozen=True)
class LoadBalancer:
    cluster: str
    service: str  # namespace/name
    ip: str
    ports: tuple[LBPort, ...]
    hosts: tuple[str, ...]  # node names, sorted


@dataclass(frozen=True)
class Route:
    cluster: str
    name: str
    node_name: str
    destination_cidr: str


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gib: int
    zone: str
    attached_to: str | None = None  # instance id
    device: str | None = None


RouteHook = Callable[[str, Route], Any]  # ("add" | "delete", route); may be async


class IPPool:
    """Host addresses of one network, each handed out at most once until released."""

    def __init__(self, cidr: str) -> None:
        try:
            self.network = ipaddress.ip_network(cidr)
        except ValueError as e:
            raise InvalidArgument(f"bad address pool {cidr!r}: {e}") from None
        self.held: set[str] = set()
        net = self.network
        # hosts() leaves out the network and broadcast addresses (IPv6: the router anycast one)
        reserved = 0 if net.prefixlen >= net.max_prefixlen - 1 else (2 if net.version == 4 else 1)
        self.size = net.num_addresses - reserved

    def allocate(self, want: str | None = None) -> str:
        if want:
            if _parse_ip(want) not in self.network:
                raise InvalidArgument(f"{want} is not in the pool {self.network}")
            if want in self.held:
                raise Conflict(f"{want} is already in use")
            self.held.add(want)
            return want
        for host in self.network.hosts():
            ip = str(host)
            if ip not in self.held:
                self.held.add(ip)
                return ip
        raise PoolExhausted(f"no free address left in {self.network}")

    def release(self, ip: str) -> None:
        self.held.discard(ip)

    @property
    def free(self) -> int:
        return self.size - len(self.held)


def _parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"{ip!r} is not an IP address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value))
    except ValueError as e:
        raise InvalidArgument(f"bad route destination {value!r}: {e}") from None


def _lb_ports(ports: Iterable[Mapping[str, Any]]) -> tuple[LBPort, ...]:
    """Service ports (``{name, protocol, port, nodePort}``) as the LB's listeners."""
    out = []
    for p in ports:
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument(f"bad load balancer port {port!r}")
        out.append(LBPort(p.get("name") or "", p.get("protocol") or "TCP", port, int(p.get("nodePort") or 0)))
    if not out:
        raise InvalidArgument("a load balancer needs at least one port")
    return tuple(out)


# ------------------------------------------------------------------------ cloud
class FakeCloud:
    """One region of a simulated cloud."""

    def __init__(self, *, region: str = DEFAULT_REGION, zones: Sequence[str] | None = None,
                 lb_pool: str = DEFAULT_LB_POOL, public_pool: str = DEFAULT_PUBLIC_POOL,
                 private_cidr: str = DEFAULT_PRIVATE_CIDR) -> None:
        self.region = region
        self.zones = tuple(zones or (f"{region}a", f"{region}b", f"{region}c"))
        self._lock = threading.RLock()
        self._lb_pool = IPPool(lb_pool)
        self._public = IPPool(public_pool)
        self._private = IPPool(private_cidr)
        self._instances: dict[str, Instance] = {}
        self._lbs: dict[tuple[str, str], LoadBalancer] = {}
        self._routes: dict[tuple[str, str], Route] = {}  # (cluster, CIDR): one target per CIDR
        self._volumes: dict[str, Volume] = {}
        self._route_hooks: list[RouteHook] = []
        self._zone_cycle = itertools.cycle(self.zones)

    # --------------------------------------------------------------- instances
    async def create_instance(self, name: str, *, zone: str | None = None,
                              instance_type: str = DEFAULT_INSTANCE_TYPE, public_ip: bool = True) -> Instance:
        """Boot an instance; names are unique among live instances (a Node finds its instance by name)."""
        if not name:
            raise InvalidArgument("an instance needs a name")
        with self._lock:
            if zone is None:
                zone = next(self._zone_cycle)
            elif zone not in self.zones:
                raise InvalidArgument(f"unknown zone {zone!r} (region {self.region} has {', '.join(self.zones)})")
            if any(i.name == name for i in self._instances.values()):
                raise Conflict(f"an instance named {name!r} already exists")
            iid = f"i-{uuid.uuid4().hex[:17]}"
            addresses = [("InternalIP", self._private.allocate())]
            if public_ip:
                try:
                    addresses.append(("ExternalIP", self._public.allocate()))
                except PoolExhausted:
                    self._private.release(addresses[0][1])
                    raise
            addresses.append(("Hostname", name))
            inst = Instance(iid, name, zone, self.region, instance_type, f"{PROVIDER_PREFIX}{zone}/{iid}",
                            tuple(addresses))
            self._instances[iid] = inst
            return inst

    async def delete_instance(self, instance_id: str) -> None:
        """Terminate an instance: it is gone at once, with its addresses and attachments."""
        with self._lock:
            inst = self._instance(instance_id)
            del self._instances[instance_id]
            for t, a in inst.addresses:
                if t == "InternalIP":
                    self._private.release(a)
                elif t == "ExternalIP":
                    self._public.release(a)
            for v in list(self._volumes.values()):
                if v.attached_to == instance_id:
                    self._volumes[v.id] = dataclasses.replace(v, attached_to=None, device=None)

    async def stop_instance(self, instance_id: str) -> Instance:
        return self._set_state(instance_id, STOPPED)

    async def start_instance(self, instance_id: str) -> Instance:
        return self._set_state(instance_id, RUNNING)

    def _set_state(self, instance_id: str, state: str) -> Instance:
        with self._lock:
            inst = dataclasses.replace(self._instance(instance_id), state=state)
            self._instances[instance_id] = inst
            return inst

    def _instance(self, instance_id: str) -> Instance:
        inst = self._instances.get(instance_id)
        if inst is None:
            raise InstanceNotFound(f"instance {instance_id!r} not found")
        return inst

    async def get_instance(self, instance_id: str) -> Instance:
        with self._lock:
            return self._instance(instance_id)

    async def instance_by_name(self, name: str) -> Instance:
        with self._lock:
            for inst in self._instances.values():
                if inst.name == name:
                    return inst
        raise InstanceNotFound(f"no instance named {name!r}")

    async def instance_by_provider_id(self, provider_id: str) -> Instance:
        """The instance a Node's ``spec.providerID`` (``raykube://<zone>/<id>``) names."""
        zone, _, iid = provider_id.removeprefix(PROVIDER_PREFIX).partition("/")
        if not provider_id.startswith(PROVIDER_PREFIX) or not zone or not iid:
            raise InvalidArgument(f"{provider_id!r} is not a {PROVIDER_PREFIX}<zone>/<id> provider ID")
        with self._lock:
            inst = self._instances.get(iid)
            if inst is None or inst.zone != zone:
                raise InstanceNotFound(f"no instance {provider_id!r}")
            return inst

    async def list_instances(self) -> list[Instance]:
        with self._lock:
            return sorted(self._instances.values(), key=lambda i: i.name)

    # ---------------------------------------------------------- load balancers
    async def ensure_load_balancer(self, cluster: str, service: str, ports: Iterable[Mapping[str, Any]],
                                   nodes: Iterable[str], *, ip: str | None = None) -> str:
        """Create or update the Service's load balancer; its ingress IP. The IP
        stays the same for the LB's lifetime (``ip`` asks for one from the pool)."""
        lb_ports, hosts = _lb_ports(ports), tuple(sorted(set(nodes)))
        with self._lock:
            cur = self._lbs.get((cluster, service))
            if cur is not None and ip and ip != cur.ip:
                raise Conflict(f"load balancer {service} holds {cur.ip}; its address cannot change to {ip}")
            addr = cur.ip if cur is not None else self._lb_pool.allocate(ip)
            self._lbs[(cluster, service)] = LoadBalancer(cluster, service, addr, lb_ports, hosts)
            return addr

    async def update_load_balancer_hosts(self, cluster: str, service: str, nodes: Iterable[str]) -> LoadBalancer:
        with self._lock:
            cur = self._lbs.get((cluster, service))
            if cur is None:
                raise LoadBalancerNotFound(f"no load balancer for {service} in cluster {cluster!r}")
            lb = dataclasses.replace(cur, hosts=tuple(sorted(set(nodes))))
            self._lbs[(cluster, service)] = lb
            return lb

    async def delete_load_balancer(self, cluster: str, service: str) -> bool:
        """Delete it and release its IP; False when there was none (deleting is idempotent)."""
        with self._lock:
            lb = self._lbs.pop((cluster, service), None)
            if lb is None:
                return False
            self._lb_pool.release(lb.ip)
            return True

    async def get_load_balancer(self, cluster: str, service: str) -> LoadBalancer | None:
        with self._lock:
            return self._lbs.get((cluster, service))

    async def list_load_balancers(self, cluster: str | None = None) -> list[LoadBalancer]:
        with self._lock:
            return [lb for (c, _), lb in sorted(self._lbs.items()) if cluster is None or c == cluster]

    @property
    def free_lb_ips(self) -> int:
        return self._lb_pool.free

    # ------------------------------------------------------------------ routes
    def on_route_change(self, hook: RouteHook) -> Callable[[], None]:
        """Call ``hook("add" | "delete", route)`` after every route change
        (a network simulator follows the routing table); returns an unsubscribe."""
        with self._lock:
            self._route_hooks.append(hook)

        def unsubscribe() -> None:
            with self._lock:
                if hook in self._route_hooks:
                    self._route_hooks.remove(hook)
        return unsubscribe

    async def _notify(self, event: str, route: Route) -> None:
        with self._lock:
            hooks = list(self._route_hooks)
        for hook in hooks:  # outside the lock: a hook may call back into the cloud
            result = hook(event, route)
            if inspect.isawaitable(result):
                await result

    async def create_route(self, cluster: str, node_name: str, pod_cidr: str) -> Route:
        """Send ``pod_cidr`` to ``node_name``; creating the same route again is a no-op."""
        cidr = _cidr(pod_cidr)
        if not node_name:
            raise InvalidArgument("a route needs a target node")
        with self._lock:
            cur = self._routes.get((cluster, cidr))
            if cur is not None:
                if cur.node_name != node_name:
                    raise Conflict(f"{cidr} is already routed to {cur.node_name}")
                return cur
            route = Route(cluster, f"{cluster}-{uuid.uuid4().hex[:12]}", node_name, cidr)
            self._routes[(cluster, cidr)] = route
        await self._notify("add", route)
        return route

    async def delete_route(self, cluster: str, node_name: str, pod_cidr: str) -> None:
        cidr = _cidr(pod_cidr)
        with self._lock:
            cur = self._routes.get((cluster, cidr))
            if cur is None or cur.node_name != node_name:
                raise RouteNotFound(f"no route {cidr} -> {node_name} in cluster {cluster!r}")
            del self._routes[(cluster, cidr)]
        await self._notify("delete", cur)

    async def list_routes(self, cluster: str) -> list[Route]:
        with self._lock:
            return [r for (c, _), r in sorted(self._routes.items()) if c == cluster]

    # ----------------------------------------------------------------- volumes
    async def create_volume(self, name: str, size_gib: int, zone: str) -> Volume:
        if zone not in self.zones:
            raise InvalidArgument(f"unknown zone {zone!r}")
        if size_gib <= 0:
            raise InvalidArgument(f"a volume needs a positive size, not {size_gib}")
        with self._lock:
            vol = Volume(f"vol-{uuid.uuid4().hex[:17]}", name, size_gib, zone)
            self._volumes[vol.id] = vol
            return vol

    def _volume(self, volume_id: str) -> Volume:
        vol = self._volumes.get(volume_id)
        if vol is None:
            raise VolumeNotFound(f"volume {volume_id!r} not found")
        return vol

    async def get_volume(self, volume_id: str) -> Volume:
        with self._lock:
            return self._volume(volume_id)

    async def list_volumes(self) -> list[Volume]:
        with self._lock:
            return sorted(self._volumes.values(), key=lambda v: v.id)

    async def attach_volume(self, volume_id: str, instance_id: str) -> Volume:
        """Attach to an instance of the same zone (as block storage is zonal)."""
        with self._lock:
            vol, inst = self._volume(volume_id), self._instance(instance_id)
            if vol.attached_to == instance_id:
                return vol
            if vol.attached_to is not None:
                raise VolumeInUse(f"volume {volume_id} is attached to {vol.attached_to}")
            if vol.zone != inst.zone:
                raise InvalidArgument(f"volume {volume_id} is in {vol.zone}, instance {instance_id} in {inst.zone}")
            used = {v.device for v in self._volumes.values() if v.attached_to == instance_id}
            device = next(f"/dev/xvd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/xvd{c}" not in used)
            vol = dataclasses.replace(vol, attached_to=instance_id, device=device)
            self._volumes[volume_id] = vol
            return vol

    async def detach_volume(self, volume_id: str, instance_id: str) -> Volume:
        with self._lock:
            vol = self._volume(volume_id)
            if vol.attached_to != instance_id:
                raise InvalidArgument(f"volume {volume_id} is not attached to {instance_id}")
            vol = dataclasses.replace(vol, attached_to=None, device=None)
            self._volumes[volume_id] = vol
            return vol

    async def delete_volume(self, volume_id: str) -> None:
        with self._lock:
            vol = self._volume(volume_id)
            if vol.attached_to is not None:
                raise VolumeInUse(f"volume {volume_id} is attached to {vol.attached_to}")
            del self._volumes[volume_id]


__all__ = ["CloudError", "Conflict", "FakeCloud", "IPPool", "Instance", "InstanceNotFound", "InvalidArgument",
           "LBPort", "LoadBalancer", "LoadBalancerNotFound", "NotFound", "PoolExhausted", "Route",
           "RouteNotFound", "RUNNING", "STOPPED", "Volume", "VolumeInUse", "VolumeNotFound"]
