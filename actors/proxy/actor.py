"""kube-proxy on Ray: one actor per kubelet node (``kube-proxy-<node>``),
watching Services, EndpointSlices and Nodes and programming its node's
network — which lives in the node's CRI actor — over Ray, as upstream's
kube-proxy programs its node's kernel. Hollow nodes get theirs inside their
pool instead (:mod:`actors.kubelet.pool`)."""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import ray

from kubeapi.client import Client
from kubeapi.informer import SharedInformerFactory
from netsim.services import RANDOM

from ..apiserver.actor import NAMESPACE
from ..apiserver.transport import RayTransport
from ..cloud.controllers import DEFAULT_CLUSTER
from ..cloud.manager import CLOUD_ACTOR, RemoteCloud
from ..cri.actor import cri_name
from ..remote import RemoteProxy
from .proxier import FabricSync, Proxier, follow_cloud_routes, watch_epoch

OVERLAY, CLOUD = "overlay", "cloud"


def proxy_name(node: str) -> str:
    return f"kube-proxy-{node}"


@dataclass
class KubeProxyConfig:
    node: str
    apiservers: list[Any] = field(default_factory=list)
    mode: str = RANDOM          # --proxy-mode: random (iptables) or round-robin (ipvs rr)
    routes: str = OVERLAY       # pod CIDR routes: a flat overlay from the Nodes, or the cloud's route table


class _Mode:
    """The proxy mode, programmed again with everything else after a restart."""

    def __init__(self, dataplane: Any, mode: str) -> None:
        self.dataplane, self.mode = dataplane, mode
        self._task: asyncio.Future | None = None

    def reprogram(self) -> None:
        self._task = asyncio.ensure_future(self.dataplane.program_mode(self.mode))


class KubeProxyActor:
    def __init__(self, cfg: KubeProxyConfig) -> None:
        self.cfg = cfg
        self.client = Client(RayTransport(cfg.apiservers or None))
        self.dataplane = RemoteProxy(ray.get_actor(cri_name(cfg.node), namespace=NAMESPACE))
        self.factory = SharedInformerFactory(self.client)
        services, slices = self.factory.informer("services"), self.factory.informer("endpointslices")
        nodes = self.factory.informer("nodes")
        self.proxier = Proxier(services.indexer, slices.indexer, self.dataplane)
        services.add_event_handler(self.proxier.on_service, self.proxier.on_service, self.proxier.on_service)
        slices.add_event_handler(self.proxier.on_slice, self.proxier.on_slice, self.proxier.on_slice)
        self.fabric = FabricSync(nodes.indexer, self.dataplane, overlay=cfg.routes == OVERLAY)
        nodes.add_event_handler(self.fabric.on_node, self.fabric.on_node, self.fabric.on_node)
        self.stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await self.dataplane.program_mode(self.cfg.mode)
        self.factory.start(self.stop)
        await self.factory.wait_for_cache_sync(None)
        tasks = [self.proxier.run(1, self.stop), self.fabric.run(1, self.stop),
                 watch_epoch(self.dataplane, [_Mode(self.dataplane, self.cfg.mode), self.proxier, self.fabric],
                             self.stop)]
        if self.cfg.routes == CLOUD:
            cloud = RemoteCloud(ray.get_actor(CLOUD_ACTOR, namespace=NAMESPACE))
            tasks.append(follow_cloud_routes(cloud, self.dataplane, self.stop, cluster=DEFAULT_CLUSTER))
        await asyncio.gather(*tasks)

    async def status(self) -> dict:
        return {"node": self.cfg.node, "mode": self.cfg.mode, "routes": self.cfg.routes, "pid": os.getpid(),
                "services": len(self.proxier.services), "syncs": self.proxier.syncs,
                "node_id": ray.get_runtime_context().get_node_id()}


def start_kube_proxy(node: str, apiservers: list[Any], *, mode: str = RANDOM, routes: str = OVERLAY,
                     scheduling_strategy: Any = None) -> Any:
    opts: dict[str, Any] = dict(name=proxy_name(node), namespace=NAMESPACE, lifetime="detached")
    if scheduling_strategy is not None:
        opts["scheduling_strategy"] = scheduling_strategy
    return ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=100)(KubeProxyActor).options(**opts).remote(
        KubeProxyConfig(node, list(apiservers), mode, routes))
