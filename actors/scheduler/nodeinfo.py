"""What the scheduler knows about each node: allocatable and requested
resources, its pods, host ports in use and images present (upstream's
``framework.NodeInfo``), plus the per-pod facts derived once (``PodInfo``).

Pods and nodes are the wire-format dicts the informers deliver; nothing
here is parsed twice. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from kubeapi.quantity import parse_quantity

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
# what a container without requests counts as when *scoring* (upstream's non-zero defaults)
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
DEFAULT_POD_COUNT = 110


@lru_cache(maxsize=4096)
def _milli(value: str | int | float) -> int:
    return parse_quantity(value).milli_value()


@lru_cache(maxsize=4096)
def _units(value: str | int | float) -> int:
    return parse_quantity(value).value_int()


@dataclass
class Resource:
    """Amounts of each resource: CPU in millicores, the rest in units."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, rl: dict[str, Any] | None) -> Resource:
        r = cls()
        for name, q in (rl or {}).items():
            r.set(name, _milli(q) if name == CPU else _units(q))
        return r

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def set(self, name: str, value: int) -> None:
        if name == CPU:
            self.milli_cpu = value
        elif name == MEMORY:
            self.memory = value
        elif name == EPHEMERAL:
            self.ephemeral_storage = value
        elif name == PODS:
            self.allowed_pod_number = value
        else:
            self.scalar[name] = value

    def add(self, o: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * o.milli_cpu
        self.memory += sign * o.memory
        self.ephemeral_storage += sign * o.ephemeral_storage
        self.allowed_pod_number += sign * o.allowed_pod_number
        for k, v in o.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + sign * v

    def set_max(self, o: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, o.milli_cpu)
        self.memory = max(self.memory, o.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, o.ephemeral_storage)
        for k, v in o.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)

    def clone(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number,
                        dict(self.scalar))

    def names(self) -> list[str]:
        return [CPU, MEMORY, EPHEMERAL, *self.scalar]


def _container_requests(c: dict) -> Resource:
    return Resource.from_list((c.get("resources") or {}).get("requests"))


def pod_requests(spec: dict) -> Resource:
    """A pod's effective requests, as upstream's PodRequests: the containers'
    sum, raised to any init container's (sidecars — restartPolicy Always —
    add up as they run alongside), plus the pod overhead."""
    total = Resource()
    for c in spec.get("containers") or ():
        total.add(_container_requests(c))
    init_max = Resource()
    sidecars = Resource()
    for c in spec.get("initContainers") or ():
        r = _container_requests(c)
        if c.get("restartPolicy") == "Always":
            sidecars.add(r)
            init_max.set_max(sidecars)
        else:
            step = r.clone()
            step.add(sidecars)
            init_max.set_max(step)
    total.add(sidecars)
    total.set_max(init_max)
    total.add(Resource.from_list(spec.get("overhead")))
    return total


def non_zero_requests(spec: dict) -> tuple[int, int]:
    """(milli CPU, memory) counting containers without requests at the defaults (for scores)."""
    cpu = mem = 0
    for c in spec.get("containers") or ():
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += _milli(req[CPU]) if CPU in req else DEFAULT_MILLI_CPU
        mem += _units(req[MEMORY]) if MEMORY in req else DEFAULT_MEMORY
    return cpu, mem


HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def host_ports(spec: dict) -> list[HostPort]:
    out = []
    for c in spec.get("containers") or ():
        for p in c.get("ports") or ():
            hp = p.get("hostPort")
            if hp:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp)))
    return out


def pod_key(pod: dict) -> str:
    """``namespace/name``: how the scheduler names a pod everywhere."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass
class PodInfo:
    """A pod and what scheduling reads from it, computed once."""

    pod: dict
    key: str
    requests: Resource
    non_zero_cpu: int
    non_zero_mem: int
    ports: list[HostPort]
    has_affinity: bool
    has_required_anti_affinity: bool

    @classmethod
    def of(cls, pod: dict) -> PodInfo:
        spec = pod.get("spec") or {}
        aff = spec.get("affinity") or {}
        cpu, mem = non_zero_requests(spec)
        anti = aff.get("podAntiAffinity") or {}
        return cls(pod, pod_key(pod), pod_requests(spec), cpu, mem,
                   host_ports(spec), bool(aff.get("podAffinity") or anti),
                   bool(anti.get("requiredDuringSchedulingIgnoredDuringExecution")))

    @property
    def name(self) -> str:
        return (self.pod.get("metadata") or {}).get("name", "")

    @property
    def namespace(self) -> str:
        return (self.pod.get("metadata") or {}).get("namespace", "")

    @property
    def labels(self) -> dict[str, str]:
        return (self.pod.get("metadata") or {}).get("labels") or {}

    @property
    def spec(self) -> dict:
        return self.pod.get("spec") or {}

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority") or 0)


def ports_conflict(used: set[HostPort], wanted: Iterable[HostPort]) -> bool:
    """Whether any wanted host port clashes: same protocol and port, and the
    same host IP or either side on 0.0.0.0 (upstream's HostPortInfo)."""
    for ip, proto, port in wanted:
        for uip, uproto, uport in used:
            if port == uport and proto == uproto and (ip == uip or ip == "0.0.0.0" or uip == "0.0.0.0"):
                return True
    return False


@dataclass
class ImageState:
    size: int
    num_nodes: int


class NodeInfo:
    """One node and the pods assigned (or assumed) to it."""

    __slots__ = ("node", "name", "pods", "pods_with_affinity", "pods_with_required_anti_affinity",
                 "used_ports", "requested", "non_zero_requested", "allocatable", "image_states",
                 "generation", "labels", "taints", "unschedulable")

    def __init__(self, node: dict | None = None) -> None:
        self.node: dict | None = None
        self.name = ""
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.used_ports: set[HostPort] = set()
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.allocatable = Resource()
        self.image_states: dict[str, ImageState] = {}
        self.generation = 0
        self.labels: dict[str, str] = {}
        self.taints: list[dict] = []
        self.unschedulable = False
        if node is not None:
            self.set_node(node)

    def set_node(self, node: dict) -> None:
        self.node = node
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.name = meta.get("name", "")
        self.labels = meta.get("labels") or {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        status = node.get("status") or {}
        self.allocatable = Resource.from_list(status.get("allocatable") or status.get("capacity"))
        self.image_states = {}
        for img in status.get("images") or ():
            for n in img.get("names") or ():
                self.image_states[n] = ImageState(int(img.get("sizeBytes") or 0), 1)
        self.generation += 1

    def add_pod(self, pi: PodInfo) -> None:
        self.pods.append(pi)
        if pi.has_affinity:
            self.pods_with_affinity.append(pi)
        if pi.has_required_anti_affinity:
            self.pods_with_required_anti_affinity.append(pi)
        self.requested.add(pi.requests)
        self.requested.allowed_pod_number += 1
        self.non_zero_requested.milli_cpu += pi.non_zero_cpu
        self.non_zero_requested.memory += pi.non_zero_mem
        self.used_ports.update(pi.ports)
        self.generation += 1

    def remove_pod(self, key: str) -> bool:
        for i, pi in enumerate(self.pods):
            if pi.key == key:
                del self.pods[i]
                self.pods_with_affinity = [p for p in self.pods_with_affinity if p.key != key]
                self.pods_with_required_anti_affinity = [p for p in self.pods_with_required_anti_affinity
                                                         if p.key != key]
                self.requested.add(pi.requests, -1)
                self.requested.allowed_pod_number -= 1
                self.non_zero_requested.milli_cpu -= pi.non_zero_cpu
                self.non_zero_requested.memory -= pi.non_zero_mem
                self.used_ports = {p for q in self.pods for p in q.ports}
                self.generation += 1
                return True
        return False

    def clone(self) -> NodeInfo:
        c = NodeInfo()
        c.node, c.name, c.labels, c.taints, c.unschedulable = \
            self.node, self.name, self.labels, self.taints, self.unschedulable
        c.pods = list(self.pods)
        c.pods_with_affinity = list(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        c.used_ports = set(self.used_ports)
        c.requested = self.requested.clone()
        c.non_zero_requested = self.non_zero_requested.clone()
        c.allocatable = self.allocatable.clone()
        c.image_states = dict(self.image_states)
        c.generation = self.generation
        return c

    def __repr__(self) -> str:
        return f"NodeInfo({self.name!r}, pods={len(self.pods)})"
