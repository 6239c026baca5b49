"""kube-proxy's control loop, and the agent that keeps the fabric's view of
the nodes (addresses, pod CIDR routes, where each node's network lives).

Both are level-triggered controllers over informers: an event queues the
Service (or Node) it is about; a sync recomputes that one object's rules
from the listers and hands them to the data plane — a :class:`ServiceTable`
in this process, or the node's network host over Ray (``apply``).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Mapping

from kubeapi.informer import DeletedFinalStateUnknown, Indexer
from netsim.host import RouteEntry
from netsim.services import SERVICE_NAME_LABEL, ServicePort, service_ports

from ..controllers.base import Controller, unwrap

log = logging.getLogger(__name__)
SLICE_SERVICE_INDEX = "service"
NETSIM_HOST_ANNOTATION = "raykube.io/netsim-host"   # the actor a node's pod network lives in


def slice_service_index(obj: Mapping[str, Any]) -> list[str]:
    """EndpointSlices by the ``namespace/name`` of their Service."""
    name = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{obj['metadata'].get('namespace', '')}/{name}"] if name else []


async def _maybe_await(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


class Proxier(Controller):
    """Services and EndpointSlices in, one Service's rules out per sync."""

    name = "kube-proxy"
    workers = 1    # syncs apply in order, as kube-proxy's single sync loop does

    def __init__(self, services: Indexer, slices: Indexer, dataplane: Any, **kw: Any) -> None:
        """``dataplane``: where the rules go (``program_service``): a
        :class:`netsim.host.Host` here, or the node's over Ray."""
        super().__init__(**kw)
        self.services = services
        self.slices = slices
        if SLICE_SERVICE_INDEX not in slices.indexer_names:
            slices.add_indexers({SLICE_SERVICE_INDEX: slice_service_index})
        self.dataplane = dataplane
        self._programmed: dict[str, list[ServicePort]] = {}

    def on_service(self, *objs: Any) -> None:
        self.enqueue(unwrap(objs[-1]))

    def on_slice(self, *objs: Any) -> None:
        obj = objs[-1]
        if isinstance(obj, DeletedFinalStateUnknown):
            obj = obj.obj
        for key in slice_service_index(obj or {}):
            self.enqueue(key)

    def reprogram(self) -> None:
        """The data plane lost its rules (it restarted): program every Service again."""
        self._programmed.clear()
        for key in self.services.list_keys():
            self.enqueue(key)

    def rules(self, key: str) -> list[ServicePort]:
        svc = self.services.get(key)
        if svc is None:
            return []
        return service_ports(svc, self.slices.by_index(SLICE_SERVICE_INDEX, key))

    async def sync(self, key: str) -> None:
        rules = self.rules(key)
        if self._programmed.get(key, []) == rules:
            return    # e.g. a pod's status changed but not its endpoint's
        await _maybe_await(self.dataplane.program_service(key, rules))
        if rules:
            self._programmed[key] = rules
        else:
            self._programmed.pop(key, None)


def node_addresses(node: Mapping[str, Any]) -> tuple[str, ...]:
    """InternalIP first, then ExternalIP: where a node is reached (NodePorts)."""
    addrs = (node.get("status") or {}).get("addresses") or ()
    order = {"InternalIP": 0, "ExternalIP": 1}
    return tuple(a["address"] for a in sorted((a for a in addrs if a.get("type") in order),
                                               key=lambda a: order[a["type"]]))


def node_pod_cidrs(node: Mapping[str, Any]) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


def netsim_host_of(node: Mapping[str, Any]) -> str:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(NETSIM_HOST_ANNOTATION, "")


class FabricSync(Controller):
    """Nodes into a data plane's fabric (``dataplane``: a
    :class:`netsim.host.Host`, here or over Ray): each node's addresses and
    the host its network lives on, and — with ``overlay`` — a route per pod
    CIDR to its node, as a flat overlay (flannel's host-gw) does; without,
    the routes are the cloud's route controller's."""

    name = "netsim-fabric"
    workers = 1

    def __init__(self, nodes: Indexer, dataplane: Any, *, overlay: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes = nodes
        self.dataplane = dataplane
        self.overlay = overlay
        self._cidrs: dict[str, list[str]] = {}
        self._seen: dict[str, tuple] = {}

    def on_node(self, *objs: Any) -> None:
        self.enqueue(unwrap(objs[-1]))

    def reprogram(self) -> None:
        """The data plane lost its nodes and routes (it restarted): program them again."""
        self._seen.clear()
        self._cidrs.clear()
        for key in self.nodes.list_keys():
            self.enqueue(key)

    async def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            for cidr in self._cidrs.pop(key, []):
                await _maybe_await(self.dataplane.unprogram_route(cidr))
            self._seen.pop(key, None)
            await _maybe_await(self.dataplane.forget_node(key))
            return
        cidrs = node_pod_cidrs(node) if self.overlay else []
        want = (node_addresses(node), netsim_host_of(node), tuple(cidrs))
        if self._seen.get(key) == want:
            return     # a status heartbeat: nothing the network cares about changed
        await _maybe_await(self.dataplane.program_node(key, want[0], want[1]))
        for cidr in self._cidrs.get(key, []):
            if cidr not in cidrs:
                await _maybe_await(self.dataplane.unprogram_route(cidr))
        for cidr in cidrs:
            await _maybe_await(self.dataplane.program_route(cidr, key, "overlay"))
        self._cidrs[key] = cidrs
        self._seen[key] = want


async def watch_epoch(dataplane: Any, programmers: list[Any], stop: asyncio.Event, *, period: float = 2.0) -> None:
    """Reprogram everything when the data plane starts a new life (a
    restarted CRI actor has none of the rules it had)."""
    last = ""
    while not stop.is_set():
        try:
            epoch = await _maybe_await(dataplane.netsim_epoch())
            if last and epoch != last:
                log.info("the data plane restarted: programming it again")
                for p in programmers:
                    p.reprogram()
            last = epoch
        except Exception as e:  # noqa: BLE001 - the data plane is away: ask again next round
            log.info("asking the data plane's epoch: %s", e)
        try:
            await asyncio.wait_for(stop.wait(), period)
        except asyncio.TimeoutError:
            pass


async def follow_cloud_routes(cloud: Any, dataplane: Any, stop: asyncio.Event, *, cluster: str,
                              period: float = 2.0) -> None:
    """The cloud's route table (what its route controller created) as the
    data plane's routes, re-read and written whole every ``period`` s (so a
    restarted data plane has them again): the VPC's router, as every node's
    traffic meets it."""
    while not stop.is_set():
        try:
            routes = [RouteEntry(r.destination_cidr, r.node_name, f"cloud route {r.name}")
                      for r in await cloud.list_routes(cluster)]
            await _maybe_await(dataplane.program_routes(routes))
        except Exception as e:  # noqa: BLE001 - the cloud or the host is away: keep the last routes
            log.info("following the cloud's routes: %s", e)
        try:
            await asyncio.wait_for(stop.wait(), period)
        except asyncio.TimeoutError:
            pass
