"""Service ClusterIPs and NodePorts, allocated as upstream's service REST does.

Upstream keeps each range as one bitmap object; with several apiserver
replicas over one store, this repo instead keeps one *claim* key per
allocated value (``/registry/ranges/serviceips/<ip>``,
``/registry/ranges/servicenodeports/<port>``), created in the same raftstore
txn as the Service under a "key does not exist yet" compare. Two replicas
that pick the same value cannot both commit; the loser picks again. The
claims are the ranges' whole state, so an apiserver restart loses nothing,
and deleting a Service deletes its claims in the txn that deletes it.

Pure: the caller reads the claimed values (:class:`Taken`) and writes the
:class:`Claims` computed here together with the object.
"""
from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass
from typing import Any, Collection, Iterable

from kubeapi import errors
from kubeapi.field import FieldError, Path, invalid
from kubeapi.validation import SERVICE_NODE_PORT_RANGE
from netsim.addresses import SERVICE_CIDR

__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_SERVICE_CIDR",
    "NODE_PORTS_PREFIX",
    "RANGES_PREFIX",
    "SERVICE_IPS_PREFIX",
    "ClaimTaken",
    "Claims",
    "ServiceAllocator",
    "Taken",
    "ValueRange",
    "allocated_values",
    "claim_keys",
    "claim_value",
    "prepare_update",
    "static_band",
]

DEFAULT_SERVICE_CIDR = SERVICE_CIDR  # --service-cluster-ip-range, as kubeadm's default
DEFAULT_NODE_PORT_RANGE: tuple[int, int] = SERVICE_NODE_PORT_RANGE  # --service-node-port-range
RANGES_PREFIX = "/registry/ranges/"
SERVICE_IPS_PREFIX = RANGES_PREFIX + "serviceips/"
NODE_PORTS_PREFIX = RANGES_PREFIX + "servicenodeports/"
MAX_IPV6_RANGE = 65536  # upstream's bitmap limit for an IPv6 service range


# ------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Claims:
    """Claim keys one write creates (each must not exist yet) and deletes."""

    create: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()


class ClaimTaken(Exception):
    """Another writer created ``key`` between reading the claims and writing:
    the value must be picked again."""

    def __init__(self, key: str) -> None:
        super().__init__(f"claim {key} was taken meanwhile")
        self.key = key


def claim_value(obj: dict) -> bytes:
    """What a claim key holds: the Service that owns the value."""
    meta = obj.get("metadata") or {}
    return json.dumps({k: meta.get(k) for k in ("namespace", "name", "uid")},
                      separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Taken:
    """The values claimed in storage when the allocation read the claims
    (IPs in their canonical text form)."""

    ips: frozenset[str] = frozenset()
    ports: frozenset[int] = frozenset()

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> Taken:
        """From the claim keys under :data:`RANGES_PREFIX`."""
        ips: set[str] = set()
        ports: set[int] = set()
        for key in keys:
            if key.startswith(SERVICE_IPS_PREFIX):
                ip = _canonical_ip(key[len(SERVICE_IPS_PREFIX):])
                if ip is not None:
                    ips.add(ip)
            elif key.startswith(NODE_PORTS_PREFIX) and key[len(NODE_PORTS_PREFIX):].isdigit():
                ports.add(int(key[len(NODE_PORTS_PREFIX):]))
        return cls(frozenset(ips), frozenset(ports))


def _canonical_ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _keys(ips: Iterable[str], ports: Iterable[int]) -> tuple[str, ...]:
    return tuple(sorted(SERVICE_IPS_PREFIX + ip for ip in ips)) + \
        tuple(NODE_PORTS_PREFIX + str(p) for p in sorted(ports))


# ------------------------------------------------------------- type rules
# upstream's needsClusterIP / needsNodePort / needsHCNodePort / ExternallyAccessible
def needs_cluster_ip(spec: dict) -> bool:
    return spec.get("type") != "ExternalName"


def needs_node_ports(spec: dict) -> bool:
    return spec.get("type") == "NodePort" or \
        (spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def needs_health_check(spec: dict) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def externally_accessible(spec: dict) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _cluster_ips(spec: dict) -> list[str]:
    return list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))


def _port_key(port: dict) -> tuple[Any, str]:
    return port.get("port"), port.get("protocol") or "TCP"


def _old_node_ports(spec: dict) -> dict[tuple[Any, str], int]:
    return {_port_key(p): p["nodePort"] for p in spec.get("ports") or () if p.get("nodePort")}


def allocated_values(svc: dict | None) -> tuple[set[str], set[int]]:
    """The cluster IPs and node ports a stored Service holds claims for."""
    spec = (svc or {}).get("spec") or {}
    ips: set[str] = set()
    ports: set[int] = set()
    if needs_cluster_ip(spec):
        ips = {ip for ip in map(_canonical_ip, _cluster_ips(spec)) if ip is not None}
    if externally_accessible(spec):
        ports = {p["nodePort"] for p in spec.get("ports") or () if p.get("nodePort")}
    if spec.get("healthCheckNodePort"):
        ports.add(spec["healthCheckNodePort"])
    return ips, ports


def claim_keys(kind: str, obj: dict) -> list[str]:
    """The claim keys a stored object holds (only Services hold any): what
    deleting it releases."""
    if kind != "Service":
        return []
    return list(_keys(*allocated_values(obj)))


# ------------------------------------------------------------------ update
def prepare_update(old: dict, new: dict) -> dict:
    """``new`` (defaulted, not yet validated) fixed up against the stored
    ``old``, in place, as upstream's service REST and strategy do before an
    update. ``patchAllocatedValues``: allocated values a client left out (a
    PUT of an object it built itself) are carried over instead of allocated
    again. ``dropTypeDependentFields``: fields the old type needed, left
    unchanged by the client, are dropped when the new type has no use for
    them (their values are then released)."""
    o = old.get("spec") or {}
    n = new.setdefault("spec", {})
    if needs_cluster_ip(o) and needs_cluster_ip(n):
        for key in ("clusterIP", "clusterIPs"):
            if not n.get(key) and o.get(key):
                n[key] = json.loads(json.dumps(o[key]))
    if needs_node_ports(o) and needs_node_ports(n):
        by_port = _old_node_ports(o)
        in_both = set(by_port.values()) & {p.get("nodePort") for p in n.get("ports") or ()}
        for p in n.get("ports") or ():
            value = by_port.get(_port_key(p))
            if not p.get("nodePort") and value and value not in in_both:
                p["nodePort"] = value
    if needs_health_check(o) and needs_health_check(n) and not n.get("healthCheckNodePort") \
            and o.get("healthCheckNodePort"):
        n["healthCheckNodePort"] = o["healthCheckNodePort"]

    def drop_if_same(*keys: str) -> None:
        if all(n.get(k) == o.get(k) for k in keys):
            for k in keys:
                n.pop(k, None)

    if needs_cluster_ip(o) and not needs_cluster_ip(n):
        drop_if_same("clusterIP", "clusterIPs")
        for key in ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            drop_if_same(key)
    if needs_node_ports(o) and not needs_node_ports(n):
        by_port = _old_node_ports(o)
        for p in n.get("ports") or ():
            if p.get("nodePort") and by_port.get(_port_key(p)) == p["nodePort"]:
                del p["nodePort"]
    if needs_health_check(o) and not needs_health_check(n):
        drop_if_same("healthCheckNodePort")
    if o.get("type") == "LoadBalancer" and n.get("type") != "LoadBalancer":
        drop_if_same("allocateLoadBalancerNodePorts")
    if externally_accessible(o) and not externally_accessible(n):
        drop_if_same("externalTrafficPolicy")
    return new


# ------------------------------------------------------------------ ranges
def static_band(size: int, minimum: int, maximum: int, step: int) -> int:
    """How many values at the start of a range dynamic allocation leaves
    for last: min(max(minimum, size/step), maximum), none for a range of at
    most ``minimum`` (KEP-3070 for service IPs, KEP-3668 for node ports), so
    values users pick there, such as the cluster DNS's 10.96.0.10, rarely
    collide with allocated ones."""
    if size <= minimum:
        return 0
    return min(max(minimum, size // step), maximum)


@dataclass(frozen=True)
class ValueRange:
    """Allocatable integers ``first``..``last``; the lowest ``offset`` of them
    are the static band."""

    first: int
    last: int
    offset: int = 0

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.first <= value <= self.last

    def pick(self, avoid: Collection[int], rng: random.Random) -> int | None:
        """A free value: from a random point of the upper band onwards, then
        the static band the same way (upstream's random scan with offset);
        None when the range is full."""
        split = self.first + self.offset
        for lo, hi in ((split, self.last), (self.first, split - 1)):
            size = hi - lo + 1
            if size <= 0:
                continue
            start = rng.randrange(size)
            for i in range(size):
                value = lo + (start + i) % size
                if value not in avoid:
                    return value
        return None


def _ip_range(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ValueRange:
    """Upstream's service IP range: never the network address, nor an IPv4
    broadcast address; an IPv6 range at most 65536 addresses long."""
    base = int(cidr.network_address)
    size = cidr.num_addresses
    usable = size - 2 if cidr.version == 4 else min(size, MAX_IPV6_RANGE) - 1
    return ValueRange(base + 1, base + usable, static_band(size, 16, 256, 16))


# --------------------------------------------------------------- allocator
class ServiceAllocator:
    """Picks a Service's ClusterIP, NodePorts and healthCheckNodePort from
    one service CIDR and node port range, checks the ones a user chose, and
    says which claims the write must create and delete."""

    def __init__(self, service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
                 rng: random.Random | None = None) -> None:
        self.cidr = ipaddress.ip_network(service_cidr)
        self.family = f"IPv{self.cidr.version}"
        self.ips = _ip_range(self.cidr)
        lo, hi = node_port_range
        if not 0 < lo <= hi <= 65535:
            raise ValueError(f"invalid node port range {lo}-{hi}")
        self.node_port_range = (lo, hi)
        self.ports = ValueRange(lo, hi, static_band(hi - lo + 1, 16, 128, 32))
        self.rng = rng or random.Random()

    def allocate(self, svc: dict, old: dict | None, taken: Taken) -> Claims:
        """Fill in what ``svc`` needs and lacks (in place) and check what it
        asks for; ``old`` is the stored object on an update (its values stay
        its own). Returns the claims of the values ``svc`` holds that ``old``
        did not, and the release of ``old``'s values it no longer holds.
        Raises 422 Invalid for a requested value out of range or taken, 500
        when a range is full."""
        spec = svc.setdefault("spec", {})
        held_ips, held_ports = allocated_values(old)
        errs: list[FieldError] = []
        if needs_cluster_ip(spec):
            self._cluster_ip(spec, held_ips, taken, errs)
        if externally_accessible(spec):
            self._node_ports(spec, held_ports, taken, errs)
        if errs:
            raise errors.invalid("Service", (svc.get("metadata") or {}).get("name") or "", errs)
        ips, ports = allocated_values(svc)
        return Claims(_keys(ips - held_ips, ports - held_ports), _keys(held_ips - ips, held_ports - ports))

    def _cluster_ip(self, spec: dict, held: set[str], taken: Taken, errs: list[FieldError]) -> None:
        ips = _cluster_ips(spec)
        if ips and ips[0] == "None":
            return  # headless
        if not ips:
            addresses = map(ipaddress.ip_address, taken.ips | held)
            avoid = {int(a) for a in addresses if a.version == self.cidr.version}
            value = self.ips.pick(avoid, self.rng)
            if value is None:
                raise errors.internal("failed to allocate a serviceIP: range is full")
            ips = [str(ipaddress.ip_address(value))]
            spec["clusterIP"], spec["clusterIPs"] = ips[0], ips
        for i, ip in enumerate(ips):
            canonical = _canonical_ip(ip)
            if canonical is None or canonical in held:
                continue  # validation refused the former; the latter is the Service's already
            address = ipaddress.ip_address(canonical)
            if address.version != self.cidr.version or int(address) not in self.ips:
                why = f"provided IP is not in the valid range. The range of valid IPs is {self.cidr}"
            elif canonical in taken.ips:
                why = "provided IP is already allocated"
            else:
                continue
            errs.append(invalid(Path("spec", "clusterIPs").index(i), ip, f"failed to allocate IP {ip}: {why}"))
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = [self.family]

    def _node_ports(self, spec: dict, held: set[int], taken: Taken, errs: list[FieldError]) -> None:
        """Requested node ports first, so a port without one shares the one a
        port of the same number (another protocol) asked for, as upstream's
        findRequestedNodePort; then the missing ones, one per port number."""
        used: set[int] = set()
        by_number: dict[Any, int] = {}
        ports = spec.get("ports") or []
        for i, p in enumerate(ports):
            if p.get("nodePort"):
                self._request(p["nodePort"], Path("spec", "ports").index(i).child("nodePort"),
                              held, taken, used, errs, shared=True)
                by_number.setdefault(p.get("port"), p["nodePort"])
        if needs_node_ports(spec):
            for p in ports:
                if not p.get("nodePort"):
                    p["nodePort"] = by_number.get(p.get("port")) or self._next_port(held, taken, used)
                    by_number.setdefault(p.get("port"), p["nodePort"])
        if needs_health_check(spec):
            if spec.get("healthCheckNodePort"):
                self._request(spec["healthCheckNodePort"], Path("spec", "healthCheckNodePort"),
                              held, taken, used, errs, shared=False)
            else:
                spec["healthCheckNodePort"] = self._next_port(held, taken, used)

    def _request(self, port: int, path: Path, held: set[int], taken: Taken, used: set[int],
                 errs: list[FieldError], *, shared: bool) -> None:
        """Check a node port the user chose; ``shared``: it may serve several
        ports of this Service (not so the health check's)."""
        lo, hi = self.node_port_range
        if port in used:
            if shared:
                return
            why = "provided port is already allocated"
        elif port in held or (port in self.ports and port not in taken.ports):
            used.add(port)
            return
        elif port not in self.ports:
            why = f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
        else:
            why = "provided port is already allocated"
        errs.append(invalid(path, port, why))

    def _next_port(self, held: set[int], taken: Taken, used: set[int]) -> int:
        value = self.ports.pick(taken.ports | held | used, self.rng)
        if value is None:
            raise errors.internal("failed to allocate a nodePort: range is full")
        used.add(value)
        return value
