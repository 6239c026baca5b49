"""The cloud-controller-manager's controllers (upstream's ``k8s.io/cloud-provider``
``controllers/{node,nodelifecycle,route,service}``), reconciling the cluster
with a :class:`~.provider.FakeCloud`:

* :class:`CloudNodeController` initializes Nodes from their instances
  (providerID, addresses, topology and instance-type labels, then lifts the
  ``uninitialized`` taint) and, as the node lifecycle controller, deletes
  NotReady Nodes whose instance is gone and taints those whose instance is
  stopped;
* :class:`RouteController` keeps one cloud route per Node pod CIDR and
  reports it in the ``NetworkUnavailable`` condition;
* :class:`ServiceLBController` gives ``type: LoadBalancer`` Services a load
  balancer and its ingress IP, behind a finalizer so that the IP is always
  released.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import Any, Callable, Mapping

from actors.controllers.base import Controller, Writer, labels_of, object_key, unwrap
from actors.controllers.podutil import is_terminating, pod_condition
from kubeapi import errors
from kubeapi.informer import Indexer
from kubeapi.models.base import format_time

from .provider import STOPPED, CloudError, FakeCloud, Instance, InstanceNotFound, InvalidArgument, RouteNotFound

log = logging.getLogger("raykube.cloud")

DEFAULT_CLUSTER = "kubernetes"  # upstream's --cluster-name default
TAINT_UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"
TAINT_SHUTDOWN = "node.cloudprovider.kubernetes.io/shutdown"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
# the deprecated beta labels upstream still writes alongside, for old selectors
BETA_LABELS = {LABEL_INSTANCE_TYPE: "beta.kubernetes.io/instance-type",
               LABEL_ZONE: "failure-domain.beta.kubernetes.io/zone",
               LABEL_REGION: "failure-domain.beta.kubernetes.io/region"}
LABEL_EXCLUDE_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
LB_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


# ------------------------------------------------------------------ node facts
def taints_of(node: Mapping[str, Any]) -> list[dict]:
    return list((node.get("spec") or {}).get("taints") or [])


def has_taint(node: Mapping[str, Any], key: str) -> bool:
    return any(t.get("key") == key for t in taints_of(node))


def is_node_ready(node: Mapping[str, Any]) -> bool:
    c = pod_condition(node, "Ready")  # (reads any object's status.conditions)
    return c is not None and c.get("status") == "True"


def node_cidrs(node: Mapping[str, Any]) -> list[str]:
    """The node's pod CIDRs, normalized; malformed ones are skipped (validation keeps them out)."""
    spec = node.get("spec") or {}
    out = []
    for c in spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []):
        try:
            out.append(str(ipaddress.ip_network(c, strict=False)))
        except ValueError:
            continue
    return out


def _rv_guarded(obj: Mapping[str, Any], patch: dict) -> dict:
    """``patch`` as a compare-and-swap on the object's resourceVersion: list
    fields (taints, finalizers) are replaced whole, so a stale read must fail."""
    meta = dict(patch.get("metadata") or {}, resourceVersion=(obj.get("metadata") or {}).get("resourceVersion"))
    return dict(patch, metadata=meta)


# ------------------------------------------------------------------ cloud node
class CloudNodeController(Controller):
    """Upstream's cloud node controller and cloud node lifecycle controller in one:
    each Node is looked at on its events and again every ``monitor_period``."""

    name = "cloud-node"

    def __init__(self, nodes: Indexer, cloud: FakeCloud, client: Writer, *, monitor_period: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.nodes = nodes
        self.cloud = cloud
        self.client = client
        self.monitor_period = monitor_period

    def on_node_add(self, node: Any) -> None:
        self.enqueue(node)

    def on_node_update(self, old: Any, new: Any) -> None:
        self.enqueue(new)

    def on_node_delete(self, node: Any) -> None:
        pass  # nothing to undo; its periodic look ends with it

    def on_synced(self) -> None:
        self.resync()

    def resync(self) -> None:
        """Look at every Node now (upstream's periodic status update and monitor pass)."""
        for key in self.nodes.list_keys():
            self.enqueue(key)

    async def _instance(self, node: Mapping[str, Any]) -> Instance | None:
        """The node's instance, by providerID once it has one, else by name; None when gone."""
        pid = (node.get("spec") or {}).get("providerID")
        try:
            if pid:
                return await self.cloud.instance_by_provider_id(pid)
            return await self.cloud.instance_by_name(node["metadata"]["name"])
        except InstanceNotFound:
            return None

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            return
        if not (node.get("spec") or {}).get("providerID") and not has_taint(node, TAINT_UNINITIALIZED):
            return  # its kubelet was not started for an external cloud provider: not the cloud's node
        try:
            inst = await self._instance(node)
        except InvalidArgument as e:  # another provider's node: neither initialize nor delete it
            log.warning("%s: node %s: %s", self.name, key, e)
            return
        ready = is_node_ready(node)
        if inst is None and not ready:
            # the lifecycle part: a NotReady node whose machine is gone will never come back
            log.info("%s: deleting node %s: its instance no longer exists", self.name, key)
            try:
                await self.client.delete("nodes", key, preconditions={"uid": node["metadata"].get("uid")})
            except errors.ApiError as e:
                if not (errors.is_not_found(e) or errors.is_conflict(e)):
                    raise
            return
        if inst is None:
            log.debug("%s: node %s is Ready but has no instance (yet)", self.name, key)
        else:
            patch = self._spec_patch(node, inst, ready)
            if patch:
                try:
                    await self.client.patch("nodes", key, _rv_guarded(node, patch))
                except errors.ApiError as e:
                    if errors.is_not_found(e):
                        return
                    raise
            addresses = inst.node_addresses()
            if ((node.get("status") or {}).get("addresses") or []) != addresses:
                await self.client.patch("nodes", key, {"status": {"addresses": addresses}}, subresource="status")
        self.enqueue_after(key, self.monitor_period)

    def _spec_patch(self, node: Mapping[str, Any], inst: Instance, ready: bool) -> dict:
        """What the node's metadata and spec lack: an empty dict when nothing."""
        spec = node.get("spec") or {}
        taints = taints_of(node)
        patch: dict[str, Any] = {}
        if has_taint(node, TAINT_UNINITIALIZED) or not spec.get("providerID"):
            if not spec.get("providerID"):
                patch["spec"] = {"providerID": inst.provider_id}
            want = {LABEL_INSTANCE_TYPE: inst.instance_type, LABEL_ZONE: inst.zone, LABEL_REGION: inst.region}
            want.update({BETA_LABELS[k]: v for k, v in list(want.items())})
            labels = labels_of(node)
            changed = {k: v for k, v in want.items() if labels.get(k) != v}
            if changed:
                patch["metadata"] = {"labels": changed}
            taints = [t for t in taints if t.get("key") != TAINT_UNINITIALIZED]
        # upstream lifts the shutdown taint only once the node is Ready again
        if ready:
            taints = [t for t in taints if t.get("key") != TAINT_SHUTDOWN]
        elif inst.state == STOPPED and not has_taint(node, TAINT_SHUTDOWN):
            taints.append({"key": TAINT_SHUTDOWN, "effect": "NoSchedule"})
        if taints != taints_of(node):
            patch.setdefault("spec", {})["taints"] = taints or None
        return patch


# ----------------------------------------------------------------------- route
class RouteController(Controller):
    """One reconcile of the whole routing table (upstream's reconcileNodeRoutes):
    every node event and every ``period`` queue the single key :attr:`KEY`."""

    name = "route"
    KEY = "routes"

    def __init__(self, nodes: Indexer, cloud: FakeCloud, client: Writer, *, cluster: str = DEFAULT_CLUSTER,
                 cluster_cidr: str | None = None, period: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.nodes = nodes
        self.cloud = cloud
        self.client = client
        self.cluster = cluster
        # routes outside the cluster CIDR are someone else's: never deleted
        self.cluster_cidr = ipaddress.ip_network(cluster_cidr) if cluster_cidr else None
        self.period = period
        self.wall = wall

    def on_node_add(self, node: Any) -> None:
        if node_cidrs(node):
            self.enqueue(self.KEY)

    def on_node_update(self, old: Any, new: Any) -> None:
        if node_cidrs(old) != node_cidrs(new):
            self.enqueue(self.KEY)

    def on_node_delete(self, node: Any) -> None:
        self.enqueue(self.KEY)

    def on_synced(self) -> None:
        self.resync()  # stale routes go even when no node event comes

    def resync(self) -> None:
        self.enqueue(self.KEY)

    def _ours(self, cidr: str) -> bool:
        if self.cluster_cidr is None:
            return True
        net = ipaddress.ip_network(cidr)
        return net.version == self.cluster_cidr.version and net.subnet_of(self.cluster_cidr)  # type: ignore[arg-type]

    async def sync(self, key: str) -> None:
        nodes = {n["metadata"]["name"]: n for n in self.nodes.list()}
        want = {(name, c) for name, n in nodes.items() for c in node_cidrs(n)}
        routes = await self.cloud.list_routes(self.cluster)
        have = {(r.node_name, r.destination_cidr) for r in routes}
        # stale ones first: a CIDR moving to another node must be free for it
        for r in routes:
            if (r.node_name, r.destination_cidr) not in want and self._ours(r.destination_cidr):
                try:
                    await self.cloud.delete_route(self.cluster, r.node_name, r.destination_cidr)
                except RouteNotFound:
                    pass
        missing = sorted(want - have)
        results = await asyncio.gather(*(self.cloud.create_route(self.cluster, n, c) for n, c in missing),
                                       return_exceptions=True)
        failed = {n for (n, _), r in zip(missing, results) if isinstance(r, BaseException)}
        for name, node in sorted(nodes.items()):
            if node_cidrs(node) and not is_terminating(node):
                await self._set_network_condition(node, name not in failed)
        err = next((r for r in results if isinstance(r, BaseException)), None)
        if err is not None:
            raise err
        self.enqueue_after(self.KEY, self.period)

    async def _set_network_condition(self, node: Mapping[str, Any], routed: bool) -> None:
        cur = pod_condition(node, "NetworkUnavailable")
        status = "False" if routed else "True"
        if cur is not None and cur.get("status") == status:
            return  # as upstream: only a change is written
        now = format_time(self.wall())
        reason, message = (("RouteCreated", "RouteController created a route") if routed else
                           ("NoRouteCreated", "RouteController failed to create a route"))
        cond = {"type": "NetworkUnavailable", "status": status, "reason": reason, "message": message,
                "lastTransitionTime": now, "lastHeartbeatTime": now}
        try:
            await self.client.patch("nodes", node["metadata"]["name"], {"status": {"conditions": [cond]}},
                                    patch_type="strategic", subresource="status")
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise


# ----------------------------------------------------------------- service LB
def wants_load_balancer(svc: Mapping[str, Any]) -> bool:
    """A LoadBalancer Service of the default class (another class has its own controller)."""
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def has_lb_finalizer(svc: Mapping[str, Any]) -> bool:
    return LB_FINALIZER in ((svc.get("metadata") or {}).get("finalizers") or ())


def lb_ingress(svc: Mapping[str, Any]) -> list:
    return (((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []


def is_lb_host(node: Mapping[str, Any]) -> bool:
    """Whether traffic may be sent to the node: Ready, schedulable, not opted out."""
    return (is_node_ready(node) and not (node.get("spec") or {}).get("unschedulable")
            and LABEL_EXCLUDE_LB not in labels_of(node) and not is_terminating(node))


class ServiceLBController(Controller):
    """Upstream's service controller. Service keys are ``namespace/name``; the
    key :attr:`NODES_KEY` (not a valid object key) re-targets every load
    balancer after the set of eligible nodes changed."""

    name = "service-lb"
    NODES_KEY = ":nodes"

    def __init__(self, services: Indexer, nodes: Indexer, cloud: FakeCloud, client: Writer, *,
                 cluster: str = DEFAULT_CLUSTER, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.services = services
        self.nodes = nodes
        self.cloud = cloud
        self.client = client
        self.cluster = cluster

    # ------------------------------------------------------------- handlers
    @staticmethod
    def _relevant(svc: Mapping[str, Any]) -> bool:
        return wants_load_balancer(svc) or has_lb_finalizer(svc) or bool(lb_ingress(svc))

    def on_service_add(self, svc: Any) -> None:
        if self._relevant(svc):
            self.enqueue(svc)

    def on_service_update(self, old: Any, new: Any) -> None:
        if self._relevant(new) or self._relevant(old):
            self.enqueue(new)

    def on_service_delete(self, svc: Any) -> None:
        obj = unwrap(svc)
        if not isinstance(obj, Mapping) or self._relevant(obj):
            self.enqueue(object_key(svc))

    def on_node_add(self, node: Any) -> None:
        if is_lb_host(node):
            self.enqueue(self.NODES_KEY)

    def on_node_update(self, old: Any, new: Any) -> None:
        if is_lb_host(old) != is_lb_host(new):
            self.enqueue(self.NODES_KEY)

    def on_node_delete(self, node: Any) -> None:
        self.enqueue(self.NODES_KEY)

    def hosts(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.nodes.list() if is_lb_host(n))

    # ----------------------------------------------------------------- sync
    async def sync(self, key: str) -> None:
        if key == self.NODES_KEY:
            await self._sync_hosts()
            return
        svc = self.services.get(key)
        if svc is None:  # gone without our finalizer (or after it): nothing may keep its IP
            await self.cloud.delete_load_balancer(self.cluster, key)
            return
        if wants_load_balancer(svc) and not is_terminating(svc):
            await self._ensure(key, svc)
        else:
            await self._cleanup(key, svc)

    async def _ensure(self, key: str, svc: dict) -> None:
        meta = svc["metadata"]
        if not has_lb_finalizer(svc):  # before the LB exists: a deletion can never skip its cleanup
            fins = list(meta.get("finalizers") or []) + [LB_FINALIZER]
            try:
                await self.client.patch("services", meta["name"],
                                        _rv_guarded(svc, {"metadata": {"finalizers": fins}}), meta.get("namespace"))
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    return  # deleted meanwhile: its delete event brings the cleanup
                raise
        spec = svc.get("spec") or {}
        ip = await self.cloud.ensure_load_balancer(self.cluster, key, spec.get("ports") or [], self.hosts(),
                                                   ip=spec.get("loadBalancerIP") or None)
        await self._patch_ingress(svc, [{"ip": ip}])

    async def _cleanup(self, key: str, svc: dict) -> None:
        """Delete the LB, then drop the finalizer, then clear the status (upstream's order)."""
        if await self.cloud.get_load_balancer(self.cluster, key) is not None:
            await self.cloud.delete_load_balancer(self.cluster, key)
            log.info("%s: deleted the load balancer of %s", self.name, key)
        meta = svc["metadata"]
        if has_lb_finalizer(svc):
            fins = [f for f in meta.get("finalizers") or [] if f != LB_FINALIZER]
            try:
                await self.client.patch("services", meta["name"],
                                        _rv_guarded(svc, {"metadata": {"finalizers": fins or None}}),
                                        meta.get("namespace"))
            except errors.ApiError as e:
                if errors.is_not_found(e):
                    return
                raise
        if not is_terminating(svc):
            await self._patch_ingress(svc, [])

    async def _patch_ingress(self, svc: dict, ingress: list[dict]) -> None:
        if lb_ingress(svc) == ingress:
            return
        meta = svc["metadata"]
        try:
            await self.client.patch("services", meta["name"], {"status": {"loadBalancer": {"ingress": ingress or None}}},
                                    meta.get("namespace"), subresource="status")
        except errors.ApiError as e:
            if not errors.is_not_found(e):
                raise

    async def _sync_hosts(self) -> None:
        """Point every load balancer at the eligible nodes (upstream's nodeSyncLoop);
        a Service whose update fails gets a full sync of its own."""
        hosts = tuple(self.hosts())
        for svc in self.services.list():
            if not wants_load_balancer(svc) or is_terminating(svc):
                continue
            key = object_key(svc)
            try:
                lb = await self.cloud.get_load_balancer(self.cluster, key)
                if lb is None:
                    self.enqueue(key)
                elif lb.hosts != hosts:
                    await self.cloud.update_load_balancer_hosts(self.cluster, key, hosts)
            except CloudError as e:
                log.info("%s: updating the hosts of %s: %s", self.name, key, e)
                self.enqueue(key)
