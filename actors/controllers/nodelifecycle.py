"""The node lifecycle controller (upstream's ``pkg/controller/nodelifecycle``).

Kubelets heartbeat by renewing their Lease in ``kube-node-lease`` (and by
posting NodeStatus). Every ``monitor_period`` this controller looks at each
node's last heartbeat *as it observed it* — by its own clock, so clock skew
between machines cannot fake health, and a restarted controller gives every
node a full grace period:

* a node silent for ``grace`` (node-monitor-grace-period, 40 s) gets its
  Ready condition (and the pressure conditions) set to Unknown, and its pods
  are marked not Ready; a node that never reported gets the same after
  ``startup_grace``;
* a node whose Ready is Unknown gets the ``node.kubernetes.io/unreachable``
  NoExecute taint, one with Ready False ``not-ready``, removed again once
  Ready is True (the taint eviction controller then evicts pods that do not
  tolerate them);
* adding those taints is rate-limited per zone (``eviction_rate`` nodes/s,
  ``secondary_rate`` in a zone where most nodes are unhealthy, none at all in
  a zone with no healthy node); when every zone is fully disrupted the
  problem is taken to be the control plane's own connectivity, and the
  NoExecute taints are lifted instead;
* on every node change, NoSchedule taints follow conditions (not-ready,
  unreachable, memory/disk/PID pressure, network-unavailable) and
  ``spec.unschedulable`` (TaintNodesByCondition).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubeapi import errors
from kubeapi.informer import Indexer, field_index_func
from kubeapi.models.base import format_time, parse_time

from .base import Controller, Writer, object_key

NODE_INDEX = "spec.nodeName"
LEASE_NAMESPACE = "kube-node-lease"
MONITOR = ""  # the work-queue key of the periodic pass (no node has an empty name)

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
# (condition type, status) -> the NoSchedule taint it brings
CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
}
NO_SCHEDULE_KEYS = frozenset({*CONDITION_TAINTS.values(), UNSCHEDULABLE})
NO_EXECUTE_KEYS = frozenset({NOT_READY, UNREACHABLE})
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")

NORMAL, PARTIAL, FULL = "Normal", "PartialDisruption", "FullDisruption"


@dataclass
class NodeLifecycleConfig:
    """Upstream's flags (``--node-monitor-grace-period`` and friends)."""

    grace: float = 40.0
    startup_grace: float = 60.0
    monitor_period: float = 5.0
    eviction_rate: float = 0.1           # nodes/s tainted per healthy zone
    secondary_rate: float = 0.01         # ... per zone mostly unhealthy (large clusters only)
    large_cluster: int = 50              # a zone this size or smaller stops instead of slowing
    unhealthy_threshold: float = 0.55


@dataclass
class _Health:
    probe: float                          # our clock when the heartbeat last moved
    signature: tuple = ()
    ever_ready: bool = False


@dataclass
class _Bucket:
    """A token bucket of burst 1: the first node of a zone is tainted at once."""

    tokens: float = 1.0
    last: float | None = None

    def take(self, rate: float, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(1.0, self.tokens + (now - self.last) * rate)
        self.last = now
        if rate <= 0 or self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class ZoneStats:
    ready: int = 0
    not_ready: int = 0
    nodes: list[str] = field(default_factory=list)


def ensure_node_index(pods: Indexer) -> None:
    """Index pods by ``spec.nodeName`` (once, however many controllers ask)."""
    if NODE_INDEX not in pods.indexer_names:
        pods.add_indexers({NODE_INDEX: field_index_func(NODE_INDEX)})


def condition(node: dict, ctype: str) -> dict | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or () if c.get("type") == ctype), None)


def ready_status(node: dict) -> str | None:
    c = condition(node, "Ready")
    return c.get("status") if c else None


def zone_of(node: dict) -> str:
    labels = node["metadata"].get("labels") or {}
    return f"{labels.get('topology.kubernetes.io/region', '')}:\x00:{labels.get('topology.kubernetes.io/zone', '')}"


def zone_state(stats: ZoneStats, threshold: float) -> str:
    """Upstream's ComputeZoneState: no healthy node is a full disruption; more
    than two unhealthy and at least ``threshold`` of them a partial one."""
    if stats.ready == 0 and stats.not_ready > 0:
        return FULL
    if stats.not_ready > 2 and stats.not_ready / (stats.ready + stats.not_ready) >= threshold:
        return PARTIAL
    return NORMAL


def taints_of(node: dict) -> list[dict]:
    return list((node.get("spec") or {}).get("taints") or ())


def wanted_no_schedule(node: dict) -> set[str]:
    keys = {key for (ctype, status), key in CONDITION_TAINTS.items()
            if (condition(node, ctype) or {}).get("status") == status}
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def wanted_no_execute(node: dict) -> str | None:
    return {"False": NOT_READY, "Unknown": UNREACHABLE}.get(ready_status(node) or "")


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, nodes: Indexer, leases: Indexer, pods: Indexer, client: Writer, *,
                 config: NodeLifecycleConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.nodes = nodes
        self.leases = leases
        self.pods = pods
        ensure_node_index(pods)
        self.client = client
        self.cfg = config or NodeLifecycleConfig()
        self.wall = wall
        self.health: dict[str, _Health] = {}
        self.buckets: dict[str, _Bucket] = {}
        self.zone_states: dict[str, str] = {}
        self.queue.add(MONITOR)

    # ------------------------------------------------------------- handlers
    def on_node(self, node: Any) -> None:
        self.enqueue(node)

    def on_node_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_node_delete(self, node: Any) -> None:
        self.health.pop(object_key(node), None)

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        if key == MONITOR:
            try:
                await self.monitor()
            finally:
                self.enqueue_after(MONITOR, self.cfg.monitor_period)
            return
        node = self.nodes.get(key)
        if node is None:
            return
        taints = taints_of(node)
        keep = [t for t in taints if not (t.get("effect") == NO_SCHEDULE and t.get("key") in NO_SCHEDULE_KEYS)]
        have = {t.get("key") for t in taints if t.get("effect") == NO_SCHEDULE and t.get("key") in NO_SCHEDULE_KEYS}
        want = wanted_no_schedule(node)
        if have == want:
            return
        now = format_time(self.wall())
        await self._set_taints(node, keep + [{"key": k, "effect": NO_SCHEDULE, "timeAdded": now}
                                             for k in sorted(want)])

    async def monitor(self) -> None:
        """One pass: heartbeats, Unknown conditions, zone states, NoExecute taints."""
        now = self.clock()
        zones: dict[str, ZoneStats] = {}
        current: list[dict] = []
        for node in self.nodes.list():
            node = await self._check_heartbeat(node, now)
            current.append(node)
            z = zones.setdefault(zone_of(node), ZoneStats())
            z.nodes.append(node["metadata"]["name"])
            if ready_status(node) == "True":
                z.ready += 1
            else:
                z.not_ready += 1
        self.zone_states = {z: zone_state(s, self.cfg.unhealthy_threshold) for z, s in zones.items()}
        if zones and all(s == FULL for s in self.zone_states.values()):
            for node in current:  # the control plane is cut off, not every node: evict nothing
                await self._no_execute(node, None, may_add=False)
            return
        for node in current:
            zone = zone_of(node)
            await self._no_execute(node, wanted_no_execute(node), may_add=self._may_taint(zone, zones[zone], now))

    def _may_taint(self, zone: str, stats: ZoneStats, now: float) -> Callable[[], bool]:
        state = self.zone_states[zone]
        rate = self.cfg.eviction_rate if state == NORMAL else \
            self.cfg.secondary_rate if state == PARTIAL and len(stats.nodes) > self.cfg.large_cluster else 0.0
        bucket = self.buckets.setdefault(zone, _Bucket())
        return lambda: bucket.take(rate, now)

    async def _check_heartbeat(self, node: dict, now: float) -> dict:
        """The node, its conditions set Unknown when its heartbeat is overdue."""
        name = node["metadata"]["name"]
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        ready = condition(node, "Ready") or {}
        signature = (((lease or {}).get("spec") or {}).get("renewTime"), ready.get("lastHeartbeatTime"),
                     ready.get("status"))
        h = self.health.get(name)
        if h is None:
            # a node that never reported counts its startup grace from its creation
            created = None if ready else parse_time(node["metadata"].get("creationTimestamp"))
            age = max(0.0, self.wall() - created) if created is not None else 0.0
            h = self.health[name] = _Health(probe=now - age, signature=signature)
        elif signature != h.signature:
            h.signature, h.probe = signature, now
        if ready.get("status") == "True":
            h.ever_ready = True
        if ready.get("status") == "Unknown":
            return node
        grace = self.cfg.grace if ready else self.cfg.startup_grace
        if now - h.probe <= grace:
            return node
        return await self._mark_unknown(node, bool(ready))

    async def _mark_unknown(self, node: dict, reported: bool) -> dict:
        stamp = format_time(self.wall())
        status = copy.deepcopy(node.get("status") or {})
        conditions = status.setdefault("conditions", [])
        if not reported:
            conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.", "lastHeartbeatTime": stamp,
                               "lastTransitionTime": stamp})
        for c in conditions:
            if c.get("type") in UNKNOWN_CONDITIONS and c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown",
                         message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
        try:
            written = await self.client.update_status(dict(node, status=status))
        except errors.ApiError as e:
            if errors.is_not_found(e) or errors.is_conflict(e):
                return node  # changed meanwhile: the next pass sees it
            raise
        await self._mark_pods_not_ready(node["metadata"]["name"], stamp)
        return written if isinstance(written, dict) else dict(node, status=status)

    async def _mark_pods_not_ready(self, node_name: str, stamp: str) -> None:
        """Upstream's MarkPodsNotReady: what runs on a silent node cannot be counted on."""
        for pod in self.pods.by_index(NODE_INDEX, node_name):
            status = copy.deepcopy(pod.get("status") or {})
            ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") == "False":
                continue
            ready.update(status="False", lastTransitionTime=stamp)
            try:
                await self.client.update_status(dict(pod, status=status))
            except errors.ApiError as e:
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise

    async def _no_execute(self, node: dict, want: str | None, may_add: Callable[[], bool]) -> None:
        taints = taints_of(node)
        has = [t for t in taints if t.get("effect") == NO_EXECUTE and t.get("key") in NO_EXECUTE_KEYS]
        if [t.get("key") for t in has] == ([want] if want else []):
            return
        if want is not None and not has and not may_add():
            return  # rate-limited: a later pass tries again
        keep = [t for t in taints if t not in has]
        if want is not None:  # swapping not-ready and unreachable is not rate-limited
            keep.append({"key": want, "effect": NO_EXECUTE, "timeAdded": format_time(self.wall())})
        try:
            await self._set_taints(node, keep)
        except errors.ApiError as e:
            if not (errors.is_not_found(e) or errors.is_conflict(e)):
                raise

    async def _set_taints(self, node: dict, taints: list[dict]) -> None:
        spec = dict(node.get("spec") or {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        await self.client.update(dict(node, spec=spec))
